"""SSRF: URLs from operators and API clients may not reach loopback, private, link-local... addresses — by
literal address in any spelling, by a DNS name resolving to one, or by a redirect — unless
VIGIA_OUTBOUND_ALLOW lists them. Each real path is exercised against real servers on loopback (allowed or
not per test); refusals happen before anything is sent, so the servers standing in for internal services
must receive nothing."""

import json
import socket
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from channels_app import callbacks, scheduled, sending, tokens
from channels_app.events import publish
from channels_app.forms import ChannelForm
from channels_app.models import Callback, Channel, Delivery, Message, Recipient, Subscription
from scheduler import execution, job_kinds, services
from scheduler.forms import JobForm
from scheduler.models import Run
from scheduler.shared import outbound
from scrapers.sources import checks
from scrapers.sources.fetch import fetch
from scrapers.sources.services import SourceForm
from tests.loopback import organizer
from tests.loopback.server import LoopbackServer
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db

METADATA = "http://169.254.169.254/latest/meta-data/"


def ipv6_server():
    """The same canned-response server on [::1]: an allowed host that is not 127.0.0.1."""
    return LoopbackServer(host="::1")


@pytest.fixture
def internal():
    """An 'internal service' on 127.0.0.1 that must never be reached unless allowed."""
    with LoopbackServer() as server:
        server.respond("/secret", body="internal data")
        yield server


@pytest.fixture
def allow(settings):
    def set_allow(*entries):
        settings.VIGIA_OUTBOUND_ALLOW = list(entries)

    set_allow()  # nothing allowed unless the test says so
    return set_allow


def refusal(call):
    with pytest.raises(outbound.Refused) as info:
        call()
    return str(info.value)


# --- every forbidden address class ----------------------------------------------------------------------

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("[::1]", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("[::]", "unspecified"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("[fd00::1]", "private"),
    ("169.254.169.254", "link-local"),
    ("[fe80::1]", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "reserved"),
    ("[::ffff:127.0.0.1]", "loopback"),  # IPv4-mapped IPv6
    ("[::ffff:169.254.169.254]", "link-local"),
    ("[64:ff9b::a9fe:a9fe]", "link-local"),  # NAT64
    ("2130706433", "loopback"),  # 127.0.0.1 as one decimal number
    ("0x7f000001", "loopback"),  # ... in hex
    ("127.1", "loopback"),  # ... shortened
]


@pytest.mark.parametrize("host, kind", FORBIDDEN)
def test_each_forbidden_address_class_is_refused_before_connecting(allow, host, kind):
    message = refusal(lambda: fetch(f"http://{host}:8080/latest/meta-data/", retries=3, timeout=2))
    assert f"is a {kind} address" in message or f"is an {kind} address" in message
    assert "VIGIA_OUTBOUND_ALLOW" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "0177.0.0.1"])
def test_any_spelling_of_a_loopback_address_reaches_nothing(allow, internal, host):
    port = internal.port
    with pytest.raises(outbound.Refused):
        outbound.vet(host, port)  # 0177.0.0.1 (octal) is a resolver's spelling httpx's URL parser rejects
    if host != "0177.0.0.1":
        refusal(lambda: fetch(f"http://{host}:{port}/secret"))
    assert internal.requests == []
    allow("127.0.0.0/8")  # the control: the same spellings do reach it once allowed
    if host != "0177.0.0.1":
        assert fetch(f"http://{host}:{port}/secret").text == "internal data"


def test_a_public_address_is_not_refused(allow):
    assert outbound.forbidden_class("8.8.8.8") is None and outbound.forbidden_class("2606:4700::1111") is None
    outbound.check_host("93.184.215.14")  # nothing raised: judged without connecting


# --- a DNS name resolving to a forbidden address -----------------------------------------------------------


def _loopback_names():
    """Names this machine resolves to a forbidden address: localhost, plus /etc/hosts' others and its own
    host name where they do (Debian maps it to 127.0.1.1). Real DNS, nothing mocked."""
    names = {"localhost"}
    hosts = Path("/etc/hosts")
    for line in hosts.read_text().splitlines() if hosts.exists() else []:
        fields = line.split("#")[0].split()
        names.update(fields[1:])
    names.add(socket.gethostname())
    found = []
    for name in sorted(names):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if addresses and all(outbound.forbidden_class(a.split("%")[0]) for a in addresses):
            found.append(name)
    return found[:4]


@pytest.mark.parametrize("name", _loopback_names())
def test_a_name_resolving_to_a_forbidden_address_is_refused(allow, internal, name):
    message = refusal(lambda: fetch(f"http://{name}:{internal.port}/secret"))
    assert name in message and "address" in message
    assert internal.requests == []


def test_allowing_an_unrelated_network_does_not_let_a_loopback_name_through(allow, internal):
    allow("10.0.0.0/8", "wuzapi")
    refusal(lambda: fetch(f"http://localhost:{internal.port}/secret"))
    assert internal.requests == []


# --- the allow-list ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["localhost", "127.0.0.1", "127.0.0.0/8", "127.0.0.0/8,10.0.0.0/8"])
def test_allow_list_entries_admit_a_host_name_an_address_or_a_network(allow, internal, entry):
    allow(*entry.split(","))
    assert fetch(f"http://localhost:{internal.port}/secret").text == "internal data"


def test_an_allowed_address_does_not_admit_its_neighbours(allow, internal):
    allow("127.0.0.2", "10.0.0.0/8", "wuzapi")
    refusal(lambda: fetch(f"{internal.url}/secret"))
    assert internal.requests == []


def test_an_ipv6_entry_admits_the_ipv6_loopback():
    with ipv6_server() as server:
        server.respond("/v6", body="six")
        assert fetch(f"{server.url}/v6").text == "six"  # the suite allows ::1


# --- redirects into a forbidden address, through each real path ------------------------------------------


@pytest.fixture
def front():
    """An allowed server on [::1] that redirects to wherever the test says."""
    with ipv6_server() as server:
        yield server


def redirect(front, path, target):
    front.respond(path, status=302, headers={"Location": target})
    return f"{front.url}{path}"


@pytest.mark.parametrize("target", ["localhost", "127.0.0.1", "metadata"])
def test_fetch_refuses_a_redirect_into_a_forbidden_address(allow, front, internal, target):
    allow("::1")  # the front server only
    location = METADATA if target == "metadata" else f"http://{target}:{internal.port}/secret"
    message = refusal(lambda: fetch(redirect(front, "/go", location)))
    assert "169.254.169.254" in message if target == "metadata" else target in message
    assert len(front.requests) == 1 and internal.requests == []


def test_a_source_check_refuses_a_redirect_and_fails_without_retrying(allow, front, internal):
    allow("::1")
    source = organizer.make_source(redirect(front, "/tarefas", f"http://localhost:{internal.port}/secret"))
    source.job.max_attempts = 3
    source.job.save()
    run = services.run_now(source.job)
    assert execution.execute_run(run.id) == Run.Status.FAILED  # permanent: not "retrying"
    run.refresh_from_db()
    source.refresh_from_db()
    assert "refused: localhost resolves to 127.0.0.1" in run.error
    assert internal.requests == []


def test_a_source_check_refuses_a_forbidden_source_url(allow, internal):
    allow("127.0.0.1")
    source = organizer.make_source(f"{internal.url}/secret")
    allow()
    with pytest.raises(outbound.Refused):
        checks.check_source(source)
    assert internal.requests == []


def webhook_delivery(url):
    channel = Channel.objects.create(name="hook", kind="webhook", config={"url": url}, secrets={"secret": "s" * 16})
    recipient = Recipient.objects.create(channel=channel, address="")
    Subscription.objects.create(recipient=recipient, topic="source:1")
    return Delivery.objects.get(event=publish("source:1", {"type": "item.new", "title": "t", "source": 1}))


def test_a_webhook_to_a_name_resolving_to_loopback_fails_permanently(allow, internal):
    allow("::1")
    delivery = webhook_delivery(f"http://localhost:{internal.port}/secret")
    assert sending.send_delivery(delivery.pk) == Delivery.Status.FAILED  # permanent: not retried
    delivery.refresh_from_db()
    assert "refused: localhost resolves to 127.0.0.1" in delivery.error and delivery.attempts == 1
    assert internal.requests == []


def test_a_webhook_redirect_into_loopback_is_not_followed(allow, front, internal):
    allow("::1")
    delivery = webhook_delivery(redirect(front, "/hook", f"http://localhost:{internal.port}/secret"))
    sending.send_delivery(delivery.pk)
    assert len(front.requests) == 1 and internal.requests == []


def http_request_run(url):
    job = make_job(kind="http_request", params={"url": url, "method": "GET"}, max_attempts=3)
    run = services.run_now(job)
    status = execution.execute_run(run.id)
    run.refresh_from_db()
    return status, run


@pytest.mark.parametrize("target", ["localhost", "metadata"])
def test_an_http_request_job_refuses_a_redirect_and_fails_without_retrying(allow, front, internal, target):
    allow("::1")
    location = METADATA if target == "metadata" else f"http://localhost:{internal.port}/secret"
    status, run = http_request_run(redirect(front, "/go", location))
    assert status == Run.Status.FAILED
    assert run.error.startswith("refused: ") and ("localhost" if target == "localhost" else "169.254") in run.error
    assert len(front.requests) == 1 and internal.requests == []


def test_an_http_request_job_to_a_forbidden_address_is_refused(allow, internal):
    status, run = http_request_run(f"http://localhost:{internal.port}/secret")
    assert status == Run.Status.FAILED and "loopback" in run.error
    assert internal.requests == []


def api_message(callback_url):
    channel = Channel.objects.get_or_create(name="avisos", kind="outbox")[0]
    request = scheduled.Request(service="crm", key=callback_url, channel=channel.name, body="Olá", callback_url="")
    message, _ = scheduled.create(request, token=tokens.create("crm")[0])
    Message.objects.filter(pk=message.pk).update(callback_url=callback_url)  # as if allowed when it was made
    message.refresh_from_db()
    return message


def tell_callback(message):
    """The message's final status, told as the queue's worker would (channels_app.callbacks)."""
    scheduled.schedule_callback(message)
    assert callbacks.send(Callback.objects.get(subject=f"message:{message.pk}").pk) != "not claimed"
    message.refresh_from_db()


def test_an_api_callback_to_a_name_resolving_to_loopback_is_refused(allow, internal):
    message = api_message(f"http://localhost:{internal.port}/secret")
    tell_callback(message)
    assert message.callback_status.startswith("failed: refused: localhost")  # permanent: never retried
    assert Callback.objects.get().status == Callback.Status.FAILED
    assert internal.requests == []


def test_an_api_callback_redirect_into_loopback_reaches_nothing(allow, front, internal):
    allow("::1")
    message = api_message(redirect(front, "/status", f"http://localhost:{internal.port}/secret"))
    tell_callback(message)
    assert len(front.requests) == 1 and internal.requests == []


def test_an_allowed_api_callback_is_made(allow, internal):
    allow("localhost")
    message = api_message(f"http://localhost:{internal.port}/secret")
    tell_callback(message)
    assert len(internal.requests) == 1 and internal.requests[0].json()["id"] == message.pk


# --- refused when saved: field-level errors --------------------------------------------------------------

SAVED = ["http://169.254.169.254/latest/meta-data/", "http://localhost:8000/", "http://2130706433/", "http://[::1]/"]


@pytest.mark.parametrize("url", SAVED)
def test_a_source_with_a_forbidden_url_is_a_field_error(allow, url):
    data = {"name": "S", "kind": "html", "url": url, "config": organizer.CONFIG, "interval_seconds": 30}
    form = SourceForm(data={**data, "timeout_seconds": 5, "timezone": "UTC", "method": "GET", "headers": {}})
    assert not form.is_valid()
    expected = "Enter a valid URL" if url == "http://2130706433/" else "not a public address"  # Django's own check
    assert expected in " ".join(form.errors["url"])


@pytest.mark.parametrize("url", SAVED)
def test_a_webhook_or_wuzapi_channel_with_a_forbidden_url_is_a_field_error(allow, url):
    hook = ChannelForm(
        data={
            "name": "h",
            "kind": "webhook",
            "config": json.dumps({"url": url}),
            "secrets": '{"secret": "ssssssssssssssss"}',
        }
    )
    wuzapi = ChannelForm(
        data={"name": "w", "kind": "wuzapi", "config": json.dumps({"base_url": url}), "secrets": '{"token": "t"}'}
    )
    for form in (hook, wuzapi):
        assert not form.is_valid()
        assert "not a public address" in " ".join(form.errors["config"])


def test_an_apprise_url_naming_a_private_server_is_a_field_error_but_a_service_url_is_not(allow):
    bad = ChannelForm(data={"name": "a", "kind": "apprise", "secrets": json.dumps({"urls": "json://10.0.0.5/hook"})})
    assert not bad.is_valid() and "URL number 1" in " ".join(bad.errors["secrets"])
    telegram = "tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz12345/12345"
    assert ChannelForm(data={"name": "t", "kind": "apprise", "secrets": json.dumps({"urls": telegram})}).is_valid()


def test_apprise_refuses_to_send_to_a_server_resolving_to_loopback(allow, internal):
    channel = Channel.objects.create(
        name="ap", kind="apprise", secrets={"urls": f"json://localhost:{internal.port}/secret"}
    )
    recipient = Recipient.objects.create(channel=channel, address="")
    Subscription.objects.create(recipient=recipient, topic="source:1")
    delivery = Delivery.objects.get(event=publish("source:1", {"type": "item.new", "title": "t", "source": 1}))
    assert sending.send_delivery(delivery.pk) == Delivery.Status.FAILED
    delivery.refresh_from_db()
    assert "localhost is not a public address (loopback)" in delivery.error  # its settings are refused as such
    assert internal.requests == []


@pytest.mark.parametrize("url", SAVED)
def test_an_http_request_job_with_a_forbidden_url_is_a_field_error(allow, url):
    with pytest.raises(ValidationError) as info:
        job_kinds.clean_params("http_request", {"url": url})
    assert "not a public address" in " ".join(info.value.message_dict["params.url"])
    form = JobForm(
        data={
            "name": "j",
            "kind": "http_request",
            "params": json.dumps({"url": url}),
            "schedule_type": "interval",
            "interval_seconds": 60,
            "timezone": "UTC",
            "queue": "default",
            "timeout_seconds": 30,
            "max_attempts": 1,
            "backoff_base_seconds": 10,
            "backoff_cap_seconds": 60,
            "backoff_jitter": 0.1,
            "overlap_policy": "forbid",
            "misfire_policy": "coalesce",
            "misfire_grace_seconds": 60,
        }
    )
    assert not form.is_valid() and "not a public address" in " ".join(form.errors["params"])


@pytest.mark.parametrize("url", SAVED)
def test_an_api_message_with_a_forbidden_callback_is_a_field_error(allow, client, url):
    Channel.objects.create(name="avisos", kind="outbox")
    raw = tokens.create("crm")[1]
    data = {"service": "crm", "key": "k1", "channel": "avisos", "body": "Olá", "callback_url": url}
    response = client.post(
        "/api/v1/messages", json.dumps(data), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 422
    assert "not a public address" in " ".join(response.json()["errors"]["callback_url"])
    assert not Message.objects.exists()


def test_allowed_hosts_save_without_errors(allow):
    allow("localhost", "10.0.0.0/8")
    assert job_kinds.clean_params("http_request", {"url": "http://localhost:8000/x"})["url"]
    form = ChannelForm(
        data={
            "name": "w",
            "kind": "wuzapi",
            "config": '{"base_url": "http://10.1.2.3:8080"}',
            "secrets": '{"token": "t"}',
        }
    )
    assert form.is_valid(), form.errors


# A user and password inside an address would be shown wherever the address is: pages, runs, logs, exports.
CREDENTIALS = "https://equipe:s3nha@organizador.example.org/tarefas"


def test_a_password_inside_a_source_or_job_url_is_a_field_error_that_does_not_repeat_it():
    data = {"name": "S", "kind": "html", "url": CREDENTIALS, "config": organizer.CONFIG, "interval_seconds": 30}
    data.update(timeout_seconds=5, timezone="UTC", method="GET", headers={})
    plain = "https://organizador.example.org/tarefas"
    for field, values in {
        "url": {},
        "fallback_urls": {"url": plain, "fallback_urls": [plain + "2", CREDENTIALS]},
        "login_url": {"url": plain, "login_url": CREDENTIALS, "login_fields": {"email": "e", "senha": "s"}},
    }.items():
        form = SourceForm(data={**data, **values})
        assert not form.is_valid()
        message = " ".join(form.errors[field])
        assert "Leave the user and password out of the address" in message and "s3nha" not in message, field
        assert ("Line 2: " in message) == (field == "fallback_urls")

    with pytest.raises(ValidationError) as raised:
        job_kinds.clean_params("http_request", {"url": CREDENTIALS, "method": "GET"})
    assert list(raised.value.message_dict) == ["params.url"] and "s3nha" not in str(raised.value)
    assert "Leave the user and password out" in str(raised.value)
    assert SourceForm(data={**data, "url": plain}).is_valid()
