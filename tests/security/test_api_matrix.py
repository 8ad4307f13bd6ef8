"""The authorization matrix: every operation of the API, read from its own OpenAPI document (a new endpoint is
covered as soon as it is published), called by every kind of caller:

no token · a token with other resources' scopes · a read-only token · a full token · an expired token · a
revoked token · a valid JWT · an expired JWT · a JWT signed with the wrong key.

Refused callers get 401 (who are you?) or 403 naming the scope they lack, and change nothing (every table
is compared before and after); a read-only token reads but never writes; the full token and the valid JWT
get past authorization (whatever the body deserves: never a 5xx)."""

import json
import re
import time
from datetime import timedelta

import jwt
import pytest
from django.test import Client
from django.utils import timezone

from channels_app import tokens
from channels_app.models import Message
from config.api import RESOURCE_OF, api
from scheduler.shared.api_callers import SCOPES
from tests.security import world

pytestmark = [pytest.mark.django_db]

ISSUER, SECRET, AUDIENCE = "smartmei", "s" * 40, "vigia"
# A plausible body per path, so a write that gets past authorization does real work rather than only a 422.
BODIES = {
    "/api/v1/messages": {"channel": "avisos", "to": "Ana", "body": "Olá", "service": "crm", "key": "matrix"},
    "/api/v1/jobs": {"name": "matrix", "kind": "noop", "schedule_type": "interval", "interval_seconds": 60},
}


def operations():
    document = api.get_openapi_schema()  # what /api/v1/openapi.json serves, read at collection
    return [(method, path) for path, methods in document["paths"].items() for method in methods]


def resource_of(path):
    return RESOURCE_OF[path.removeprefix("/api/v1/").split("/", 1)[0]]


def concrete(path, objects):
    """The path with its parameters naming real objects: the id after /jobs/ is a job's, after /runs/ a run's…"""

    def fill(match):
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        name = match.group(1)
        if before == "by-key" or name == "service":
            return objects["jobs"].external_service
        if name == "key":
            return objects["jobs"].external_key
        return str(objects[before].pk)

    return re.sub(r"\{([^}]+)\}", fill, path)


ALL_SCOPES = " ".join(SCOPES)


def jwt_for(key=SECRET, expires_in=300, scope=ALL_SCOPES):
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "scheduler", "aud": AUDIENCE, "iat": now, "exp": now + expires_in, "scope": scope}
    return jwt.encode(claims, key, algorithm="HS256")


@pytest.fixture
def callers(db, settings):
    settings.VIGIA_API_JWT_ISSUERS = {ISSUER: {"algorithm": "HS256", "secret": SECRET, "audience": AUDIENCE}}
    settings.VIGIA_API_RATE_PER_MINUTE = 0
    made = {}
    for name, scopes, extra in [
        ("full", SCOPES, {}),
        ("expired", SCOPES, {"expires_at": timezone.now() - timedelta(seconds=1)}),
        ("revoked", SCOPES, {}),
    ]:
        token, raw = tokens.create(name, scopes=scopes, **extra)
        made[name] = raw
    tokens.revoke([tokens.ApiToken.objects.get(name="revoked")])
    made["jwt"] = jwt_for()
    made["jwt-expired"] = jwt_for(expires_in=-3600)
    made["jwt-wrong-key"] = jwt_for(key="w" * 40)
    return made


def token_with(scopes):
    return tokens.create(f"t-{len(tokens.ApiToken.objects.all())}", scopes=scopes)[1]


def call(method, path, raw=None):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}
    payload = BODIES.get(path.rstrip("/"), {}) if method in ("post", "put", "patch") else None
    body = json.dumps(payload) if payload is not None else None
    return getattr(Client(), method)(path, body, content_type="application/json", **extra)


def test_every_operation_names_a_resource_whose_scope_guards_it():
    found = operations()
    assert len(found) >= 25, found  # jobs, runs, people, publications, sources, items, messages, queue
    assert {resource_of(path) for _, path in found} == {"jobs", "people", "sources", "messages", "queue"}


@pytest.mark.parametrize("method,path", operations())
def test_each_caller_gets_exactly_what_its_scopes_allow(method, path, callers):
    objects = world.build(lambda label: f"matrix {label}").objects
    objects["jobs"].external_service, objects["jobs"].external_key = "crm", "matrix-key"
    objects["jobs"].save()
    objects["messages"] = Message.objects.get(key="m-1")
    url = concrete(path, objects)
    resource = resource_of(path)
    writes = method not in ("get", "head")
    needed = f"{resource}:{'write' if writes else 'read'}"
    others = [s for s in SCOPES if not s.startswith(resource + ":")]
    refused = {
        "no token": (None, 401),
        "other resources' scopes": (token_with(others), 403),
        "expired": (callers["expired"], 401),
        "revoked": (callers["revoked"], 401),
        "jwt expired": (callers["jwt-expired"], 401),
        "jwt wrong key": (callers["jwt-wrong-key"], 401),
    }
    read_only = token_with([f"{resource}:read"])
    if writes:
        refused["read-only"] = (read_only, 403)
    before = world.snapshot()
    for who, (raw, status) in refused.items():
        response = call(method, url, raw)
        assert response.status_code == status, (who, method, url, response.content)
        detail = response.json()["detail"]
        if status == 403:
            assert needed in detail, (who, detail)
    after = world.snapshot()
    after.pop("channels_app.ApiToken"), before.pop("channels_app.ApiToken")  # last_used_at of the callers
    after.pop("scheduler.Budget", None), before.pop("scheduler.Budget", None)
    assert after == before, f"{method} {url}: a refused request changed data"

    if not writes:  # past authorization (another caller's message is still 404 to it)
        response = call(method, url, read_only)
        assert response.status_code not in (401, 403) and response.status_code < 500, (method, url, response.content)
    for who in ("jwt", "full"):  # the full token last: its write may delete what the JWT's call needs
        response = call(method, url, callers[who])
        assert response.status_code not in (401, 403), (who, method, url, response.content)
        assert response.status_code < 500, (who, method, url, response.content)
