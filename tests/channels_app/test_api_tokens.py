"""API tokens, everywhere an administrator makes them: `create_api_token` / `revoke_api_token`, the admin and
the dashboard's tokens page (one form: channels_app.forms_tokens), each showing the token and its callback
secret once; then what a token may do through the messages API: its scopes (403 naming the one missing),
expiry and revocation (401), last use (written at most every 30 s), the channels and addresses it may send
to (422 on the field) and its rate (429 with Retry-After)."""

import hashlib
import json
import time
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_app import tokens
from channels_app.models import ApiToken, Channel, Message
from scheduler.shared.api_callers import SCOPES
from tests.support.commands import call, call_failing

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/messages"
TOKENS = "/tokens/"
ADMIN_ADD = reverse("admin:channels_app_apitoken_add")
ADMIN_LIST = reverse("admin:channels_app_apitoken_changelist")


@pytest.fixture
def avisos():
    return Channel.objects.create(name="avisos", kind="outbox")


@pytest.fixture
def outro():
    return Channel.objects.create(name="outro", kind="outbox")


@pytest.fixture
def whats():
    return Channel.objects.create(
        name="whats", kind="wuzapi", config={"base_url": "http://127.0.0.1:9"}, secrets={"token": "t"}
    )


@pytest.fixture
def superuser_client(db):
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def send(raw, **fields):
    data = {"channel": "avisos", "to": "Ana", "body": "Olá", "service": "crm", "key": "k-1", **fields}
    return Client().post(MESSAGES, json.dumps(data), content_type="application/json", **auth(raw))


def secrets_of(token, raw):
    return [raw, token.digest, token.callback_secret["secret"]]


# --- The command ---------------------------------------------------------------------------------------
def test_the_command_creates_a_token_with_scopes_expiry_and_limits(avisos, whats):
    out, err = call(
        "create_api_token", "crm", "--scope", "jobs:write", "--scope", "people:read", "--expires", "90d",
        "--channel", "avisos", "--channel", "whats", "--address", "5511*", "--address", "*@example.org",
        "--rate", "30",
    )  # fmt: skip

    raw = out.strip()
    token = ApiToken.objects.get()
    assert raw.startswith("vig_") and "\n" not in raw and tokens.authenticate(raw) == token
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert token.scopes == ["jobs:write", "people:read"]
    assert abs(token.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    assert (token.channels, token.addresses, token.rate_per_minute) == (
        ["avisos", "whats"],
        ["5511*", "*@example.org"],
        30,
    )
    secret = token.callback_secret["secret"]
    assert secret.startswith("whsec_") and secret in err and secret not in out
    assert "shown once" in err and "cannot be shown again" in err


def test_the_command_without_scopes_gives_the_messages_scopes_and_all_scopes_gives_every_one():
    call("create_api_token", "old-style")
    call("create_api_token", "everything", "--all-scopes", "--expires", "2099-01-31")

    assert ApiToken.objects.get(name="old-style").scopes == sorted(tokens.DEFAULT_SCOPES)
    everything = ApiToken.objects.get(name="everything")
    assert everything.scopes == sorted(SCOPES)
    expected = timezone.make_aware(datetime(2099, 1, 31))  # the date's first moment in TIME_ZONE
    assert everything.expires_at == expected and everything.channels == [] and everything.rate_per_minute is None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--scope", "messages:send"], "Unknown scope messages:send. The scopes are: jobs:read, jobs:write"),
        (["--scope", "jobs:read", "--all-scopes"], "not allowed with argument"),
        (["--channel", "nowhere"], "--channel: Unknown channel nowhere."),
        (["--expires", "soon"], "--expires: 'soon' is neither a duration"),
        (["--expires", "0d"], "--expires: A duration of at least 1"),
        (["--expires", "2001-01-01"], "--expires: A moment in the future"),
        (["--expires", "99999w"], "--expires:"),
        (["--rate", "0"], "--rate:"),
        (["--rate", "-5"], "--rate:"),
        (["--rate", "many"], "invalid int value"),
        (["--address", "x" * 301], "--address: A pattern of at most 300 characters."),
    ],
    ids=lambda value: value if isinstance(value, str) else " ".join(value)[:30],
)
def test_the_command_refuses_bad_arguments_clearly_and_creates_nothing(avisos, arguments, expected):
    message, out, _err = call_failing("create_api_token", "crm", *arguments)

    assert expected in message, message
    assert out == "" and not ApiToken.objects.exists()


def test_the_command_refuses_a_bad_or_taken_name():
    assert "NAME:" in call_failing("create_api_token", "   ")[0]
    assert "NAME:" in call_failing("create_api_token", "x" * 101)[0]
    call("create_api_token", "crm")
    message, out, _err = call_failing("create_api_token", "crm", "--all-scopes")
    assert "already exists" in message and out == "" and ApiToken.objects.count() == 1


def test_revoke_api_token():
    token, raw = tokens.create("crm")

    out, _ = call("revoke_api_token", "crm")
    assert "Revoked the token crm" in out and tokens.authenticate(raw) is None
    revoked_at = ApiToken.objects.get().revoked_at
    assert revoked_at is not None
    again, _ = call("revoke_api_token", "crm")
    assert "already revoked" in again and ApiToken.objects.get().revoked_at == revoked_at
    assert "No API token named 'nobody'" in call_failing("revoke_api_token", "nobody")[0]


# --- The admin ---------------------------------------------------------------------------------------
def test_the_admin_asks_for_scopes_and_limits_and_shows_the_token_and_its_secret_once(admin_client, avisos):
    form = admin_client.get(ADMIN_ADD).content.decode()
    assert 'value="queue:write"' in form and 'value="avisos"' in form and "rate_per_minute" in form

    response = admin_client.post(
        ADMIN_ADD,
        {
            "name": "crm",
            "scopes": ["messages:write", "jobs:read"],
            "expires_at": "2099-01-31T10:00",
            "channels": ["avisos"],
            "addresses": "5511*\r\n\r\n*@example.org\r\n5511*",
            "rate_per_minute": "120",
            "_save": "Save",
        },
        follow=True,
    )

    token = ApiToken.objects.get()
    assert token.scopes == ["jobs:read", "messages:write"] and token.channels == ["avisos"]
    assert token.addresses == ["5511*", "*@example.org"] and token.rate_per_minute == 120
    assert token.expires_at == timezone.make_aware(datetime(2099, 1, 31, 10))
    page = response.content.decode()
    raw = page.split("The token for crm: ", 1)[1].split(" ")[0]
    assert tokens.authenticate(raw) == token and token.callback_secret["secret"] in page
    for url in (ADMIN_LIST, reverse("admin:channels_app_apitoken_change", args=[token.pk])):
        again = admin_client.get(url).content.decode()
        assert "crm" in again and "jobs:read" in again
        assert not [value for value in secrets_of(token, raw) if value in again], url


def test_the_admin_refuses_a_bad_form_and_creates_nothing(admin_client):
    response = admin_client.post(
        ADMIN_ADD, {"name": "crm", "scopes": ["messages:nope"], "channels": ["ghost"], "rate_per_minute": "0"}
    )

    errors = response.context["adminform"].form.errors
    assert set(errors) == {"scopes", "channels", "rate_per_minute"} and not ApiToken.objects.exists()


def test_the_admin_never_edits_a_token(admin_client):
    token, _raw = tokens.create("crm")
    page = admin_client.get(reverse("admin:channels_app_apitoken_change", args=[token.pk])).content.decode()
    assert 'name="_save"' not in page
    admin_client.post(reverse("admin:channels_app_apitoken_change", args=[token.pk]), {"name": "other"})
    assert ApiToken.objects.get().name == "crm"


# --- The dashboard's tokens page ----------------------------------------------------------------------
def test_the_tokens_page_creates_a_token_and_shows_it_and_its_secret_once(superuser_client, avisos):
    page = superuser_client.get(TOKENS)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'action="/tokens/new/"' in text and 'value="messages:write"' in text and 'value="avisos"' in text
    assert 'href="/tokens/"' in text  # the nav link, for a superuser

    created = superuser_client.post(
        "/tokens/new/",
        {
            "name": "erp",
            "scopes": ["messages:read"],
            "channels": ["avisos"],
            "addresses": "5511*",
            "rate_per_minute": "60",
            "expires_at": "2099-06-30T08:30",
        },
    )

    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    token = ApiToken.objects.get()
    raw, secret = created.context["raw"], token.callback_secret["secret"]
    shown = created.content.decode()
    assert raw in shown and secret in shown and tokens.authenticate(raw) == token
    assert (token.scopes, token.channels, token.addresses, token.rate_per_minute) == (
        ["messages:read"],
        ["avisos"],
        ["5511*"],
        60,
    )
    listed = superuser_client.get(TOKENS).content.decode()
    assert "erp" in listed and token.prefix in listed and "messages:read" in listed and "5511*" in listed
    assert not [value for value in secrets_of(token, raw) if value in listed]


def test_the_tokens_page_shows_the_form_errors_and_creates_nothing(superuser_client):
    tokens.create("taken")
    response = superuser_client.post(
        "/tokens/new/", {"name": "taken", "scopes": ["jobs:fly"], "expires_at": "2001-01-01T00:00"}
    )

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"name", "scopes", "expires_at"}
    assert ApiToken.objects.count() == 1 and "raw" not in response.context


def test_the_tokens_page_revokes(superuser_client):
    token, raw = tokens.create("crm")
    csrf_checked = Client(enforce_csrf_checks=True)
    csrf_checked.force_login(User.objects.get(username="root"))
    assert csrf_checked.post("/tokens/revoke/", {"token": token.pk}).status_code == 403
    assert tokens.authenticate(raw) == token

    response = superuser_client.post("/tokens/revoke/", {"token": token.pk}, follow=True)

    assert tokens.authenticate(raw) is None and "revoked" in response.content.decode()
    assert superuser_client.post("/tokens/revoke/", {"token": "999999"}).status_code == 404
    assert superuser_client.get("/tokens/revoke/").status_code == 405


def test_only_admins_get_the_tokens_page(staff_client, operator_client, viewer_client):
    token, _raw = tokens.create("crm")
    assert staff_client.get(TOKENS).status_code == 200  # the admin role (scheduler.shared.roles)
    assert 'href="/tokens/"' in staff_client.get("/channels/").content.decode()
    for client in (operator_client, viewer_client):
        assert client.get(TOKENS).status_code == 403
        assert client.post("/tokens/new/", {"name": "sneaky"}).status_code == 403
        assert client.post("/tokens/revoke/", {"token": token.pk}).status_code == 403
        assert 'href="/tokens/"' not in client.get("/channels/").content.decode()
    assert ApiToken.objects.count() == 1 and ApiToken.objects.get().revoked_at is None
    assert Client().get(TOKENS).status_code == 302  # anonymous: to the login page


# --- What a token may do through the messages API -------------------------------------------------------
def test_a_token_without_messages_write_may_not_create_messages(avisos):
    _token, raw = tokens.create("jobs-only", scopes=["jobs:write", "people:read"])

    response = send(raw)

    assert response.status_code == 403 and response.json() == {"detail": "This token lacks the scope messages:write."}
    assert not Message.objects.exists()


def test_a_read_only_token_reads_its_messages_but_creates_none(avisos):
    token, raw = tokens.create("reader", scopes=["messages:read"])
    mine = Message.objects.create(
        service="crm", key="m-1", token=token, caller=f"token:{token.pk}", channel=avisos, to="Ana", body="Olá",
        send_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip

    assert Client().get(f"{MESSAGES}/{mine.pk}", **auth(raw)).json()["key"] == "m-1"
    refused = send(raw, key="m-2")
    assert refused.status_code == 403 and "messages:write" in refused.json()["detail"]
    assert Client().delete(f"{MESSAGES}/{mine.pk}", **auth(raw)).status_code == 403
    assert Message.objects.count() == 1


def test_an_expired_token_is_refused(avisos):
    _token, raw = tokens.create("old", expires_at=timezone.now() - timedelta(seconds=1))

    response = send(raw)

    assert response.status_code == 401 and response.json() == {"detail": "This token has expired."}
    assert response["WWW-Authenticate"].startswith("Bearer") and not Message.objects.exists()


def test_a_revoked_token_is_refused(avisos):
    token, raw = tokens.create("gone")
    assert send(raw).status_code == 201
    tokens.revoke([token])

    response = send(raw, key="k-2")

    assert response.status_code == 401 and response.json() == {"detail": "Invalid or revoked token."}
    assert Message.objects.count() == 1


def test_last_used_is_written_on_use_at_most_every_30_seconds(avisos):
    token, raw = tokens.create("crm")
    assert token.last_used_at is None

    assert send(raw).status_code == 201
    first = ApiToken.objects.get().last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    assert send(raw, key="k-2").status_code == 201
    assert ApiToken.objects.get().last_used_at == first  # not rewritten on every request

    ApiToken.objects.update(last_used_at=first - timedelta(seconds=31))
    assert send(raw, key="k-3").status_code == 201
    assert ApiToken.objects.get().last_used_at > first


def test_a_token_limited_to_a_channel_sends_through_no_other(avisos, outro):
    _token, raw = tokens.create("crm", channels=["avisos"])

    refused = send(raw, channel="outro")

    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["channel"]
    assert send(raw, channel=str(outro.pk), key="k-2").json()["errors"] == refused.json()["errors"]  # by id too
    assert not Message.objects.exists()
    assert send(raw).status_code == 201
    assert send(raw, channel=str(avisos.pk), key="k-3").status_code == 201  # its own channel, by id


def test_a_token_limited_to_addresses_sends_to_no_other(whats):
    _token, raw = tokens.create("crm", addresses=["5511*"])

    refused = send(raw, channel="whats", to="5521912345678")

    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["to"]
    assert "may not send to this address" in refused.json()["errors"]["to"][0]
    assert not Message.objects.exists()
    # matched as the channel stores the address: typed with + and spaces, it is still 5511…
    assert send(raw, channel="whats", to="+55 11 91234-5678", key="k-2").status_code == 201
    assert send(raw, channel="whats", to="+55 (21) 91234-5678", key="k-3").status_code == 422
    assert list(Message.objects.values_list("to", flat=True)) == ["5511912345678"]


@pytest.mark.alone
def test_a_token_beyond_its_rate_gets_429_with_retry_after(settings, avisos):
    settings.VIGIA_API_BURST_SECONDS = 1.5  # 60 a minute: one a second, and a burst of 1.5 s of that
    _token, raw = tokens.create("crm", rate_per_minute=60)
    _other_token, other = tokens.create("erp", rate_per_minute=60)
    client = Client()

    started = time.monotonic()
    answers = [client.get(f"{MESSAGES}/999999", **auth(raw)) for _ in range(4)]
    assert time.monotonic() - started < 1.0, "too slow to test the burst"

    statuses = [answer.status_code for answer in answers]
    assert statuses[0] == 404 and 429 in statuses, statuses
    refused = answers[statuses.index(429)]
    assert refused.json()["detail"].startswith("Too many requests: at most 60 a minute.")
    assert 1 <= int(refused["Retry-After"]) <= 2
    assert client.get(f"{MESSAGES}/999999", **auth(other)).status_code == 404  # each token has its own budget
