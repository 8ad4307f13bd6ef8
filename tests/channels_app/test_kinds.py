"""The channel kinds against real servers on 127.0.0.1: the fake Wuzapi, a webhook receiver that checks the
signature, an Apprise json:// target, an SMTP server (aiosmtpd) — no mocks of httpx, smtplib or apprise."""

import email
import email.policy
import hashlib
import hmac
import json
import socket
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core.exceptions import ValidationError

from channels_app.kinds import _http
from channels_app.kinds import base as kinds
from channels_app.kinds.wuzapi import LIMIT
from scheduler.errors import ChannelDown, PermanentError, RateLimited, TransientError
from scheduler.shared import answers
from tests.loopback.server import LoopbackServer, Response, closed_url

KEY = "vigia-41"


def outgoing(text="Olá & <b>até</b> logo\nsegunda linha", subject="Edital 12/2026", key=KEY, **event):
    return kinds.Outgoing(key=key, subject=subject, text=text, event=event)


def test_the_five_kinds_are_registered_with_their_secrets():
    assert {"wuzapi", "email", "webhook", "apprise", "outbox"} <= set(kinds.names())
    assert kinds.get("wuzapi").secret_fields == ("token",)
    assert kinds.get("webhook").secret_fields == ("secret",)
    assert kinds.get("apprise").secret_fields == ("urls",)


# --- wuzapi -----------------------------------------------------------------------------------------
WUZAPI = kinds.get("wuzapi")


def wuzapi_send(fake, message=None, address="5511987654321", token=None):
    config = {"base_url": fake.url}
    return WUZAPI.send(config, {"token": token or fake.token}, address, message or outgoing())


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("5511987654321", "5511987654321"),
        ("+55 11 98765-4321", "5511987654321"),
        ("+55 (11) 98765-4321", "5511987654321"),
        (" 14155552671 ", "14155552671"),
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("5511987654321-1612345678@g.us", "5511987654321-1612345678@g.us"),
    ],
)
def test_wuzapi_accepts_phones_with_country_code_and_group_jids(given, normalized):
    assert WUZAPI.clean_address(given) == normalized


@pytest.mark.parametrize(
    "given",
    ["", "abc", "98765-4321", "1234567890123456", "55 11 9876a-4321", "grupo@g.us", "5511987654321@s.whatsapp.net"],
)
def test_wuzapi_refuses_what_is_neither_a_phone_nor_a_group(given):
    with pytest.raises(ValidationError):
        WUZAPI.clean_address(given)


def test_wuzapi_config_wants_an_http_base_url_and_keeps_the_token_secret():
    form = WUZAPI.Config(data={"base_url": "http://wuzapi.lan:8080/", "token": "t0k3n"})
    assert form.is_valid(), form.errors
    public, secret = kinds.split_config("wuzapi", form.cleaned_data)
    assert public == {"base_url": "http://wuzapi.lan:8080"} and secret == {"token": "t0k3n"}
    assert not WUZAPI.Config(data={"base_url": "ftp://wuzapi.lan", "token": "t"}).is_valid()


def test_wuzapi_config_accepts_the_documented_example_base_url():
    form = WUZAPI.Config(data={"base_url": "http://wuzapi:8080/", "token": "t0k3n"})  # a compose service name
    assert form.is_valid(), form.errors
    assert form.cleaned_data["base_url"] == "http://wuzapi:8080"


def test_wuzapi_sends_the_token_header_and_the_json_with_the_delivery_key_as_id(wuzapi):
    sent = wuzapi_send(wuzapi, address="120363025246125486@g.us")
    [arrival] = wuzapi.requests
    assert arrival.token == "t0k3n" and arrival.status == 200
    assert (arrival.phone, arrival.body, arrival.id) == (
        "120363025246125486@g.us",
        "Olá & <b>até</b> logo\nsegunda linha",  # plain text: nothing escaped
        KEY,
    )
    assert sent.provider_id == KEY
    assert list(wuzapi.messages) == [KEY]


def test_wuzapi_sends_the_exact_json_contract():
    with LoopbackServer() as server:
        server.respond("/chat/send/text", body={"code": 200, "success": True, "data": {"Id": KEY, "Details": "Sent"}})
        WUZAPI.send({"base_url": server.url}, {"token": "t0k3n"}, "5511987654321", outgoing(text="oi"))
        [request] = server.requests
    assert request.method == "POST" and request.headers["token"] == "t0k3n"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"Phone": "5511987654321", "Body": "oi", "Id": KEY}


def long_text():
    paragraphs = [f"Parágrafo {n}: " + " ".join(f"palavra{n}-{i}" for i in range(80)) for n in range(12)]
    return "\n\n".join(paragraphs)


def test_a_long_text_goes_as_ordered_parts_with_derived_ids(wuzapi):
    text = long_text()
    assert len(text) > 2 * LIMIT
    WUZAPI.check_length(text)  # splits: not refused

    sent = wuzapi_send(wuzapi, outgoing(text=text))

    ids = wuzapi.ids()
    assert ids == [f"{KEY}-{n}" for n in range(1, len(ids) + 1)] and len(ids) >= 3
    assert sent.provider_id == ",".join(ids)
    bodies = [arrival.body for arrival in wuzapi.requests]
    assert all(len(body) <= LIMIT for body in bodies)
    assert " ".join(bodies).split() == text.split()  # every word, in order, once
    assert bodies[0].startswith("Parágrafo 0:")


def test_a_part_failing_midway_resends_the_earlier_parts_with_the_same_ids(wuzapi):
    text = long_text()
    wuzapi.fail_next(500, after=1)  # part 1 goes through, part 2 fails
    with pytest.raises(TransientError):
        wuzapi_send(wuzapi, outgoing(text=text))
    parts = len(wuzapi_send(wuzapi, outgoing(text=text)).provider_id.split(","))

    assert parts >= 3
    assert wuzapi.ids() == [f"{KEY}-1", f"{KEY}-2", *[f"{KEY}-{n}" for n in range(1, parts + 1)]]
    assert list(wuzapi.messages) == [f"{KEY}-{n}" for n in range(1, parts + 1)]  # part 1 not shown twice


def test_wuzapi_bad_token_is_the_channel_down_and_not_echoed(wuzapi):
    with pytest.raises(ChannelDown) as failure:
        wuzapi_send(wuzapi, token="wrong-token-123")
    assert "401" in str(failure.value) and "wrong-token-123" not in str(failure.value)
    assert not wuzapi.messages


def test_wuzapi_no_session_is_the_channel_down(wuzapi):
    wuzapi.session = "no_session"  # the phone was logged out: Wuzapi answers 500 "No session"
    with pytest.raises(ChannelDown, match=r"no WhatsApp session .*\(HTTP 500: No session\)"):
        wuzapi_send(wuzapi)
    assert not wuzapi.messages


def test_wuzapi_generic_500_is_transient(wuzapi):
    wuzapi.fail_next(500, body="failed to send message: context deadline exceeded")
    with pytest.raises(TransientError) as failure:
        wuzapi_send(wuzapi)
    assert not failure.value.permanent and "500" in str(failure.value)
    wuzapi_send(wuzapi)  # the next one goes through
    assert list(wuzapi.messages) == [KEY]


def test_a_429_in_front_of_wuzapi_is_rate_limited_and_keeps_retry_after(wuzapi):
    wuzapi.fail_next(429, headers={"Retry-After": "7"})  # a proxy's: Wuzapi itself never answers 429
    with pytest.raises(RateLimited) as failure:
        wuzapi_send(wuzapi)
    assert failure.value.retry_after == 7.0


def test_wuzapi_success_false_is_permanent(wuzapi):
    wuzapi.fail_next(200, body={"code": 200, "success": False, "error": "invalid phone"})
    with pytest.raises(PermanentError, match="invalid phone"):
        wuzapi_send(wuzapi)


def test_wuzapi_unreachable_is_transient():
    with pytest.raises(TransientError, match="unreachable"):
        WUZAPI.send({"base_url": closed_url()}, {"token": "t"}, "5511987654321", outgoing())


def test_the_fake_counts_a_repeated_id_as_one_message(wuzapi):
    wuzapi_send(wuzapi)
    wuzapi_send(wuzapi)
    wuzapi_send(wuzapi, outgoing(key="vigia-42"))
    assert wuzapi.ids() == [KEY, KEY, "vigia-42"]
    assert list(wuzapi.messages) == [KEY, "vigia-42"]
    assert wuzapi.max_per_second() == 3 and len(wuzapi.gaps()) == 2


# --- webhook ----------------------------------------------------------------------------------------
WEBHOOK = kinds.get("webhook")
SECRET = "a-shared-secret-of-32-characters"


def receiver(secret=SECRET, status=200):
    """A receiver verifying the request the way webhook.py documents it; 401 on any mismatch."""

    def handle(request):
        timestamp = request.headers.get("x-vigia-timestamp", "")
        signed = f"{timestamp}.".encode() + request.body
        expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-vigia-signature", "")):
            return Response(401, {"error": "bad signature"})
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return Response(401, {"error": "stale timestamp"})
        if request.headers.get("x-vigia-delivery") != request.json()["delivery"]:
            return Response(400, {"error": "delivery header and body disagree"})
        return Response(status, {"ok": True})

    return handle


@pytest.fixture
def hook():
    with LoopbackServer() as server:
        yield server


def webhook_send(server, path="/hook", secret=SECRET, message=None):
    message = message or outgoing(type="item.new", topic="source:3", event={"title": "Edital 12/2026"})
    return WEBHOOK.send({"url": server.url + path}, {"secret": secret}, "", message)


def test_webhook_posts_the_event_signed_as_documented(hook):
    hook.respond("/hook", handler=receiver())
    sent = webhook_send(hook)
    [request] = hook.requests
    assert request.headers["x-vigia-delivery"] == KEY and sent.provider_id == KEY
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "delivery": KEY,
        "subject": "Edital 12/2026",
        "text": "Olá & <b>até</b> logo\nsegunda linha",
        "type": "item.new",
        "topic": "source:3",
        "event": {"title": "Edital 12/2026"},
    }


def test_webhook_signed_with_another_secret_is_refused_by_the_receiver(hook):
    hook.respond("/hook", handler=receiver(secret="the-receivers-own-secret-value"))
    with pytest.raises(PermanentError, match="401"):
        webhook_send(hook)


def test_webhook_delivery_header_is_the_same_on_every_retry(hook):
    hook.respond("/hook", status=503)
    hook.respond("/hook", handler=receiver())
    with pytest.raises(TransientError):
        webhook_send(hook)
    webhook_send(hook)
    assert [r.headers["x-vigia-delivery"] for r in hook.requests] == [KEY, KEY]


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_webhook_server_errors_and_429_are_transient(hook, status):
    hook.respond("/hook", status=status, body={"error": "busy"})
    with pytest.raises(TransientError) as failure:
        webhook_send(hook)
    assert not failure.value.permanent and str(status) in str(failure.value)


@pytest.mark.parametrize("status", [400, 409, 422, 302])
def test_webhook_client_errors_and_redirects_are_permanent(hook, status):
    hook.respond("/hook", status=status, body={"error": "no"}, headers={"Location": "/elsewhere"})
    with pytest.raises(PermanentError, match=rf"the webhook refused the message: HTTP {status}") as failure:
        webhook_send(hook)
    assert answers.outcome(failure.value) == "permanent"  # this message; the next one may go through
    assert [r.path for r in hook.requests] == ["/hook"]  # a redirect is not followed (nor counted as sent)


@pytest.mark.parametrize("status", [401, 403, 404, 405, 410])
def test_webhook_refusing_who_we_are_or_where_we_post_is_the_channel_down(hook, status):
    hook.respond("/hook", status=status, body={"error": "no"})
    with pytest.raises(ChannelDown, match=rf"the webhook refuses every message: HTTP {status} \(no\)"):
        webhook_send(hook)


def test_webhook_429_is_rate_limited_with_its_retry_after(hook):
    hook.respond("/hook", status=429, headers={"Retry-After": "42"})
    with pytest.raises(RateLimited) as failure:
        webhook_send(hook)
    assert failure.value.retry_after == 42.0


def test_webhook_connection_refused_is_transient():
    with pytest.raises(TransientError, match="unreachable"):
        WEBHOOK.send({"url": closed_url() + "/hook"}, {"secret": SECRET}, "", outgoing())


@pytest.fixture
def short_http_timeout(monkeypatch):
    monkeypatch.setattr(_http, "TIMEOUT", 0.3)  # read per request: the shared client takes it as it is


def test_webhook_timeout_is_transient(hook, short_http_timeout):
    hook.respond("/hook", delay=2)
    with pytest.raises(TransientError, match="did not answer"):
        webhook_send(hook)


def test_webhook_config_wants_a_long_secret_and_an_http_url():
    good = WEBHOOK.Config(data={"url": "https://example.org/hook", "secret": SECRET})
    assert good.is_valid(), good.errors
    assert not WEBHOOK.Config(data={"url": "https://example.org/hook", "secret": "short"}).is_valid()
    assert not WEBHOOK.Config(data={"url": "ftp://example.org/hook", "secret": SECRET}).is_valid()
    with pytest.raises(ValidationError):
        WEBHOOK.clean_address("someone")  # webhooks take no address


# --- apprise ----------------------------------------------------------------------------------------
APPRISE = kinds.get("apprise")


def test_apprise_json_target_gets_title_and_body(hook):
    hook.respond("/notify", body={"ok": True})
    sent = APPRISE.send({}, {"urls": f"json://127.0.0.1:{hook.port}/notify"}, "", outgoing())
    [request] = hook.requests
    assert request.method == "POST" and request.path == "/notify"
    payload = request.json()
    assert payload["title"] == "Edital 12/2026"
    assert payload["message"] == "Olá & <b>até</b> logo\nsegunda linha"
    assert sent.provider_id == "apprise:1"


def test_apprise_sends_to_every_url(hook):
    hook.respond("/a", body={"ok": True})
    hook.respond("/b", body={"ok": True})
    urls = f"json://127.0.0.1:{hook.port}/a\njson://127.0.0.1:{hook.port}/b"
    assert APPRISE.send({}, {"urls": urls}, "", outgoing()).provider_id == "apprise:2"
    assert sorted(r.path for r in hook.requests) == ["/a", "/b"]


def test_apprise_failing_target_is_transient(hook):
    hook.respond("/notify", status=500)
    with pytest.raises(TransientError):
        APPRISE.send({}, {"urls": f"json://127.0.0.1:{hook.port}/notify"}, "", outgoing())


def test_apprise_config_refuses_an_unknown_scheme_without_echoing_the_url():
    form = APPRISE.Config(data={"urls": "json://127.0.0.1/ok\nnosuchscheme://s3cr3t-t0ken@host/x"})
    assert not form.is_valid()
    message = " ".join(form.errors["urls"])
    assert "number 2" in message
    assert "s3cr3t" not in message and "nosuchscheme" not in message
    assert not APPRISE.Config(data={"urls": " \n "}).is_valid()
    good = APPRISE.Config(data={"urls": "json://127.0.0.1/a, json://127.0.0.1/b"})
    assert good.is_valid() and good.cleaned_data["urls"] == "json://127.0.0.1/a\njson://127.0.0.1/b"


# --- email ------------------------------------------------------------------------------------------
EMAIL = kinds.get("email")


class Mailbox:
    """An aiosmtpd handler: refuses the addresses in `refuse` (address → SMTP reply), keeps the rest."""

    def __init__(self):
        self.messages = []
        self.refuse = {}
        self.refuse_sender = {}

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 - aiosmtpd API
        if address in self.refuse_sender:
            return self.refuse_sender[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_smtp(settings, port, timeout=5, username="", password=""):
    """Point the default mailer at 127.0.0.1:`port` over plain SMTP (the test runner installs locmem)."""
    if hasattr(settings, "MAILERS"):  # Django 6.1's mailers
        options = {"host": "127.0.0.1", "port": port, "use_tls": False, "use_ssl": False, "timeout": timeout}
        options.update({"username": username, "password": password} if username else {})
        settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
    else:  # the EMAIL_* settings
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, timeout
        settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = username, password
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False


@pytest.fixture
def smtp(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_smtp(settings, controller.port)
    settings.DEFAULT_FROM_EMAIL = "vigia@example.org"
    settings.VIGIA_EMAIL_DOMAIN = "vigia.test"
    yield mailbox
    controller.stop()


def test_email_address_validation():
    assert EMAIL.clean_address("  Ana@Example.org ") == "ana@example.org"
    with pytest.raises(ValidationError):
        EMAIL.clean_address("not-an-address")


def test_email_carries_the_text_an_escaped_html_part_and_the_delivery_message_id(smtp):
    sent = EMAIL.send({"from_email": "alertas@example.org"}, {}, "ana@example.org", outgoing())
    [envelope] = smtp.messages
    assert envelope.mail_from == "alertas@example.org" and envelope.rcpt_tos == ["ana@example.org"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["Message-ID"] == f"<{KEY}@vigia.test>" == sent.provider_id
    assert message["Subject"] == "Edital 12/2026" and message["To"] == "ana@example.org"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert plain.strip().splitlines() == ["Olá & <b>até</b> logo", "segunda linha"]
    assert "Olá &amp; &lt;b&gt;até&lt;/b&gt; logo" in html and "<b>" not in html
    assert "segunda linha" in html


def test_email_from_defaults_and_subject_is_one_line(smtp):
    EMAIL.send({}, {}, "ana@example.org", outgoing(subject="Linha um\nlinha   dois"))
    [envelope] = smtp.messages
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert envelope.mail_from == "vigia@example.org" and message["Subject"] == "Linha um linha dois"


def test_email_recipient_refused_with_550_is_permanent(smtp):
    smtp.refuse["nobody@example.org"] = "550 5.1.1 No such user"
    with pytest.raises(PermanentError, match="refused"):
        EMAIL.send({}, {}, "nobody@example.org", outgoing())
    assert not smtp.messages


def test_email_recipient_deferred_with_451_is_transient(smtp):
    smtp.refuse["busy@example.org"] = "451 4.7.1 Greylisted, try again later"
    with pytest.raises(TransientError) as failure:
        EMAIL.send({}, {}, "busy@example.org", outgoing())
    assert not failure.value.permanent


def test_email_refused_login_is_the_channel_down(settings):
    def refuse_everyone(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8

    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        auth_require_tls=False,
        authenticator=refuse_everyone,
    )
    controller.start()
    try:
        use_smtp(settings, controller.port, username="vigia", password="wrong-password")
        with pytest.raises(ChannelDown, match=r"refused the login \(535\)") as failure:
            EMAIL.send({}, {}, "ana@example.org", outgoing())
    finally:
        controller.stop()
    assert "wrong-password" not in str(failure.value) and not mailbox.messages


def test_email_refused_sender_is_the_channel_down(smtp):
    smtp.refuse_sender["alertas@example.org"] = "553 5.7.1 Sender address rejected: not owned by user"
    with pytest.raises(ChannelDown, match=r"refused the sender alertas@example.org \(553\)"):
        EMAIL.send({"from_email": "alertas@example.org"}, {}, "ana@example.org", outgoing())
    assert not smtp.messages


def test_email_server_unreachable_is_transient(settings):
    use_smtp(settings, free_port(), timeout=2)
    with pytest.raises(TransientError, match="unreachable"):
        EMAIL.send({}, {}, "ana@example.org", outgoing())


# --- outbox -----------------------------------------------------------------------------------------
def test_outbox_stores_only():
    outbox = kinds.get("outbox")
    assert outbox.clean_address("  equipe jurídica ") == "equipe jurídica"
    assert outbox.clean_address("x" * 400) == "x" * 300
    outbox.check_length("y" * 100_000)  # no limit
    assert outbox.send({}, {}, "", outgoing()).provider_id == "outbox"


def test_kinds_without_splitting_refuse_texts_over_their_limit():
    class Short(kinds.ChannelKind):
        label = "Short"
        max_length = 10

    with pytest.raises(ValidationError, match="At most 10"):
        Short().check_length("x" * 11)
    Short().check_length("x" * 10)


def test_json_bodies_are_utf8_not_escaped(hook):
    hook.respond("/hook", handler=receiver())
    webhook_send(hook, message=outgoing(text="ação ✅"))
    assert "ação ✅".encode() in hook.requests[0].body
    assert json.loads(hook.requests[0].body)["text"] == "ação ✅"
