"""A channel's pace on the one slot mechanism (channels_app.pacing → scheduler.shared.budgets, budget "channel:<pk>"):
the spacing, and a slot too far away putting the delivery back in line instead of holding the worker. The
spacing across worker processes is tested in test_delivery_processes.py, in one process in
test_delivery_flow.py."""

import pytest
from django.utils import timezone

from channels_app import pacing, sending
from channels_app.events import publish
from channels_app.models import Delivery
from scheduler.models import Budget
from tests.channels_app.support import item_event, recipient, wuzapi_channel

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.alone,
]  # outside a transaction, as a worker reserves


def test_an_unpaced_channel_takes_no_slot(wuzapi):
    channel = wuzapi_channel(wuzapi)
    assert pacing.reserve(channel, max_wait=0) is None
    assert not Budget.objects.exists()


def test_the_pace_is_the_channels_budget_with_the_margin(wuzapi):
    channel = wuzapi_channel(wuzapi, pace_per_minute=30)  # a slot every 2 s, 2.16 s with the 8 % margin
    other = wuzapi_channel(wuzapi, name="other", pace_per_minute=30)
    assert pacing.reserve(channel, max_wait=0) is None
    assert Budget.objects.get(pk=f"channel:{channel.pk}").per_second is None  # the pace stays the channel's
    later = pacing.reserve(channel, max_wait=1)  # too far: nothing taken, the moment told
    assert 2.0 < (later - timezone.now()).total_seconds() <= 2.16
    assert 2.0 < (pacing.reserve(channel, max_wait=1) - timezone.now()).total_seconds() <= 2.16
    assert pacing.reserve(other, max_wait=0) is None  # each channel its own pace


def test_a_send_whose_slot_is_too_far_goes_back_in_line_without_an_attempt(wuzapi, settings):
    settings.VIGIA_DELIVERY_MAX_PACE_WAIT = 5
    channel = wuzapi_channel(wuzapi, pace_per_minute=1)  # a slot every 64.8 s
    for n in range(2):
        recipient(channel, f"551190000000{n}")
    first, second = Delivery.objects.filter(event=publish("source:1", item_event())).order_by("pk")

    assert sending.send_delivery(first.pk) == "sent"
    assert sending.send_delivery(second.pk) == "deferred"

    second.refresh_from_db()
    assert second.status == "retrying" and second.attempts == 0 and second.error == ""
    assert 64 < (second.next_attempt_at - timezone.now()).total_seconds() <= 64.8
    assert len(wuzapi.messages) == 1
