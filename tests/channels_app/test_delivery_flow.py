"""From publish() to the provider, in process: fan-out, rendering, the queue tasks, and send_delivery()'s
claim / retry / dead / revive / stale-claim rules, against the fake Wuzapi on 127.0.0.1."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.models import OrmQ

from channels_app import events, sending
from channels_app.events import publish
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery, Event, MessageTemplate
from scheduler import services
from scheduler.errors import PermanentError
from scheduler.execution import execute_run
from scheduler.models import Run
from tests.channels_app.support import item_event, recipient, wuzapi_channel
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db


def send_tasks():
    """(func, args, queue) of every queued task, oldest first."""
    return [(q.task["func"], tuple(q.task["args"]), q.key) for q in OrmQ.objects.order_by("id")]


def make_due(delivery):
    """Pretend the delivery's backoff has passed."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def one_delivery(channel, **event):
    recipient(channel)
    published = publish("source:1", item_event(**event))
    return Delivery.objects.get(event=published)


# --- publish: who is told -----------------------------------------------------------------------------
def test_publish_fans_out_to_exact_star_and_pattern_subscriptions(channel, wuzapi):
    exact = recipient(channel, "5511900000001", topics=["source:1"])
    star = recipient(channel, "5511900000002", topics=["*"])
    pattern = recipient(channel, "5511900000003", topics=["source:*"])
    typed = recipient(channel, "5511900000004", topics=["source:1"], event_types=["item.new", "item.updated"])
    both = recipient(channel, "5511900000005", topics=["source:1", "*", "source:*"])  # still one message
    recipient(channel, "5511900000006", topics=["source:1"], event_types=["item.updated"])  # another type
    recipient(channel, "5511900000007", topics=["source:2", "source:1?", "person:*"])  # other topics
    recipient(channel, "5511900000008", topics=["source:1"], active=False)  # inactive
    disabled = Channel.objects.create(name="off", kind="outbox", enabled=False)
    recipient(disabled, "off", topics=["source:1", "*"])  # disabled channel

    event = publish("source:1", item_event(), key="item.new:1:abc")

    deliveries = Delivery.objects.filter(event=event)
    assert sorted(deliveries.values_list("recipient", flat=True)) == sorted(
        r.pk for r in [exact, star, pattern, typed, both]
    )
    assert set(deliveries.values_list("status", flat=True)) == {"pending"}
    assert all(d.next_attempt_at > timezone.now() for d in deliveries)  # the lost-task safety net
    assert sorted(send_tasks()) == sorted(
        (events.SEND, (d.pk,), settings.VIGIA_DELIVERY_QUEUE) for d in deliveries
    )  # one queue task per delivery
    assert not wuzapi.requests  # publishing sends nothing by itself


def test_an_event_heard_on_several_topics_reaches_each_recipient_once(channel):
    """A source broken is news on its own topic and on sources:broken: one event, one message per recipient."""
    everything = recipient(channel, "5511900000001", topics=["*", "sources:broken", "source:1"])
    watcher = recipient(channel, "5511900000002", topics=["sources:broken"])
    owner = recipient(channel, "5511900000003", topics=["source:1"], event_types=["source.broken"])
    recipient(channel, "5511900000004", topics=["sources:broken"], event_types=["source.recovered"])  # other type
    broken = {"type": "source.broken", "source": 1, "source_name": "Gincana", "error": "HTTP 503"}

    event = publish("source:1", broken, also=["sources:broken"])

    assert Event.objects.count() == 1
    heard = sorted(Delivery.objects.filter(event=event).values_list("recipient", flat=True))
    assert heard == sorted(r.pk for r in [everything, watcher, owner])


def test_a_repeated_publish_with_the_same_key_creates_nothing(channel):
    recipient(channel, topics=["source:1"])
    first = publish("source:1", item_event(), key="item.new:1:abc")
    assert first is not None
    assert publish("source:1", item_event(title="other"), key="item.new:1:abc") is None
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1 and OrmQ.objects.count() == 1
    publish("source:1", item_event())  # no key: no idempotency asked for
    assert Event.objects.count() == 2 and Delivery.objects.count() == 2


def test_an_event_nobody_subscribed_to_is_recorded_without_deliveries(channel):
    event = publish("source:99", item_event(source=99))
    assert event.pk and not Delivery.objects.exists() and not OrmQ.objects.exists()


# --- what is said -------------------------------------------------------------------------------------
def test_the_text_uses_the_built_in_default_template(channel):
    delivery = one_delivery(channel, body="Abertas as inscrições & prazos", url="https://example.org/e/12")
    assert delivery.subject == "Prefeitura: Edital 12/2026"
    assert delivery.body == "🆕 Prefeitura\n*Edital 12/2026*\nAbertas as inscrições & prazos\nhttps://example.org/e/12"


def test_the_text_uses_the_operators_template_when_there_is_one(channel, wuzapi):
    MessageTemplate.objects.create(
        name="item.new", subject="Novo: {{ title }}", body="{{ source_name }} publicou {{ title }} & <mais>"
    )
    delivery = one_delivery(channel)
    assert delivery.subject == "Novo: Edital 12/2026"
    assert delivery.body == "Prefeitura publicou Edital 12/2026 & <mais>"  # plain text: nothing escaped

    assert sending.send_delivery(delivery.pk) == "sent"
    assert [a.body for a in wuzapi.requests] == ["Prefeitura publicou Edital 12/2026 & <mais>"]


def test_an_invalid_operator_template_falls_back_to_the_default(channel):
    MessageTemplate.objects.create(name="item.new", body="{% if title %}never closed")
    assert one_delivery(channel).body == "🆕 Prefeitura\n*Edital 12/2026*"


def test_every_attempt_sends_the_words_rendered_at_publish_time(channel, wuzapi):
    wuzapi.fail_next(503)
    delivery = one_delivery(channel)
    sending.send_delivery(delivery.pk)
    MessageTemplate.objects.create(name="item.new", body="changed later")
    make_due(delivery)
    sending.send_delivery(delivery.pk)
    assert [a.body for a in wuzapi.requests] == [delivery.body, delivery.body]


# --- sending: success, retries, failure ---------------------------------------------------------------
def test_a_delivery_is_sent_once_with_its_key_as_the_id(channel, wuzapi):
    delivery = one_delivery(channel)
    assert sending.send_delivery(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.sent_at and not delivery.claimed_at
    assert delivery.provider_id == delivery.idempotency_key == f"vigia-{delivery.pk}"
    [arrival] = wuzapi.requests
    assert (arrival.id, arrival.phone, arrival.body) == (delivery.idempotency_key, "5511987654321", delivery.body)


def test_provider_500_twice_then_200_ends_sent_with_one_message(channel, wuzapi):
    wuzapi.fail_next(500, count=2)
    delivery = one_delivery(channel)
    before = timezone.now()

    assert sending.send_delivery(delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "500" in delivery.error and not delivery.claimed_at
    first_wait = (delivery.next_attempt_at - before).total_seconds()
    backoff = settings.VIGIA_DELIVERY_BACKOFF
    assert backoff <= first_wait <= backoff * 1.3 + 1  # base delay plus up to 30 % jitter
    assert sending.requeue_due() == 0  # not due yet: nothing queued again

    make_due(delivery)
    OrmQ.objects.all().delete()
    assert sending.requeue_due() == 1
    assert send_tasks() == [(events.SEND, (delivery.pk,), settings.VIGIA_DELIVERY_QUEUE)]
    assert sending.requeue_due() == 0  # the sweep moved the safety net on: the next one does not queue it again
    assert sending.send_delivery(delivery.pk) == "retrying"
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2

    make_due(delivery)
    assert sending.requeue_due() == 1
    assert sending.send_delivery(delivery.pk) == "sent"

    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 3 and delivery.error == ""
    assert wuzapi.ids() == [delivery.idempotency_key] * 3
    assert list(wuzapi.messages) == [delivery.idempotency_key]  # exactly one message at the provider


def test_a_duplicate_task_does_not_send_before_the_backoff_is_over(channel, wuzapi):
    wuzapi.fail_next(429, headers={"Retry-After": "120"})
    delivery = one_delivery(channel)
    assert sending.send_delivery(delivery.pk) == "retrying"
    # A second task for it (the sweep queued it twice while the queue was backlogged) runs now:
    assert sending.send_delivery(delivery.pk) == "not claimed"
    assert len(wuzapi.requests) == 1


def test_the_backoff_doubles_and_respects_retry_after(channel, wuzapi, settings):
    settings.VIGIA_DELIVERY_BACKOFF = 10
    wuzapi.fail_next(503, count=2)
    wuzapi.fail_next(429, headers={"Retry-After": "120"})
    delivery = one_delivery(channel)
    waits = []
    for _ in range(3):
        start = timezone.now()
        sending.send_delivery(delivery.pk)
        delivery.refresh_from_db()
        waits.append((delivery.next_attempt_at - start).total_seconds())
        make_due(delivery)
    assert 10 <= waits[0] <= 13.5 and 20 <= waits[1] <= 26.5
    assert 120 <= waits[2] <= 156.5  # 40 s by the backoff, but the provider asked for 120


def test_a_permanent_error_fails_at_once(channel, wuzapi):
    wuzapi.session = "no_session"  # the phone was logged out: the channel is down
    delivery = one_delivery(channel)
    assert sending.send_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1 and "No session" in delivery.error
    make_due(delivery)
    assert sending.requeue_due() == 0 and sending.send_delivery(delivery.pk) == "not claimed"
    assert len(wuzapi.requests) == 1 and not wuzapi.messages


def test_a_disabled_channel_fails_its_deliveries_without_sending(channel, wuzapi):
    delivery = one_delivery(channel)
    Channel.objects.filter(pk=channel.pk).update(enabled=False)
    assert sending.send_delivery(delivery.pk) == "failed"
    assert "disabled" in Delivery.objects.get(pk=delivery.pk).error and not wuzapi.requests


def test_transient_errors_up_to_max_attempts_make_it_dead_and_revive_sends_it(channel, wuzapi, settings):
    settings.VIGIA_DELIVERY_MAX_ATTEMPTS = 3
    wuzapi.fail_next(503, count=3)
    delivery = one_delivery(channel)
    outcomes = []
    for _ in range(3):
        outcomes.append(sending.send_delivery(delivery.pk))
        make_due(delivery)
    assert outcomes == ["retrying", "retrying", "dead"]
    delivery.refresh_from_db()
    assert delivery.status == "dead" and delivery.attempts == 3 and "503" in delivery.error
    assert sending.requeue_due() == 0 and sending.send_delivery(delivery.pk) == "not claimed"
    assert len(wuzapi.requests) == 3 and not wuzapi.messages

    OrmQ.objects.all().delete()
    assert sending.revive([delivery]) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == ("pending", 0, "")
    assert send_tasks() == [(events.SEND, (delivery.pk,), settings.VIGIA_DELIVERY_QUEUE)]
    assert sending.revive([delivery]) == 0  # only dead and failed ones

    assert sending.send_delivery(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 1
    assert list(wuzapi.messages) == [delivery.idempotency_key]


def test_revive_brings_back_a_failed_delivery(channel, wuzapi):
    wuzapi.answer_next("unauthorized")
    delivery = one_delivery(channel)
    assert sending.send_delivery(delivery.pk) == "failed"
    assert sending.revive([delivery]) == 1
    assert sending.send_delivery(delivery.pk) == "sent"


def test_a_sent_delivery_is_not_sent_again(channel, wuzapi):
    delivery = one_delivery(channel)
    assert sending.send_delivery(delivery.pk) == "sent"
    assert sending.send_delivery(delivery.pk) == "not claimed"
    make_due(delivery)
    assert sending.requeue_due() == 0
    assert sending.revive([delivery]) == 0
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and len(wuzapi.requests) == 1


def test_a_kind_that_crashes_is_retried_with_the_reason(wuzapi, monkeypatch):
    channel = Channel.objects.create(name="box", kind="outbox")
    delivery = one_delivery(channel)

    def crash(*args):
        raise ZeroDivisionError("a bug in the kind")

    monkeypatch.setattr(kinds.get("outbox"), "send", crash)
    assert sending.send_delivery(delivery.pk) == "retrying"
    assert "ZeroDivisionError: a bug in the kind" in Delivery.objects.get(pk=delivery.pk).error


def test_an_unknown_kind_fails_permanently():
    channel = Channel.objects.create(name="gone", kind="carrier-pigeon")
    delivery = one_delivery(channel)
    assert sending.send_delivery(delivery.pk) == "failed"
    assert "carrier-pigeon" in Delivery.objects.get(pk=delivery.pk).error


# --- a worker lost mid-send ------------------------------------------------------------------------------
def stale_moment():
    return timezone.now() - timedelta(seconds=settings.VIGIA_DELIVERY_STALE_AFTER + 1)


def test_a_delivery_stuck_in_sending_is_resent_with_the_same_id(channel, wuzapi):
    delivery = one_delivery(channel)
    # A worker claimed it, the provider accepted the message, and the worker died before recording it.
    lost = sending.claim(delivery.pk, "lost-host:4242")
    message = kinds.Outgoing(key=lost.idempotency_key, subject=lost.subject, text=lost.body)
    kinds.get("wuzapi").send(channel.config, channel.secrets, lost.recipient.address, message)
    OrmQ.objects.all().delete()

    # Until the claim is stale nobody touches it.
    assert sending.requeue_due() == 0
    assert sending.send_delivery(delivery.pk) == "not claimed"

    Delivery.objects.filter(pk=delivery.pk).update(claimed_at=stale_moment())
    assert sending.requeue_due() == 1
    assert send_tasks() == [(events.SEND, (delivery.pk,), settings.VIGIA_DELIVERY_QUEUE)]
    assert sending.send_delivery(delivery.pk) == "sent"

    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2 and delivery.worker != "lost-host:4242"
    assert wuzapi.ids() == [delivery.idempotency_key] * 2
    assert list(wuzapi.messages) == [delivery.idempotency_key]  # the provider shows one message
    # Had the lost worker come back, its late verdict would not overwrite the new one.
    assert sending.finish(lost, "lost-host:4242", error=PermanentError("late")) == "taken over"
    assert Delivery.objects.get(pk=delivery.pk).status == "sent"


def test_a_pending_delivery_whose_task_was_lost_is_queued_again(channel, wuzapi):
    delivery = one_delivery(channel)
    OrmQ.objects.all().delete()  # the task is gone
    assert sending.requeue_due() == 0  # the safety net is not due yet
    make_due(delivery)
    assert sending.requeue_due() == 1 and len(send_tasks()) == 1
    assert sending.send_delivery(delivery.pk) == "sent"


def test_pacing_spaces_sends_in_process(wuzapi):
    channel = wuzapi_channel(wuzapi, pace_per_minute=300)  # a slot every 0.2 s (0.216 with the margin)
    for n in range(4):
        recipient(channel, f"551190000000{n}")
    event = publish("source:1", item_event())
    start = time.monotonic()  # the first slot is now; the k-th is k × 0.2 s (and a margin) later
    for delivery in Delivery.objects.filter(event=event):
        assert sending.send_delivery(delivery.pk) == "sent"
    assert len(wuzapi.messages) == 4
    arrivals = sorted(arrival.at for arrival in wuzapi.requests)
    # Each send leaves no earlier than its slot (one that left late does not push the next slot back, so
    # a gap may be shorter than 0.2 s, never a burst).
    early = [round(at - start - k * 0.2, 3) for k, at in enumerate(arrivals)]
    assert min(early) >= -0.02, early
    gaps = wuzapi.gaps()
    assert min(gaps) >= 0.12, [round(gap, 3) for gap in gaps]


# --- job-failure alerts ---------------------------------------------------------------------------------
def test_a_run_that_fails_for_good_publishes_job_failed(channel):
    watcher = recipient(channel, topics=["job:*:failed"])
    job = make_job(kind="test_fail", params={"failures": 5, "permanent": True}, max_attempts=3)
    run = services.run_now(job)
    assert execute_run(run.id) == "failed"

    event = Event.objects.get(type="job.failed")
    # keyed by the failing episode (channels_app.alerts): a repeated ending publishes nothing more
    assert event.topic == f"job:{job.pk}:failed" and event.key.startswith(f"alert:job:{job.pk}:")
    assert event.payload["run"] == run.pk
    assert event.payload["job"] == job.pk and event.payload["attempt"] == 1
    assert event.payload["error"] == "planned failure 1"
    delivery = Delivery.objects.get(event=event)
    assert delivery.recipient == watcher and job.name in delivery.body and "planned failure 1" in delivery.body


def test_a_retried_run_publishes_only_on_its_last_attempt(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(kind="test_fail", params={"failures": 5}, max_attempts=2, backoff_base_seconds=1)
    first = services.run_now(job)
    assert execute_run(first.id) == "failed"
    assert not Event.objects.filter(type="job.failed").exists()  # a retry follows

    retry = Run.objects.get(job=job, attempt=2)
    Run.objects.filter(pk=retry.pk).update(status="queued")
    assert execute_run(retry.id) == "failed"
    [event] = Event.objects.filter(type="job.failed")
    assert event.topic == f"job:{job.pk}:failed" and event.payload["attempt"] == 2
    assert event.payload["run"] == retry.pk
    assert Delivery.objects.filter(event=event).count() == 1


def test_a_run_that_succeeds_on_retry_publishes_nothing(channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(kind="test_fail", params={"failures": 1}, max_attempts=2, backoff_base_seconds=1)
    execute_run(services.run_now(job).id)
    retry = Run.objects.get(job=job, attempt=2)
    Run.objects.filter(pk=retry.pk).update(status="queued")
    assert execute_run(retry.id) == "succeeded"
    assert not Event.objects.filter(type="job.failed").exists()
