"""send_test (one message now, exit status by its outcome) and create_api_token (printed once)."""

import hashlib

from channels_app.models import ApiToken, Channel, Delivery, Event, Recipient
from tests.loopback.server import closed_url
from tests.support.commands import call, call_failing

SECRET = "a-webhook-secret-of-32-characters"


def test_send_test_through_an_outbox_reports_it_sent(db):
    channel = Channel.objects.create(name="Box", kind="outbox")

    out, _ = call("send_test", "Box", "operator")
    again, _ = call("send_test", str(channel.pk), "operator")

    assert "to operator via Box: sent (provider id outbox)" in out and "sent" in again
    # "operator" is no recipient: the tests add none and are recorded on their events.
    assert [event.payload["status"] for event in Event.objects.order_by("pk")] == ["sent", "sent"]
    assert not Recipient.objects.exists() and not Delivery.objects.exists()


def test_send_test_to_an_unreachable_webhook_fails_with_the_error(db):
    url = f"{closed_url()}/hook"
    Channel.objects.create(name="Hook", kind="webhook", config={"url": url}, secrets={"secret": SECRET})

    message, out, err = call_failing("send_test", "Hook")

    assert "via Hook: Failed (permanent error): the webhook unreachable: ConnectError" in message
    assert "not retried" in message  # the test went to no recipient: tried once
    assert SECRET not in message + out + err
    assert Event.objects.get().payload["status"] == "failed" and not Delivery.objects.exists()


def test_send_test_refuses_an_unknown_channel_and_a_bad_address(db):
    Channel.objects.create(name="Mail", kind="email")

    assert call_failing("send_test", "nope", "x")[0] == "No channel 'nope' (give its id or name)."
    assert "'not-mail' is not a valid e-mail address." in call_failing("send_test", "Mail", "not-mail")[0]
    assert not Delivery.objects.exists()


def test_create_api_token_prints_it_once_and_stores_its_digest(db):
    out, err = call("create_api_token", "crm")

    raw = out.strip()
    token = ApiToken.objects.get()
    assert raw.startswith("vig_") and token.name == "crm" and raw.startswith(token.prefix)
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest() != raw
    assert "cannot be shown again" in err

    message, out, _ = call_failing("create_api_token", "crm")
    assert "already exists" in message and not out and ApiToken.objects.count() == 1
