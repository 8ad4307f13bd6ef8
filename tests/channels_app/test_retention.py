"""Delivery history: old final deliveries go, then events with no delivery left; unsent ones stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Channel, Delivery, Event, Message, Recipient
from scheduler.shared import retention


@pytest.fixture
def recipients(db):
    channel = Channel.objects.create(name="outbox", kind="outbox")
    return [Recipient.objects.create(channel=channel, address=f"r{i}") for i in range(3)]


def event(age, key=None):
    return Event.objects.create(topic="source:1", type="item.new", key=key, created_at=timezone.now() - age)


def delivery(event, recipient, status, age):
    return Delivery.objects.create(
        event=event, recipient=recipient, status=status, body="hi", created_at=timezone.now() - age
    )


def prune(batch_size=100):
    result, failed = retention.prune_all(batch_size=batch_size, pause=0)
    assert failed == []
    return result


def test_old_final_deliveries_go_then_their_events(recipients, settings):
    settings.VIGIA_RETAIN_DELIVERIES_DAYS = 90
    old, recent = timedelta(days=91), timedelta(days=89)

    done = event(old, key="done")  # every delivery final: it and its event go
    finals = [delivery(done, r, status, old) for r, status in zip(recipients, ["sent", "failed", "dead"], strict=True)]
    mixed = event(old, key="mixed")  # one still retrying: it and the event stay, the sent one goes
    mixed_sent = delivery(mixed, recipients[0], "sent", old)
    waiting = [delivery(mixed, recipients[1], "retrying", old), delivery(mixed, recipients[2], "pending", old)]
    lone = event(old)  # published to nobody
    cancelled = delivery(event(old), recipients[0], "cancelled", old)
    fresh = event(recent, key="fresh")
    fresh_sent = delivery(fresh, recipients[0], "sent", recent)
    sending = delivery(event(old), recipients[0], "sending", old)  # claimed by a worker right now

    result = prune()

    assert result["deliveries"] == {"deleted": 5, "batches": 1, "days": 90}
    assert result["events"] == {"deleted": 3, "batches": 1, "days": 90}  # done, lone, cancelled's
    gone = [*finals, mixed_sent, cancelled]
    assert not Delivery.objects.filter(pk__in=[d.pk for d in gone]).exists()
    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in [*waiting, fresh_sent, sending]}
    assert set(Event.objects.values_list("pk", flat=True)) == {mixed.pk, fresh.pk, sending.event_id}
    assert not Event.objects.filter(pk__in=[done.pk, lone.pk, cancelled.event_id]).exists()


def test_a_scheduled_message_outlives_its_pruned_delivery(recipients, settings):
    settings.VIGIA_RETAIN_DELIVERIES_DAYS = 30
    old = timedelta(days=31)
    sent = delivery(event(old), recipients[0], "sent", old)
    message = Message.objects.create(
        service="crm",
        key="k1",
        channel=recipients[0].channel,
        to="r0",
        body="hi",
        send_at=timezone.now() - old,
        status="sent",
        delivery=sent,
    )

    assert prune()["deliveries"]["deleted"] == 1

    message.refresh_from_db()
    assert message.status == "sent" and message.delivery is None  # the API still answers for (service, key)


def test_batches_of_two(recipients, settings):
    settings.VIGIA_RETAIN_DELIVERIES_DAYS = 1
    for i in range(5):
        delivery(event(timedelta(days=2)), recipients[i % 3], "sent", timedelta(days=2))

    result = prune(batch_size=2)

    assert result["deliveries"] == {"deleted": 5, "batches": 3, "days": 1}
    assert result["events"] == {"deleted": 5, "batches": 3, "days": 1}
    assert not Delivery.objects.exists() and not Event.objects.exists()


def test_zero_keeps_deliveries_and_events_forever(recipients, settings):
    settings.VIGIA_RETAIN_DELIVERIES_DAYS = 0
    delivery(event(timedelta(days=5000)), recipients[0], "sent", timedelta(days=5000))
    event(timedelta(days=5000))

    result = prune()

    assert result["deliveries"] == result["events"] == {"days": 0}
    assert Delivery.objects.count() == 1 and Event.objects.count() == 2


def test_old_finished_callbacks_go_and_unfinished_ones_stay(db, settings):
    from channels_app.models import Callback

    settings.VIGIA_RETAIN_DELIVERIES_DAYS = 90
    old, recent = timezone.now() - timedelta(days=91), timezone.now() - timedelta(days=89)

    def callback(subject, status, created_at):
        return Callback.objects.create(
            subject=subject, url="https://crm.example/cb", body={}, status=status, created_at=created_at
        )

    gone = [callback(f"run:{n}", status, old) for n, status in enumerate(["sent", "failed", "dead"])]
    kept = [
        callback("run:10", "retrying", old),  # still being told: whatever its age
        callback("run:11", "pending", old),
        callback("run:12", "sent", recent),
    ]

    prune()

    assert not Callback.objects.filter(pk__in=[c.pk for c in gone]).exists()
    assert set(Callback.objects.values_list("pk", flat=True)) == {c.pk for c in kept}
