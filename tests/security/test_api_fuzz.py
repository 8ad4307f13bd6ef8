"""A schema-driven fuzz run of the API with schemathesis: requests generated from the OpenAPI document
(valid and invalid bodies, odd ids, unicode, huge numbers…) sent with a valid bearer token through the
real WSGI application and database. No request may cause a server error, and every response must match
what the document promises (status code, content type, body schema).

Pure generation would almost never name a channel or a message that exists, so only the error paths would
run; half of the generated cases are therefore pointed at real channels, templates and messages."""

import json
import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import wsgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from channels_app import tokens
from channels_app.models import Channel, Message, MessageTemplate
from tests.security import fuzz

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CHANNELS = ["avisos", "avisos", "mail", "whats"]  # the outbox takes any recipient


@pytest.fixture
def api_schema(db, settings):
    """The document, loaded from the running application, which then answers the generated requests."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, wsgi.HOST]
    # The requests go through the real WSGI handler, which closes the database connection after each one;
    # that would end the test's transaction. Django's own test client unhooks this the same way.
    hooks = [signals.request_started, signals.request_finished]
    for signal in hooks:
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    for signal in hooks:
        signal.connect(close_old_connections)


@pytest.fixture
def existing(db):
    """A token, and the channels, template and messages (some of them the token's) cases may point at."""
    outbox = Channel.objects.create(name="avisos", kind="outbox")
    Channel.objects.create(name="mail", kind="email")
    Channel.objects.create(name="whats", kind="wuzapi", config={"base_url": "http://127.0.0.1:9"})
    MessageTemplate.objects.create(name="lembrete", body="Olá {{1}}, às {{2}}")
    token, raw = tokens.create("fuzz")
    other, _ = tokens.create("other")
    now = timezone.now()
    ids = [
        Message.objects.create(service="s", key=f"k{n}", token=owner, channel=outbox, send_at=now, status=status).pk
        for n, (owner, status) in enumerate(
            [(token, "scheduled"), (token, "sent"), (token, "cancelled"), (token, "failed"), (other, "scheduled")]
        )
    ]
    return {"Authorization": f"Bearer {raw}"}, ids


def pointed_at(strategy, ids):
    """Cases of `strategy`, half of them naming a real channel or template (bodies) or message (ids),
    with the generated service, key, recipient, text, parameters and time kept."""

    def point(drawn):
        case, aim, channel, message_id, use_template, keep_time = drawn
        if not aim:
            return case
        if isinstance(case.body, dict):
            body = case.body
            for name, value in body.items():  # NUL is refused (PostgreSQL cannot store it): see the test below
                body[name] = value.replace("\x00", "") if isinstance(value, str) else value
            body.update(channel=channel, service=body.get("service") or "fuzz", key=body.get("key") or "k")
            body.pop("callback_url", None)  # an outbound call: SSRF rules, tested on their own
            if not keep_time:  # generated times are mostly in the past, which is refused
                body.pop("send_at", None)
            if use_template:
                body.pop("body", None)
                params = body.get("params") if isinstance(body.get("params"), list) else []
                body.update(template="lembrete", params=[*params, "a", "b"][:2])
            else:
                body.pop("template", None), body.pop("params", None)
                body["body"] = body.get("body") or "texto"
        if "message_id" in (case.path_parameters or {}):
            case.path_parameters["message_id"] = message_id
        return case

    aims = st.tuples(st.booleans(), st.sampled_from(CHANNELS), st.sampled_from(ids), st.booleans(), st.booleans())
    return st.tuples(strategy, aims).map(lambda drawn: point((drawn[0], *drawn[1])))


def answered_as_documented(operation, bearer, ids, mode, statuses, tally):
    """Hypothesis over one operation's generated requests, each checked against the document."""

    @given(case=pointed_at(operation.as_strategy(generation_mode=mode), ids))
    @settings(
        max_examples=max(30, fuzz.cases(30) // 4),
        deadline=None,
        derandomize=not os.environ.get("VIGIA_FUZZ_CASES"),  # CI: the same requests on every run, reproducible
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answered(case):
        tally.cases += 1
        response = case.call(headers=bearer)
        tally.server_errors += response.status_code >= 500
        case.validate_response(response, checks=CHECKS)
        statuses[case.operation.label].add(response.status_code)

    answered()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_api_answers_every_generated_request_as_documented(api_schema, existing, mode):
    bearer, ids = existing
    # The messages operations, with cases pointed at real channels, templates and messages; every operation of
    # the document is fuzzed per scope in test_api_fuzz_all.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations = [operation for operation in operations if operation.path.startswith("/api/v1/messages")]
    assert len(operations) == 3
    statuses = {operation.label: set() for operation in operations}
    tally = fuzz.Tally()
    try:
        for operation in operations:
            answered_as_documented(operation, bearer, ids, mode, statuses, tally)
    finally:  # once per mode, whichever operation failed
        tally.report(f"api {mode.value}")
    if mode == GenerationMode.POSITIVE:  # the token was taken, and real data was reached, by every operation
        assert all(401 not in seen and seen & {200, 201} for seen in statuses.values()), statuses


# --- Found by the fuzz run ------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["channel", "to", "body", "service", "key", "send_at", "callback_url", "params"])
def test_a_nul_character_is_a_field_error_not_a_server_error(client, existing, field):
    """JSON allows \\u0000 but PostgreSQL's text and jsonb columns do not: it was a 500 there."""
    bearer, _ids = existing
    data = {"channel": "avisos", "to": "Ana", "body": "Olá", "service": "crm", "key": "nul-1"}
    data[field] = ["a\x00b"] if field == "params" else "a\x00b"
    if field == "params":
        data.update(template="lembrete", body=None)
    response = client.post(
        "/api/v1/messages",
        json.dumps(data),
        content_type="application/json",
        HTTP_AUTHORIZATION=bearer["Authorization"],
    )
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not Message.objects.filter(key="nul-1").exists()
