"""The demo's outbox: a newcomer sees every event as a stored message before setting up a real channel."""

import pytest

from channels_app.events import publish
from channels_app.models import Channel, Delivery
from channels_app.sending import send_delivery
from tests.support.commands import call

pytestmark = pytest.mark.django_db


def test_the_demo_outbox_stores_every_event_and_loading_twice_changes_nothing():
    out, _ = call("demo")
    call("demo")

    assert "outbox channel created" in out
    assert Channel.objects.filter(kind="outbox").count() == 1
    event = publish("source:1", {"type": "item.new", "source_name": "Organizadora", "title": "Tarefa 7"})
    delivery = Delivery.objects.get(event=event)
    assert send_delivery(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert "Tarefa 7" in delivery.body and delivery.provider_id == "outbox"
