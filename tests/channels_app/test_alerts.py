"""Failure policies (channels_app.alerts): N failures in a row, one recovery, reminders on an injected clock,
quiet hours, silences, the dead man's switch, channels as alerting objects, and alerts grouped per recipient."""

from datetime import UTC, datetime, time, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Min
from django.utils import timezone
from django_q.models import OrmQ

from channels_app import alerts, sending
from channels_app.events import publish
from channels_app.models import Channel, Delivery, Event, Recipient, Watch
from scheduler import services
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scrapers.sources import checks
from tests.channels_app.support import item_event, recipient
from tests.loopback import organizer
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo


def queued_deliveries():
    """The delivery ids waiting on the queue (held ones are not there yet)."""
    return sorted(task.task["args"][0] for task in OrmQ.objects.all() if task.task["func"] == sending.events.SEND)


def types(**filters):
    return list(Event.objects.filter(**filters).order_by("pk").values_list("type", flat=True))


def fail_runs(job, count):
    for _ in range(count):
        run = services.run_now(job)
        execute_run(run.id)


# --- N consecutive failures, one alert, one recovery ----------------------------------------------------------


def test_a_job_failing_five_times_with_n_3_alerts_once_then_recovers_once(channel, wuzapi):
    watcher = recipient(channel, topics=["job:*:failed"])
    job = make_job(kind="test_fail_runs", params={"runs": 5}, max_attempts=1)
    policy = alerts.watch_for(f"job:{job.pk}", job.name)
    Watch.objects.filter(pk=policy.pk).update(alert_after=3)

    fail_runs(job, 2)
    assert types() == []  # two failures: not yet
    assert Watch.objects.get(subject=f"job:{job.pk}").state == "failing"
    fail_runs(job, 3)
    assert types() == ["job.failed"]  # the third failure alerts; the fourth and fifth add nothing
    watch = Watch.objects.get(subject=f"job:{job.pk}")
    assert watch.state == "alerting" and watch.failures == 5 and watch.last_error == "planned failure 5"
    assert sending.send_delivery(Delivery.objects.get(recipient=watcher).pk) == "sent"

    fail_runs(job, 2)  # the sixth run succeeds, then the seventh
    assert types() == ["job.failed", "job.recovered"]
    assert Watch.objects.get(subject=f"job:{job.pk}").state == "ok"
    assert sending.send_delivery(Delivery.objects.get(recipient=watcher, event__type="job.recovered").pk) == "sent"
    bodies = [arrival.body for arrival in wuzapi.messages.values()]
    assert len(bodies) == 2 and job.name in bodies[0] and "falhou" in bodies[0] and "voltou" in bodies[1]


def test_with_the_default_policy_a_job_alerts_at_its_first_failure_and_not_at_every_one(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(kind="test_fail_runs", params={"runs": 3}, max_attempts=1)
    fail_runs(job, 3)
    assert types() == ["job.failed"]  # was one message per failed run: a flood at one-minute intervals


def test_no_recovery_notice_when_the_policy_says_so(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(kind="test_fail_runs", params={"runs": 1}, max_attempts=1)
    Watch.objects.create(subject=f"job:{job.pk}", notify_recovery=False)
    fail_runs(job, 2)
    assert types() == ["job.failed"] and Watch.objects.get(subject=f"job:{job.pk}").state == "ok"


def test_a_failing_object_that_never_reached_n_recovers_silently(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(kind="test_fail_runs", params={"runs": 2}, max_attempts=1)
    Watch.objects.create(subject=f"job:{job.pk}", alert_after=3)
    fail_runs(job, 3)
    assert types() == []


# --- reminders on an injected clock ---------------------------------------------------------------------------


def test_reminders_come_every_period_while_it_fails_and_stop_when_acknowledged(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(name="Export")
    Watch.objects.create(subject=f"job:{job.pk}", remind_every=timedelta(minutes=10))
    alerts.failed(f"job:{job.pk}", "HTTP 503", name=job.name, now=T0)
    assert types() == ["job.failed"]

    assert alerts.sweep(T0 + timedelta(minutes=9, seconds=59))["reminders"] == 0
    assert alerts.sweep(T0 + timedelta(minutes=10))["reminders"] == 1
    assert alerts.sweep(T0 + timedelta(minutes=10, seconds=30))["reminders"] == 0  # not twice for one period
    assert alerts.sweep(T0 + timedelta(minutes=20))["reminders"] == 1
    assert types() == ["job.failed", "job.still_failing", "job.still_failing"]
    reminder = Event.objects.filter(type="job.still_failing").last()
    assert reminder.payload["minutes"] == 20 and reminder.payload["error"] == "HTTP 503"

    alerts.acknowledge(Watch.objects.get(subject=f"job:{job.pk}"), "ana")
    assert alerts.sweep(T0 + timedelta(hours=2))["reminders"] == 0
    watch = Watch.objects.get(subject=f"job:{job.pk}")
    assert watch.acknowledged_by == "ana" and watch.state == "alerting"  # still failing, on the page


def test_after_a_long_stop_one_reminder_then_the_next_a_period_later(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job()
    Watch.objects.create(subject=f"job:{job.pk}", remind_every=timedelta(minutes=10))
    alerts.failed(f"job:{job.pk}", "down", now=T0)
    assert alerts.sweep(T0 + timedelta(hours=3))["reminders"] == 1  # not eighteen at once
    assert alerts.sweep(T0 + timedelta(hours=3, minutes=5))["reminders"] == 0
    assert alerts.sweep(T0 + timedelta(hours=3, minutes=10))["reminders"] == 1


def test_a_silenced_alert_sends_nothing_until_the_silence_ends(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job()
    watch = Watch.objects.create(subject=f"job:{job.pk}", remind_every=timedelta(minutes=10))
    alerts.silence(watch, T0 + timedelta(minutes=25), "ana")
    alerts.failed(f"job:{job.pk}", "down", now=T0)
    assert Watch.objects.get(pk=watch.pk).state == "alerting" and types() == []  # shown, not sent
    alerts.sweep(T0 + timedelta(minutes=10))
    alerts.sweep(T0 + timedelta(minutes=20))
    assert types() == []
    alerts.sweep(T0 + timedelta(minutes=30))
    assert types() == ["job.still_failing"]


# --- quiet hours ----------------------------------------------------------------------------------------------


def test_reminders_and_recoveries_wait_for_the_end_of_quiet_hours_but_a_new_alert_does_not(channel):
    night = Recipient.objects.create(
        channel=channel,
        address="5511911112222",
        time_zone="America/Sao_Paulo",
        quiet_from=time(22),
        quiet_until=time(7),
    )
    recipient_topics = ["job:*:failed"]
    for topic in recipient_topics:
        night.subscriptions.create(topic=topic)
    job = make_job()
    Watch.objects.create(subject=f"job:{job.pk}", remind_every=timedelta(hours=1))
    late_evening = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 23:00 in São Paulo

    alerts.failed(f"job:{job.pk}", "down", now=late_evening)
    alert = Delivery.objects.get(event__type="job.failed")
    assert alert.pk in queued_deliveries()  # urgent: on its way now

    Delivery.objects.filter(event__type="job.failed").delete()
    OrmQ.objects.all().delete()
    # The reminder an hour later (00:00 local) is recorded now and released at 07:00 local (10:00 UTC).
    with mock.patch("channels_app.events.timezone.now", return_value=late_evening + timedelta(hours=1)):
        alerts.sweep(late_evening + timedelta(hours=1))
    reminder = Delivery.objects.get(event__type="job.still_failing")
    assert reminder.next_attempt_at == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    assert queued_deliveries() == []
    assert sending.requeue_due(datetime(2026, 12, 8, 9, 59, tzinfo=UTC)) == 0
    assert sending.requeue_due(datetime(2026, 12, 8, 10, 0, tzinfo=UTC)) == 1


def test_quiet_hours_inside_one_day_and_outside_them():
    from channels_app.alert_notices import quiet_until

    lunch = Recipient(time_zone="America/Sao_Paulo", quiet_from=time(12), quiet_until=time(14))
    assert quiet_until(lunch, datetime(2026, 12, 7, 15, 30, tzinfo=UTC)) == datetime(2026, 12, 7, 17, tzinfo=UTC)
    assert quiet_until(lunch, datetime(2026, 12, 7, 17, 0, tzinfo=UTC)) is None  # 14:00: over
    assert quiet_until(Recipient(time_zone="UTC"), T0) is None  # no quiet hours


# --- a hundred at once: one grouped notice per recipient ------------------------------------------------------


def test_a_hundred_sources_failing_at_once_make_one_grouped_notice_per_recipient(channel, wuzapi, settings):
    settings.VIGIA_ALERT_GROUP_SECONDS = 30
    settings.VIGIA_SOURCE_BROKEN_AFTER = 1
    ops = recipient(channel, "5511900000001", topics=["sources:broken"])
    boss = recipient(channel, "5511900000002", topics=["*", "source:*"])  # subscribed twice over: told once
    sources = [organizer.make_source(f"http://127.0.0.1:9/{n}", name=f"Gincana {n:03d}") for n in range(100)]
    started = timezone.now()
    for source in sources:
        checks.record_failure(source, "HTTP 503 from 127.0.0.1", started)

    assert Event.objects.filter(type="source.broken").count() == 100
    held = Delivery.objects.filter(event__type="source.broken")
    # Held to be grouped: queued now, each task starting no earlier than its delivery's time.
    assert held.count() == 200 and queued_deliveries() == sorted(held.values_list("pk", flat=True))
    assert held.aggregate(first=Min("next_attempt_at"))["first"] >= started + timedelta(seconds=30)
    starts = {task.task["args"][0]: task.lock for task in OrmQ.objects.all()}
    assert all(starts[delivery.pk] == delivery.next_attempt_at for delivery in held)
    for pk in queued_deliveries():
        sending.send_delivery(pk)

    messages = list(wuzapi.messages.values())
    assert sorted(message.phone for message in messages) == ["5511900000001", "5511900000002"]
    for message in messages:
        assert "100 alertas" in message.body
        assert all(f"Gincana {n:03d}" in message.body for n in range(100))
    by_status = {status: held.filter(status=status).count() for status in ("sent", "grouped")}
    assert by_status == {"sent": 2, "grouped": 198}
    for person in (ops, boss):
        [leader] = held.filter(recipient=person, status="sent")
        assert held.filter(recipient=person, grouped_into=leader).count() == 99


def test_after_an_alert_message_the_next_alerts_wait_to_go_together(channel, settings):
    settings.VIGIA_ALERT_FLOOD_SECONDS = 60
    recipient(channel, topics=["job:*:failed"])
    first, second, third = make_job(name="A"), make_job(name="B"), make_job(name="C")
    alerts.failed(f"job:{first.pk}", "down", name="A")
    lone = Delivery.objects.get(event__payload__job=first.pk)
    assert lone.pk in queued_deliveries() and lone.next_attempt_at > timezone.now() + timedelta(seconds=50)

    alerts.failed(f"job:{second.pk}", "down", name="B")
    alerts.failed(f"job:{third.pk}", "down", name="C")
    later = Delivery.objects.exclude(pk=lone.pk)
    assert {delivery.next_attempt_at for delivery in later} == {lone.created_at + timedelta(seconds=60)}
    assert sending.send_delivery(lone.pk) == "sent"  # the first went alone; the next two go as one
    leader, other = later.order_by("pk")
    with mock.patch("django.utils.timezone.now", return_value=leader.next_attempt_at):  # its task starts then
        assert sending.send_delivery(leader.pk) == "sent"
    assert sending.send_delivery(other.pk) == "not claimed"
    leader.refresh_from_db()
    assert leader.body.startswith("🔔 2 alertas:") and "*B*" in leader.body and "*C*" in leader.body


def test_an_event_on_several_of_a_recipients_subscriptions_reaches_them_once(channel):
    source = organizer.make_source("http://127.0.0.1:9/x", name="Gincana")
    everything = recipient(channel, topics=["*", "sources:broken", source.topic, "source:*"])
    Watch.objects.create(subject=source.topic, alert_after=1)
    checks.record_failure(source, "HTTP 500", timezone.now())
    assert Delivery.objects.filter(recipient=everything).count() == 1


# --- channels are alerting objects too ------------------------------------------------------------------------


def test_a_channel_down_is_told_through_the_other_channels_only(channel, wuzapi):
    outbox = Channel.objects.create(name="Caixa", kind="outbox")
    on_whatsapp = recipient(channel, topics=["channels:down", "source:1"])
    on_outbox = recipient(outbox, "ops", topics=["channels:down"])
    wuzapi.session = "not_logged_in"  # the WhatsApp session was logged out

    event = publish("source:1", item_event())
    assert sending.send_delivery(Delivery.objects.get(event=event).pk) == "failed"

    [down] = Event.objects.filter(type="channel.down")
    assert down.topic == f"channel:{channel.pk}" and down.payload["channel_name"] == channel.name
    assert list(Delivery.objects.filter(event=down).values_list("recipient", flat=True)) == [on_outbox.pk]
    assert not Delivery.objects.filter(event=down, recipient=on_whatsapp).exists()

    wuzapi.session = "connected"  # the operator scanned the QR code again
    Channel.objects.filter(pk=channel.pk).update(down_since=None)  # as the channel page's "retry" does
    again = publish("source:1", item_event(title="Outra"))
    assert sending.send_delivery(Delivery.objects.get(event=again).pk) == "sent"
    [back] = Event.objects.filter(type="channel.recovered")
    assert list(Delivery.objects.filter(event=back).values_list("recipient", flat=True)) == [on_outbox.pk]
    assert not Channel.objects.get(pk=channel.pk).failing


def test_a_channel_alerts_after_three_messages_it_could_not_deliver(channel, wuzapi):
    outbox = Channel.objects.create(name="Caixa", kind="outbox")
    recipient(outbox, "ops", topics=["channels:down"])
    recipient(channel, topics=["source:1"])
    for n in range(3):
        wuzapi.fail_next(400, body="phone number is not on WhatsApp")
        event = publish("source:1", item_event(title=f"T{n}"))
        sending.send_delivery(Delivery.objects.get(event=event).pk)
        assert types(type="channel.down") == ([] if n < 2 else ["channel.down"])


# --- the dead man's switch ------------------------------------------------------------------------------------


def test_the_dead_mans_switch_fires_for_a_paused_job_once_and_clears_with_a_success(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(name="Backup", kind="noop")
    services.pause([job])
    Watch.objects.create(
        subject=f"job:{job.pk}",
        expect_every=timedelta(hours=1),
        expect_grace=timedelta(minutes=10),
        policy_set_at=T0 - timedelta(hours=3),
    )
    success = T0 - timedelta(hours=2)
    Run.objects.create(job=job, scheduled_for=success, due_at=success, status="succeeded", finished_at=success)
    Job.objects.filter(pk=job.pk).update(created_at=T0 - timedelta(days=1))

    assert alerts.sweep(T0 - timedelta(minutes=51))["late"] == 0  # 1 h 09 min since the success: in grace
    assert alerts.sweep(T0 - timedelta(minutes=49))["late"] == 1  # 1 h 11 min
    assert alerts.sweep(T0)["late"] == 0  # told once
    [late] = Event.objects.filter(type="job.late")
    assert late.topic == f"job:{job.pk}:failed" and "No success since" in late.payload["error"]

    services.resume([job])
    execute_run(services.run_now(job).id)
    assert types() == ["job.late", "job.on_time"]


def test_a_new_switch_does_not_fire_for_the_silence_before_it_was_set(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(name="Old")
    Job.objects.filter(pk=job.pk).update(created_at=T0 - timedelta(days=30))
    Watch.objects.create(subject=f"job:{job.pk}", expect_every=timedelta(hours=1), policy_set_at=T0)
    assert alerts.sweep(T0 + timedelta(minutes=59))["late"] == 0
    assert alerts.sweep(T0 + timedelta(minutes=61))["late"] == 1


# --- bad policies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"alert_after": 0}, "alert_after"),
        ({"alert_after": 1001}, "alert_after"),
        ({"remind_every": timedelta(seconds=30)}, "remind_every"),
        ({"expect_every": timedelta(seconds=59)}, "expect_every"),
        ({"expect_grace": timedelta(minutes=-1)}, "expect_grace"),
    ],
)
def test_nonsensical_policies_are_field_errors(fields, field):
    with pytest.raises(ValidationError) as raised:
        Watch(subject="job:1", **fields).full_clean()
    assert list(raised.value.message_dict) == [field]


def test_quiet_hours_in_a_zone_that_does_not_exist_are_a_field_error(channel):
    with pytest.raises(ValidationError) as raised:
        Recipient(channel=channel, address="1", time_zone="America/Atlantis").full_clean()
    assert list(raised.value.message_dict) == ["time_zone"] and "America/Atlantis" in str(raised.value)


def test_a_deleted_object_leaves_no_open_alert_behind(channel):
    source = organizer.make_source("http://127.0.0.1:9/x", name="Gincana")
    job = make_job()
    for subject in (source.topic, f"job:{job.pk}", f"channel:{channel.pk}"):
        alerts.failed(subject, "down", count=5)
    assert Watch.objects.filter(state="alerting").count() == 3
    source.delete()
    job.delete()
    channel.delete()
    assert not Watch.objects.exists()
