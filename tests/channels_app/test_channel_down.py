"""A channel the provider says cannot send is marked down on the channel, shown on its pages, spared a
request per message while down (one probe a minute), and cleared by the first send that works."""

import pytest

from channels_app import sending
from channels_app.events import publish
from channels_app.models import Channel, Delivery
from tests.channels_app.support import item_event, recipient, wuzapi_channel

pytestmark = pytest.mark.django_db


def test_a_logged_out_session_marks_the_channel_down_and_spares_the_provider(wuzapi, staff_client, settings):
    settings.LANGUAGE_CODE = "en"
    channel = wuzapi_channel(wuzapi)
    recipient(channel)
    wuzapi.session = "not_logged_in"
    first, second = publish("source:1", item_event()), publish("source:1", item_event(title="Edital 13/2026"))
    for event in (first, second):
        sending.send_delivery(Delivery.objects.get(event=event).pk)
    channel.refresh_from_db()
    assert channel.down_since and "not logged in" in channel.down_reason
    assert len(wuzapi.requests) == 1  # the second failed at once: no request while down
    assert Delivery.objects.get(event=second).error.startswith("channel down: ")
    page = staff_client.get("/channels/").content.decode()
    assert 'class="badge down"' in page
    assert "Down since" in staff_client.get(f"/channels/{channel.pk}/").content.decode()


def test_the_probe_reaches_the_provider_and_a_send_that_works_clears_it(wuzapi, settings):
    settings.VIGIA_CHANNEL_PROBE_SECONDS = 0.001
    channel = wuzapi_channel(wuzapi)
    recipient(channel)
    wuzapi.session = "not_logged_in"
    sending.send_delivery(Delivery.objects.get(event=publish("source:1", item_event())).pk)
    wuzapi.session = "connected"  # the operator scanned the QR code
    delivery = Delivery.objects.get(event=publish("source:1", item_event(title="Edital 13/2026")))
    assert sending.send_delivery(delivery.pk) == "sent"
    channel = Channel.objects.get(pk=channel.pk)
    assert channel.down_since is None and channel.down_reason == ""


def test_a_channel_whose_stored_settings_no_longer_validate_is_down_with_the_reason(wuzapi):
    channel = wuzapi_channel(wuzapi)
    recipient(channel)
    Channel.objects.filter(pk=channel.pk).update(config={"base_url": "not a url at all"})
    delivery = Delivery.objects.get(event=publish("source:1", item_event()))
    assert sending.send_delivery(delivery.pk) == "failed"
    channel.refresh_from_db()
    assert "stored settings are no longer valid" in channel.down_reason and "base_url" in channel.down_reason
    assert not wuzapi.requests
