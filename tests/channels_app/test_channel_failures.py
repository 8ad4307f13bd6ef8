"""How sending records what a channel kind raises: an unknown kind is its own permanent error; an exception
from a kind's own code (a KeyError included) is an ordinary failure, retried, with its traceback; "channel
down" fails the delivery at once, says so in its error, logs it and announces it. Real loopback servers."""

import logging

import pytest

from channels_app import sending
from channels_app.events import publish
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery
from tests.channels_app.support import item_event, recipient
from tests.loopback.server import LoopbackServer

pytestmark = pytest.mark.django_db


def one_delivery(channel, address=""):
    recipient(channel, address)
    return Delivery.objects.get(event=publish("source:1", item_event()))


def attempt(delivery):
    outcome = sending.send_delivery(delivery.pk)
    delivery.refresh_from_db()
    return outcome


def test_a_key_error_inside_a_kind_is_that_kinds_failure_retried_with_its_traceback(monkeypatch):
    channel = Channel.objects.create(name="box", kind="outbox")
    delivery = one_delivery(channel, "equipe")

    def send(config, secrets, address, message):
        return config["missing-setting"]  # a bug: a KeyError from the kind's own code

    monkeypatch.setattr(kinds.get("outbox"), "send", send)
    assert attempt(delivery) == "retrying"
    assert delivery.error.startswith("KeyError: 'missing-setting'\n\nTraceback (most recent call last):")
    assert 'return config["missing-setting"]' in delivery.error and "unknown" not in delivery.error
    assert delivery.next_attempt_at is not None


def test_an_unknown_kind_is_its_own_permanent_error():
    channel = Channel.objects.create(name="gone", kind="carrier-pigeon")
    delivery = one_delivery(channel, "somewhere")
    assert attempt(delivery) == "failed"
    assert delivery.error == "unknown channel kind 'carrier-pigeon': it is not installed"


@pytest.fixture
def downs():
    seen = []

    def listener(sender, channel, reason, **kwargs):
        seen.append((channel.pk, reason))

    sending.channel_down.connect(listener)
    yield seen
    sending.channel_down.disconnect(listener)


@pytest.mark.parametrize("status", [401, 404])
def test_a_webhook_refusing_every_message_is_the_channel_down(status, downs, caplog):
    with LoopbackServer() as hook:
        hook.respond("/hook", status=status, body={"error": "who are you"})
        channel = Channel.objects.create(
            name="hook", kind="webhook", config={"url": hook.url + "/hook"}, secrets={"secret": "s" * 16}
        )
        delivery = one_delivery(channel)
        with caplog.at_level(logging.ERROR, logger="vigia.deliveries"):
            assert attempt(delivery) == "failed"
    reason = f"the webhook refuses every message: HTTP {status} (who are you)"
    assert delivery.error == f"channel down: {reason}" and delivery.attempts == 1
    assert downs == [(channel.pk, reason)]
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [(record.getMessage(), record.channel) for record in errors] == [(f"channel down: {reason}", channel.pk)]


def test_a_crashing_channel_down_listener_does_not_undo_the_delivery(caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("listener bug")

    sending.channel_down.connect(broken)
    try:
        with LoopbackServer() as hook:
            hook.respond("/hook", status=410)
            channel = Channel.objects.create(
                name="hook", kind="webhook", config={"url": hook.url + "/hook"}, secrets={"secret": "s" * 16}
            )
            delivery = one_delivery(channel)
            assert attempt(delivery) == "failed"
    finally:
        sending.channel_down.disconnect(broken)
    assert delivery.error.startswith("channel down: ")
    assert any("listener failed" in record.getMessage() for record in caplog.records)


def test_a_recipient_form_names_an_unknown_kind_and_lets_a_kinds_bug_through(monkeypatch):
    from channels_app.forms import RecipientForm

    gone = Channel.objects.create(name="gone", kind="carrier-pigeon")
    form = RecipientForm(data={"channel": gone.pk, "address": "x", "label": "", "active": True})
    assert not form.is_valid() and "carrier-pigeon" in str(form.errors["channel"])

    box = Channel.objects.create(name="box", kind="outbox")
    monkeypatch.setattr(kinds.get("outbox"), "clean_address", lambda address: {}["bug"])
    with pytest.raises(KeyError, match="bug"):  # a bug is not dressed up as "kind not available"
        RecipientForm(data={"channel": box.pk, "address": "x", "label": "", "active": True}).is_valid()
