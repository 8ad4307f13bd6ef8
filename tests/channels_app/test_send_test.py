""" "Send test" adds nothing to the channel: through the dashboard and through `send_test`, a test to an
address typed for it reaches the loopback Wuzapi once and leaves no recipient (so adding the real recipient
afterwards works); a test to one of the channel's recipients is an ordinary delivery to it; a bad address is
a field error and sends nothing."""

import pytest
from django.urls import reverse

from channels_app.forms import RecipientForm
from channels_app.models import Delivery, Event, Recipient, Subscription
from tests.channels_app.support import recipient, wuzapi_channel
from tests.support.commands import call, call_failing

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
GROUP = "120363025246125486@g.us"


def send_url(channel):
    return reverse("channels_app:channel_test", args=[channel.pk])


def add_the_real_group(channel):
    form = RecipientForm(data={"channel": channel.pk, "address": GROUP, "label": "Equipe", "active": "on"})
    assert form.is_valid(), form.errors
    return form.save()


def assert_sent_once_and_nothing_created(wuzapi, channel):
    (message,) = wuzapi.wait_for_messages(1)
    assert message.phone == GROUP
    assert not Recipient.objects.exists() and not Subscription.objects.exists() and not Delivery.objects.exists()
    event = Event.objects.get(type="test")  # the send is recorded: the admin lists it
    assert event.topic == f"test:{channel.pk}" and message.id == f"vigia-test-{event.pk}"
    assert event.payload == {
        "channel": channel.name,
        "address": GROUP,
        "status": "sent",
        "error": "",
        "provider_id": event.payload["provider_id"],
    }
    assert event.payload["provider_id"]


def test_the_dashboard_sends_to_a_typed_address_and_creates_no_recipient(staff_client, wuzapi, channel):
    body = staff_client.post(send_url(channel), {"address": GROUP}, **HTMX).content.decode()

    assert "Test message sent." in body and 'id="test-form"' in body and "<html" not in body
    assert_sent_once_and_nothing_created(wuzapi, channel)
    add_the_real_group(channel)  # no "already has the recipient"
    assert Recipient.objects.get().address == GROUP


def test_the_command_sends_to_a_typed_address_and_creates_no_recipient(wuzapi, channel):
    out, _ = call("send_test", channel.name, GROUP)

    assert f"to {GROUP} via {channel.name}: sent" in out
    assert_sent_once_and_nothing_created(wuzapi, channel)
    add_the_real_group(channel)


def test_a_picked_recipient_gets_an_ordinary_delivery_and_nobody_else_does(staff_client, wuzapi, channel):
    team = recipient(channel, GROUP, label="Equipe")
    other = recipient(channel, "5511987654321")

    body = staff_client.post(send_url(channel), {"address": "", "recipient": team.pk}, **HTMX).content.decode()

    assert "Test message sent." in body and reverse("channels_app:delivery", args=[Delivery.objects.get().pk]) in body
    (message,) = wuzapi.wait_for_messages(1)
    delivery = Delivery.objects.get()
    assert delivery.recipient == team and delivery.status == "sent" and message.id == delivery.idempotency_key
    assert set(Recipient.objects.all()) == {team, other} and Subscription.objects.count() == 2


def test_the_page_offers_the_recipients_in_a_select(staff_client, channel):
    team = recipient(channel, GROUP, label="Equipe")

    body = staff_client.get(reverse("channels_app:channel", args=[channel.pk])).content.decode()

    assert '<select name="recipient"' in body and f'<option value="{team.pk}">Equipe — {GROUP}</option>' in body


def test_a_typed_address_of_a_recipient_is_a_delivery_to_it(wuzapi, channel):
    team = recipient(channel, GROUP)

    out, _ = call("send_test", channel.name, GROUP)

    assert "Delivery #" in out and Delivery.objects.get().recipient == team
    assert len(wuzapi.wait_for_messages(1)) == 1 and Recipient.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"address": "11 91234-5678"}, "address", "Include the country code"),
        ({"address": "<b>12</b>"}, "address", "is not a phone number"),
        ({"address": "bad\x00"}, "address", "Null characters are not allowed."),
        ({"address": "", "recipient": "999999"}, "recipient", "Select a valid choice."),
        ({"address": "", "recipient": "x"}, "recipient", "Select a valid choice."),
    ],
)
def test_a_bad_address_is_a_field_error_and_sends_nothing(staff_client, wuzapi, channel, data, field, message):
    body = staff_client.post(send_url(channel), data, **HTMX).content.decode()

    assert f'id="id_{field}_error"' in body and message in body and "test-sent" not in body
    assert "<b>12</b>" not in body
    assert not wuzapi.requests and not Event.objects.exists() and not Delivery.objects.exists()
    assert not Recipient.objects.exists()


def test_an_address_and_a_recipient_together_are_refused(staff_client, wuzapi, channel):
    team = recipient(channel, GROUP)
    body = staff_client.post(send_url(channel), {"address": GROUP, "recipient": team.pk}, **HTMX).content.decode()
    assert "not both" in body and not wuzapi.requests and not Delivery.objects.exists()


def test_the_command_refuses_a_bad_address_and_sends_nothing(wuzapi, channel):
    message, _, _ = call_failing("send_test", channel.name, "11 91234-5678")
    assert "Include the country code" in message
    assert not wuzapi.requests and not Event.objects.exists() and not Recipient.objects.exists()


def test_a_provider_refusal_to_a_typed_address_is_shown_and_recorded(staff_client, wuzapi, channel):
    channel.secrets = {"token": "wrong-token"}
    channel.save()

    body = staff_client.post(send_url(channel), {"address": GROUP}, **HTMX).content.decode()

    assert "test-failed" in body and "unauthorized" in body and "wrong-token" not in body
    event = Event.objects.get()
    assert event.payload["status"] == "failed" and "unauthorized" in event.payload["error"]
    assert not Recipient.objects.exists() and not Delivery.objects.exists()


def test_another_channels_recipient_cannot_be_picked(staff_client, wuzapi, channel):
    elsewhere = recipient(wuzapi_channel(wuzapi, name="other"), GROUP)
    body = staff_client.post(send_url(channel), {"recipient": elsewhere.pk}, **HTMX).content.decode()
    assert "Select a valid choice." in body and not wuzapi.requests
