"""A real scheduler whose lease renewals (and safety looks) are far apart still notices, on time, a new job,
a job moved sooner by a bulk update, and a retry: on PostgreSQL because they are announced (NOTIFY), on
SQLite because it polls. And it stops at once on SIGTERM however long it meant to sleep."""

import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from scheduler import lease
from scheduler.models import Job, Run
from tests.support.factories import make_job
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
SLOW_LEASE = {"VIGIA_LEASE_TTL": 60}  # renewed every 12 s, a look every 60 s whatever was announced


def leading():
    current = lease.current()
    return bool(current and current.holder and current.expires_at > timezone.now())


def test_new_moved_and_retried_work_is_dispatched_on_time_between_renewals(processes):
    processes.scheduler(**SLOW_LEASE)
    processes.qcluster(VIGIA_WORKERS=1)
    wait_for(leading, 20, message="a leader")
    time.sleep(1.5)  # the leader is asleep, its next renewal seconds away

    new = make_job(name="new", schedule_type="once", run_at=timezone.now() + timedelta(seconds=1))
    far = make_job(name="moved", schedule_type="once", run_at=timezone.now() + timedelta(hours=1))
    moved_to = timezone.now() + timedelta(seconds=2)
    Job.objects.filter(pk=far.pk).update(run_at=moved_to, next_run_at=moved_to)  # no save(), no signal
    retried = make_job(
        name="retried",
        kind="test_fail",
        params={"failures": 1},
        schedule_type="once",
        run_at=timezone.now() + timedelta(seconds=1),
        max_attempts=2,
        backoff_base_seconds=1,
        backoff_cap_seconds=1,
        backoff_jitter=0,
    )

    for job, due in ((new, new.run_at), (far, moved_to)):
        run = wait_for(
            lambda job=job: Run.objects.filter(job=job, queued_at__isnull=False).first(), 20, message=job.name
        )
        assert (run.queued_at - due).total_seconds() < 0.5, job.name
    second = wait_for(
        lambda: Run.objects.filter(job=retried, attempt=2, queued_at__isnull=False).first(), 30, message="the retry"
    )
    assert (second.queued_at - second.due_at).total_seconds() < 0.5
    wait_for(lambda: Run.objects.get(pk=second.pk).status == "succeeded", 30, message="the retry to succeed")


def test_sigterm_stops_a_sleeping_scheduler_at_once(processes):
    scheduler = processes.scheduler(**SLOW_LEASE)
    wait_for(leading, 20, message="a leader")
    time.sleep(1.5)
    scheduler.kill(signal.SIGTERM, group=False)
    started = time.monotonic()
    wait_for(lambda: not scheduler.alive(), 5, interval=0.05, message="the scheduler to stop")
    assert time.monotonic() - started < 2
    assert not leading()  # it released its lease on the way out
