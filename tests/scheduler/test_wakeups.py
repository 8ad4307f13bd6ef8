"""How the leader sleeps (scheduler.wakeups): on PostgreSQL a change that makes something due sooner is
announced (NOTIFY, from triggers) and wakes it; anything else is not; elsewhere it polls."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from scheduler import dispatch, wakeups
from scheduler.models import Job, Run
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db(transaction=True)  # notifications are delivered on commit
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")


@pytest.fixture
def waker():
    waker = wakeups.Waker()
    yield waker
    waker.close()


def settle(waker):
    """Let what was sent reach us (a query reads it), then say whether anything was announced."""
    time.sleep(0.05)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return waker.changed()


def test_a_poke_wakes_the_sleep(waker):
    waker.changed()
    threading.Timer(0.2, waker.poke).start()
    started = time.monotonic()
    waker.sleep(5)
    assert time.monotonic() - started < 2


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite has no notifications")
def test_without_notifications_every_look_may_have_changed(waker):
    assert waker.changed() and waker.changed()
    assert not waker.listening


@on_postgresql
def test_what_makes_something_due_sooner_is_announced_and_nothing_else(waker):
    assert waker.changed()  # the first look: LISTEN starts, and what came before was not announced
    assert waker.listening and not waker.changed()

    job = make_job(schedule_type="interval", interval_seconds=60)
    assert settle(waker), "a new job"
    Job.objects.bulk_create([Job(name="bulk", kind="noop", schedule_type="once", next_run_at=timezone.now())])
    assert settle(waker), "a job created in bulk"
    Job.objects.bulk_create([Job(name=f"paused {i}", kind="noop", enabled=False) for i in range(3)])
    assert not settle(waker), "paused jobs created in bulk"
    Job.objects.filter(pk=job.pk).update(next_run_at=job.next_run_at + timedelta(seconds=30))
    assert not settle(waker), "a job due later"
    Job.objects.filter(pk=job.pk).update(next_run_at=job.next_run_at - timedelta(seconds=30))
    assert settle(waker), "a job due sooner"
    Job.objects.filter(pk=job.pk).update(enabled=False)
    assert not settle(waker), "a job paused"
    Job.objects.filter(pk=job.pk).update(enabled=True)
    assert settle(waker), "a job resumed"
    Job.objects.filter(pk=job.pk).update(name="renamed", params={"x": 1})
    assert not settle(waker), "an edit that does not touch the schedule"

    now = timezone.now()
    run = Run.objects.create(job=job, scheduled_for=now, status="queued", due_at=now)
    Run.objects.filter(pk=run.pk).update(status="running")
    Run.objects.filter(pk=run.pk).update(status="failed")
    assert not settle(waker), "a run going its way"
    Run.objects.create(job=job, scheduled_for=now, attempt=2, trigger="retry", status="retrying", due_at=now)
    assert settle(waker), "a retry waiting"


@on_postgresql
def test_the_dispatchers_own_batch_is_not_announced_to_itself(waker):
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=60, overlap_policy="allow")
    assert waker.changed() and not settle(waker)  # listening from here on
    assert dispatch.dispatch_due(holder, now=job.next_run_at) == 1
    assert not settle(waker)


@on_postgresql
def test_a_job_created_elsewhere_wakes_the_sleeping_leader(waker):
    waker.changed()

    def create():
        try:
            make_job(schedule_type="once", run_at=timezone.now() + timedelta(minutes=5))
        finally:
            connection.close()  # this thread's own connection

    threading.Timer(0.3, create).start()
    started = time.monotonic()
    waker.sleep(5)
    assert time.monotonic() - started < 2
    assert waker.changed()


@on_postgresql
def test_a_new_connection_is_listened_on_again(waker):
    assert waker.changed()
    connection.close()
    assert not waker.listening
    assert waker.changed()  # listens on the new connection, and says to look again
    make_job()
    assert settle(waker)
