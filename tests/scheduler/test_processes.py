"""Real processes: scheduler replicas and a django-q2 cluster on the test database, killed with SIGKILL."""

import random
import signal
import time
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from scheduler import lease
from scheduler.models import Job, Run
from tests.support.factories import make_job
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def leader_pid():
    current = lease.current()
    if current and current.holder and current.expires_at > timezone.now():
        return int(current.holder.rsplit(":", 1)[1])
    return None


def test_three_replicas_dispatch_every_occurrence_exactly_once_across_a_leader_kill(processes):
    ttl = 10.0
    replicas = [processes.scheduler(f"scheduler-{i}", VIGIA_LEASE_TTL=ttl) for i in range(3)]
    processes.qcluster(VIGIA_WORKERS=2)
    wait_for(leader_pid, 20, message="a leader")

    start = timezone.now().replace(microsecond=0) + timedelta(seconds=3)
    end = start + timedelta(seconds=60)
    every_second = make_job(
        name="every second",
        schedule_type="cron",
        cron="* * * * * *",
        timezone="UTC",
        start_at=start,
        end_at=end,
        overlap_policy="allow",
    )
    one_offs = [
        make_job(
            name=f"one-off {i}",
            schedule_type="once",
            run_at=start + timedelta(seconds=random.uniform(0, 60)),
        )
        for i in range(40)
    ]

    time.sleep((start - timezone.now()).total_seconds() + 25)
    doomed = leader_pid()
    victim = next(process for process in replicas if process.pid == doomed)
    victim.kill(signal.SIGKILL)
    killed_at = timezone.now()

    new_leader = wait_for(lambda: (pid := leader_pid()) and pid != doomed and pid, ttl + 5, message="a new leader")
    assert new_leader in {process.pid for process in replicas if process is not victim}
    took_over_after = (lease.current().acquired_at - killed_at).total_seconds()
    assert took_over_after <= ttl + 1, f"standby took over after {took_over_after:.1f}s"

    wait_for(lambda: Job.objects.get(pk=every_second.pk).completed_at, 60, message="the per-second job to complete")
    wait_for(lambda: not Run.objects.exclude(status__in=Run.FINAL).exists(), 60, message="every run to finish")

    # every second from start to end, each dispatched once, none missed
    moments = list(Run.objects.filter(job=every_second).values_list("scheduled_for", flat=True))
    expected = [start + timedelta(seconds=i) for i in range(61)]
    assert sorted(moments) == expected
    assert not Run.objects.filter(job=every_second).exclude(status="succeeded").exists()
    per_job = dict(Run.objects.filter(job__in=one_offs).values_list("job").annotate(n=Count("id")))
    assert per_job == {job.pk: 1 for job in one_offs}
    assert set(Run.objects.filter(job__in=one_offs).values_list("status", flat=True)) == {"succeeded"}
    for process in replicas:
        if process is not victim:
            assert process.alive(), process.output()[-2000:]


def _worker_pid(run):
    run.refresh_from_db()
    return run.status == "running" and int(run.worker.rsplit(":", 1)[1])


def test_a_worker_killed_mid_run_ends_with_one_succeeded_attempt(processes):
    fast_reaping = {"VIGIA_STALE_AFTER": 4, "VIGIA_HEARTBEAT_SECONDS": 1}
    processes.scheduler(**fast_reaping)
    processes.qcluster(VIGIA_WORKERS=2, **fast_reaping)
    job = make_job(kind="test_busy", params={"seconds": 3}, timeout_seconds=30, max_attempts=1)
    from scheduler import services

    run = services.run_now(job)
    worker = wait_for(lambda: _worker_pid(run), 30, message="the run to start")
    time.sleep(1)
    import os

    os.kill(worker, signal.SIGKILL)  # the worker process only: the cluster lives on

    wait_for(lambda: Run.objects.get(pk=run.pk).status in Run.FINAL, 60, message="the run to finish")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.pickups == 2
    assert Run.objects.filter(job=job).count() == 1
    assert not Run.objects.filter(status="running").exists()


def test_a_whole_cluster_killed_mid_run_is_picked_up_by_another(processes):
    fast_reaping = {"VIGIA_STALE_AFTER": 4, "VIGIA_HEARTBEAT_SECONDS": 1}
    processes.scheduler(**fast_reaping)
    first = processes.qcluster("qcluster-1", VIGIA_WORKERS=1, **fast_reaping)
    job = make_job(kind="test_busy", params={"seconds": 3}, timeout_seconds=30, max_attempts=1)
    from scheduler import services

    run = services.run_now(job)
    wait_for(lambda: _worker_pid(run), 30, message="the run to start")
    first.kill(signal.SIGKILL)  # the whole process group: sentinel, pusher, workers, monitor
    processes.qcluster("qcluster-2", VIGIA_WORKERS=1, **fast_reaping)

    wait_for(lambda: Run.objects.get(pk=run.pk).status in Run.FINAL, 60, message="the run to finish")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert Run.objects.filter(job=job, status="succeeded").count() == 1
    assert not Run.objects.filter(status="running").exists()


def test_scheduler_fires_a_new_job_within_half_a_second(processes):
    processes.scheduler()
    processes.qcluster(VIGIA_WORKERS=1)
    wait_for(leader_pid, 20, message="a leader")
    time.sleep(1)
    job = make_job(schedule_type="once", run_at=timezone.now() + timedelta(seconds=1))
    run = wait_for(lambda: Run.objects.filter(job=job, status="succeeded").first(), 20, message="the run")
    assert (run.queued_at - job.run_at).total_seconds() < 0.5


def test_runs_queued_ahead_start_at_their_own_time_never_before(processes):
    # Ten occurrences within 0.8 s of a first: the leader queues them with it (VIGIA_DISPATCH_AHEAD), and each
    # waits on the queue for its own time: a worker free at once must not start any of them early.
    processes.scheduler(VIGIA_DISPATCH_AHEAD=1)
    processes.qcluster(VIGIA_WORKERS=2)
    wait_for(leader_pid, 20, message="a leader")
    time.sleep(1)
    first = timezone.now() + timedelta(seconds=2)
    jobs = [
        make_job(schedule_type="once", run_at=first + timedelta(seconds=0.08 * i), overlap_policy="allow")
        for i in range(11)
    ]
    runs = wait_for(
        lambda: (found := list(Run.objects.filter(job__in=jobs, status="succeeded"))) and len(found) == 11 and found,
        30,
        message="the eleven runs",
    )
    for run in runs:
        assert run.started_at >= run.scheduled_for, (run.scheduled_for, run.started_at)
        assert (run.started_at - run.scheduled_for).total_seconds() < 0.5
    queued_ahead = [run for run in runs if run.queued_at == run.scheduled_for and run.scheduled_for > first]
    assert queued_ahead, "the batch at the first occurrence queued the others ahead"


def test_a_stopped_cluster_finishes_its_own_stop_instead_of_being_killed(processes):
    """`up` and the tests stop a cluster as systemd does (KillMode=mixed): SIGTERM to its leader only. Sent to the
    whole group, django-q2's sentinel died at once and the cluster hung in its stop until it was killed."""
    cluster = processes.qcluster(VIGIA_WORKERS=1)
    wait_for(lambda: "running." in cluster.output(), 30, message="the cluster to start")
    cluster.stop(timeout=10)
    assert cluster.popen.returncode == 0, cluster.output()[-2000:]
    assert "has stopped." in cluster.output()
