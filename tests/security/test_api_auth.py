"""Every operation of the API, read from its own OpenAPI document (so a new endpoint is covered as soon
as it is published), refuses requests without a valid bearer token: missing, malformed, unknown,
revoked, or a session cookie instead: 401 with a JSON `detail`, and nothing is read or written.
(tests/channels_app/test_api.py checks the three current endpoints case by case; this covers them all.)"""

import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from channels_app import tokens
from channels_app.models import Channel, Message
from scheduler.shared.api_callers import SCOPES
from tests.security import world

pytestmark = pytest.mark.django_db

DOCUMENT = "/api/v1/openapi.json"
BODY = {"channel": "avisos", "to": "Ana", "body": "Olá", "service": "crm", "key": "auth-1"}


@pytest.fixture
def api(db):
    """(the operations as (method, path), a live token, a revoked token), with a message behind the ids."""
    channel = Channel.objects.create(name="avisos", kind="outbox")
    live, live_raw = tokens.create("live", scopes=SCOPES)
    revoked, revoked_raw = tokens.create("revoked")
    message = Message.objects.create(
        service="crm", key="m-1", token=live, channel=channel, to="Ana", body="Olá", send_at=timezone.now()
    )
    Message.objects.create(
        service="crm", key="m-2", token=revoked, channel=channel, to="Ana", body="Olá", send_at=timezone.now()
    )
    tokens.revoke([revoked])
    document = Client().get(DOCUMENT).json()
    operations = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            concrete = re.sub(r"\{[^}]+\}", str(message.pk), path)
            operations.append((method, concrete, operation))
    return operations, live_raw, revoked_raw


def call(client, method, path, header=None):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    body = json.dumps(BODY) if method in ("post", "put", "patch") else None
    return getattr(client, method)(path, body, content_type="application/json", **extra)


def test_every_operation_is_documented_as_needing_the_token(api):
    operations, _live, _revoked = api
    assert len(operations) >= 3
    for method, path, operation in operations:
        assert operation.get("security") == [{"BearerToken": []}], (method, path)
        assert "401" in operation["responses"], (method, path)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer vig_wrong", "Bearer {revoked}", "Bearer {live}x", "Basic {live}", "{live}"],
    ids=["missing", "empty", "no-token", "unknown", "revoked", "altered", "basic", "no-scheme"],
)
def test_every_operation_refuses_a_request_without_a_valid_token(api, header):
    operations, live, revoked = api
    before = world.snapshot()
    client = Client()
    for method, path, _operation in operations:
        value = None if header is None else header.format(live=live, revoked=revoked)
        response = call(client, method, path, value)
        assert response.status_code == 401, (method, path, response.content)
        assert set(response.json()) == {"detail"}
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"Ana" not in response.content and b"crm" not in response.content
    assert world.snapshot() == before


def test_a_logged_in_session_is_not_a_token(api, admin_client):
    operations, _live, _revoked = api
    before = world.snapshot()
    for method, path, _operation in operations:
        assert call(admin_client, method, path).status_code == 401, (method, path)
    assert world.snapshot() == before


def test_the_live_token_gets_through_every_operation(api):
    """The control: the same requests with the live token (every scope) get past authentication and are
    answered: the messages ones with success (their body and ids fit them); the rest by what a messages body
    deserves there (test_api_matrix checks every operation with bodies of its own)."""
    operations, live, _revoked = api
    for method, path, _operation in operations:
        response = call(Client(), method, path, f"Bearer {live}")
        if path.startswith("/api/v1/messages"):
            assert response.status_code in (200, 201), (method, path, response.content)
        else:
            assert response.status_code not in (401, 403) and response.status_code < 500, (method, path)
