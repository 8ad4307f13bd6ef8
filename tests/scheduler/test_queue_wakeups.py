"""An idle cluster waits for work instead of polling the queue table: on PostgreSQL its pusher LISTENs and
a trigger announces every queued task (scheduler/migrations/0006), so a task queued by another process is
taken at once, long before the pusher's longest sleep (djq.IDLE_MAX) is over; without anything queued the
pusher looks at the table about once per IDLE_MAX."""

import threading
import time

import pytest
from django.db import connection

from scheduler import djq

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"),
]
HERE = __name__


def record(value):
    return value


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(djq, "_capacity", None)
    monkeypatch.setattr(djq, "_waker", None)
    found = djq.PriorityORMBroker()
    yield found
    found.waker.stop_listening()


def test_a_task_queued_elsewhere_wakes_an_idle_pusher_at_once(broker):
    assert broker.dequeue() is None  # nothing queued: it now LISTENs (and slept)
    assert broker.waker.listening

    def queue_one():
        time.sleep(0.3)
        djq.bulk_enqueue([djq.make_task(f"{HERE}.record", (7,), "default", 10)])  # its own transaction
        connection.close()

    other = threading.Thread(target=queue_one)
    started = time.monotonic()
    other.start()
    taken = None
    while taken is None and time.monotonic() - started < 3 * djq.IDLE_MAX:
        taken = broker.dequeue()
    waited = time.monotonic() - started
    other.join()
    assert taken and djq.read_task(taken[0][1])["args"] == (7,)
    assert waited < 0.3 + djq.IDLE_MAX / 2, f"woken by the announcement, not by the timer ({waited:.2f} s)"


def test_an_idle_pusher_looks_at_the_table_about_once_per_idle_max(broker, django_assert_max_num_queries):
    broker.dequeue()  # listening from here on
    started = time.monotonic()
    with django_assert_max_num_queries(8):  # two statements per look, a look per IDLE_MAX
        while time.monotonic() - started < 2.5 * djq.IDLE_MAX:
            assert broker.dequeue() is None


def test_a_pusher_with_every_worker_busy_waits_for_room_without_spinning(broker, django_assert_max_num_queries):
    """The lower queues full (their workers busy), the higher ones empty: the pusher sleeps until a worker
    frees a slot, instead of looking again at once (it once spun at a look per half millisecond, taking a
    core from the workers it feeds)."""
    low = broker.queues.index("low")
    busy = 0
    while broker.capacity.room(broker.capacity.in_hand(), low) > 0:
        busy += 1
        broker.capacity.take(10_000 + busy, low)  # a low task in hand, as a busy worker holds it
    djq.bulk_enqueue([djq.make_task(f"{HERE}.record", (8,), "low", 10)])
    broker.dequeue()  # listening from here on

    started = time.monotonic()
    with django_assert_max_num_queries(10):
        while time.monotonic() - started < 2 * djq.IDLE_MAX:
            assert broker.dequeue() is None  # no room for the waiting low task

    broker.capacity.mark(10_001, 0)  # a worker finished: its slot is free, and it pokes the pusher
    broker.waker.poke()
    started = time.monotonic()
    taken = broker.dequeue()
    assert taken and djq.read_task(taken[0][1])["args"] == (8,)
    assert time.monotonic() - started < djq.IDLE_MAX / 2


def test_a_take_reads_when_the_next_held_task_is_ready_only_when_it_took_less_than_it_could(broker):
    """One statement takes the ready tasks and, when fewer than asked were there (a wait follows), says when
    the first task held for later (a not_before) becomes ready: the pusher's drained wait ends then."""
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(seconds=3)  # sooner than the lock pushed on a taken task
    djq.bulk_enqueue([djq.make_task(f"{HERE}.record", (n,), "default", 10) for n in (1, 2)])
    djq.bulk_enqueue([djq.make_task(f"{HERE}.record", (3,), "low", 10, not_before=later)])

    rows, held = broker._take(broker.queues, 1, earliest=True)
    assert [djq.read_task(payload)["args"] for _, _, payload in rows] == [(1,)]
    assert held is None  # it took all it asked for: no wait follows, nothing more was read

    rows, held = broker._take(broker.queues, 5, earliest=True)
    assert [djq.read_task(payload)["args"] for _, _, payload in rows] == [(2,)]
    assert abs((held - later).total_seconds()) < 0.001  # not the lock it just pushed ahead on task 2

    assert broker._take(broker.queues, 5, earliest=True) == ([], held)
    assert broker._take(broker.queues, 5) == ([], None)
