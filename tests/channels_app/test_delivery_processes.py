"""Deliveries on real processes: django-q2 clusters (and a scheduler for the leader's delivery sweep) on the test
database, sending to the fake Wuzapi in this process."""

import os
import signal

import pytest

from channels_app.events import publish
from channels_app.models import Delivery
from tests.channels_app.support import item_event, process_env, recipient, wuzapi_channel
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
READY = "running."  # django-q2's "Q Cluster <name> running." (logged at INFO)
# A lost worker's delivery is taken again VIGIA_DELIVERY_STALE_AFTER after its claim (minutes in
# production); these processes use seconds.
FAST_TAKEOVER = {
    "VIGIA_STALE_AFTER": 2,
    "VIGIA_HEARTBEAT_SECONDS": 0.5,  # runs (the sweep) must heart-beat well within VIGIA_STALE_AFTER
    "VIGIA_DELIVERY_SEND_TIMEOUT": 1,
    "VIGIA_DELIVERY_STALE_AFTER": 3,
    "VIGIA_DELIVERY_REQUEUE_AFTER": 2,
}


def cluster(processes, name, **env):
    started = processes.qcluster(name, VIGIA_QUEUE_LOG_LEVEL="INFO", **process_env(**env))
    wait_for(lambda: READY in started.output() or not started.alive(), 30, message=f"{name} to start")
    assert started.alive(), started.output()[-3000:]
    return started


def final(deliveries, timeout, processes):
    """Wait until every delivery reached a final status; on timeout, say where each stands and what the
    processes logged."""
    ids = [d.pk for d in deliveries]
    mine = Delivery.objects.filter(pk__in=ids).order_by("pk")
    try:
        wait_for(lambda: not mine.exclude(status__in=Delivery.FINAL).exists(), timeout, interval=0.2)
    except AssertionError as exc:
        states = list(mine.values_list("pk", "status", "attempts", "next_attempt_at", "error"))
        logs = "".join(f"\n--- {p.name}\n{p.output()[-3000:]}" for p in processes.started)
        raise AssertionError(f"{exc}; deliveries: {states}{logs}") from None
    return list(mine)


def test_the_pace_holds_across_two_worker_processes(processes, wuzapi):
    channel = wuzapi_channel(wuzapi, pace_per_minute=120)  # a slot every 0.54 s (1.08 × 0.5)
    for n in range(12):
        recipient(channel, f"55119000000{n:02d}")
    cluster(processes, "qcluster-1", VIGIA_WORKERS=2)
    cluster(processes, "qcluster-2", VIGIA_WORKERS=2)

    event = publish("source:1", item_event())
    deliveries = final(Delivery.objects.filter(event=event), 60, processes)

    assert [d.status for d in deliveries] == ["sent"] * 12
    assert len({d.worker for d in deliveries}) >= 3  # workers of both clusters took part
    assert sorted(wuzapi.ids()) == sorted(d.idempotency_key for d in deliveries)  # each arrived once
    assert len(wuzapi.messages) == 12
    # Arrivals, not slots, are measured: a send that leaves its slot late (a busy machine) narrows the next
    # gap by as much, so single gaps get a wide tolerance. Without a shared pace four workers would send
    # together (gaps near 0) and all twelve would be in within ~2 s.
    gaps = wuzapi.gaps()
    assert min(gaps) >= 0.25, [round(gap, 3) for gap in gaps]
    assert sum(gaps) >= 11 * 0.5, [round(gap, 3) for gap in gaps]


def test_a_worker_killed_after_the_provider_accepted_ends_sent_with_one_message(processes, wuzapi):
    # the scheduler leader sweeps lost sending tasks every 5 s (channels_app's housekeeping)
    recipient(wuzapi_channel(wuzapi))
    processes.scheduler(**process_env(**FAST_TAKEOVER))
    cluster(processes, "qcluster", VIGIA_WORKERS=2, **FAST_TAKEOVER)
    wuzapi.hold_next(60)  # the provider takes the message and does not answer

    event = publish("source:1", item_event())
    [arrival] = wuzapi.wait_for_requests(1, timeout=30)
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == "sending" and arrival.id == delivery.idempotency_key
    victim = int(delivery.worker.rsplit(":", 1)[1])
    os.kill(victim, signal.SIGKILL)  # the worker only: the cluster starts another

    [delivery] = final([delivery], 45, processes)
    assert delivery.status == "sent", delivery.error
    assert delivery.attempts == 2 and int(delivery.worker.rsplit(":", 1)[1]) != victim
    assert wuzapi.ids() == [delivery.idempotency_key] * 2  # the re-send carried the same Id
    assert list(wuzapi.messages) == [delivery.idempotency_key]  # so the provider shows one message


def test_provider_500_twice_then_200_with_scheduler_and_cluster(processes, wuzapi):
    recipient(wuzapi_channel(wuzapi))
    wuzapi.fail_next(500, count=2)
    fast_retry = {"VIGIA_DELIVERY_BACKOFF": 0.5}
    processes.scheduler(**process_env(**fast_retry))
    cluster(processes, "qcluster", VIGIA_WORKERS=2, **fast_retry)

    event = publish("source:1", item_event())
    [delivery] = final(Delivery.objects.filter(event=event), 45, processes)

    assert delivery.status == "sent", delivery.error
    assert delivery.attempts == 3
    assert [a.status for a in wuzapi.requests] == [500, 500, 200]
    assert wuzapi.ids() == [delivery.idempotency_key] * 3
    assert list(wuzapi.messages) == [delivery.idempotency_key]
