"""Every ending goes through one door (scheduler.endings.end_run): run_finished is sent, the retry policy
applies, and the failure alert (`job:<id>:failed`) is published once — whoever ended the run."""

import os
import socket
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from channels_app.models import Event
from scheduler import dispatch, reaper, services
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scheduler.signals import run_finished
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished():
    ended = []

    def receiver(sender, run, **kwargs):
        ended.append((run.id, run.status))

    run_finished.connect(receiver, weak=False)
    yield ended
    run_finished.disconnect(receiver)


def alerts(job):
    return Event.objects.filter(topic=f"job:{job.pk}:failed").count()


def stale_running(run, worker, **fields):
    stale = timezone.now() - timedelta(minutes=5)
    Run.objects.filter(pk=run.pk).update(status="running", worker=worker, heartbeat_at=stale, **fields)


def test_a_failure_with_no_attempt_left_alerts_once(finished):
    job = make_job(kind="test_fail", params={"failures": 5})
    run = services.run_now(job)
    assert execute_run(run.id) == "failed"
    assert finished == [(run.id, "failed")] and alerts(job) == 1


def test_a_timeout_alerts_once(finished):
    job = make_job(kind="test_sleep", params={"seconds": 5}, timeout_seconds=1)
    run = services.run_now(job)
    assert execute_run(run.id) == "timed_out"
    assert finished == [(run.id, "timed_out")] and alerts(job) == 1


def test_a_keyerror_inside_a_kind_is_an_ordinary_failure_with_its_traceback_and_is_retried(finished):
    job = make_job(kind="test_keyerror", params={"failures": 1}, max_attempts=2)
    run = services.run_now(job)
    assert execute_run(run.id) == "failed"
    run.refresh_from_db()
    assert run.error == "KeyError: 'missing'" and 'return {}["missing"]' in run.traceback
    retry = Run.objects.get(job=job, attempt=2)
    assert retry.status == "retrying" and alerts(job) == 0  # a retry follows: no alert yet
    job.refresh_from_db()
    assert job.enabled and not job.paused_reason  # a bug in a kind is not the job's data


def test_an_unknown_kind_fails_once_without_retry_and_pauses_the_job(finished):
    job = make_job(kind="noop", max_attempts=3)
    Job.objects.filter(pk=job.pk).update(kind="uninstalled_kind")
    run = services.run_now(Job.objects.get(pk=job.pk))
    assert execute_run(run.id) == "failed"
    run.refresh_from_db()
    job.refresh_from_db()
    assert run.error == "Unknown kind 'uninstalled_kind': no installed job kind has that name."
    assert not Run.objects.filter(job=job, attempt=2).exists() and alerts(job) == 1
    assert not job.enabled and job.next_run_at is None and job.paused_reason == run.error


def test_params_the_kind_now_rejects_pause_the_job_with_the_field_error(finished):
    job = make_job(kind="test_sleep", params={"seconds": 1})
    Job.objects.filter(pk=job.pk).update(params={"seconds": -4})
    run = services.run_now(Job.objects.get(pk=job.pk))
    assert execute_run(run.id) == "failed"
    job.refresh_from_db()
    assert not job.enabled and "params.seconds" in job.paused_reason and alerts(job) == 1


def test_resume_clears_the_reason(finished):
    job = make_job(kind="noop")
    Job.objects.filter(pk=job.pk).update(kind="gone")
    execute_run(services.run_now(Job.objects.get(pk=job.pk)).id)
    Job.objects.filter(pk=job.pk).update(kind="noop")
    assert services.resume([job]) == 1
    job.refresh_from_db()
    assert job.enabled and job.paused_reason == "" and job.next_run_at is not None


def test_cancelling_a_waiting_run_ends_it_through_the_door_without_an_alert(finished):
    job = make_job(kind="noop")
    run = services.run_now(job)
    assert services.cancel([run]) == (1, 0)
    run.refresh_from_db()
    assert run.status == "cancelled" and finished == [(run.id, "cancelled")] and alerts(job) == 0
    assert execute_run(run.id) == "not claimed"


def test_the_reapers_give_up_alerts_once_and_schedules_the_retry(finished):
    job = make_job(kind="noop", max_attempts=2)
    run = services.run_now(job)
    for _ in range(3):  # lost alone three times on a worker of another host
        stale_running(run, "elsewhere:7")
        reaper.reap()
    run.refresh_from_db()
    assert run.status == "failed" and run.losses == 3
    assert finished == [(run.id, "failed")]
    assert Run.objects.get(job=job, attempt=2).status == "retrying" and alerts(job) == 0
    job2 = make_job(kind="noop")
    run2 = services.run_now(job2)
    for _ in range(3):
        stale_running(run2, "elsewhere:8")
        reaper.reap()
    assert alerts(job2) == 1


def test_runs_lost_together_are_not_counted_against_either():
    runs = [services.run_now(make_job(kind="noop")) for _ in range(2)]
    for _ in range(5):
        for index, run in enumerate(runs):
            stale_running(run, f"elsewhere:{index}")
        assert reaper.reap() == (2, 0)
    assert [Run.objects.get(pk=run.pk).losses for run in runs] == [0, 0]


def test_a_late_heartbeat_from_a_live_local_worker_is_not_a_loss():
    run = services.run_now(make_job(kind="noop"))
    OrmQ.objects.all().delete()
    stale_running(run, f"{socket.gethostname()}:{os.getpid()}", started_at=timezone.now())
    assert reaper.reap() == (0, 0)
    run.refresh_from_db()
    assert run.status == "running" and OrmQ.objects.count() == 0


def test_a_worker_that_died_with_its_cluster_is_not_the_runs_fault():
    run = services.run_now(make_job(kind="noop"))
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer exists, for the worker and for its cluster process
    stale_running(run, f"{socket.gethostname()}:{gone.pid}", worker_parent=gone.pid)
    for _ in range(4):
        assert reaper.reap() == (1, 0)
        stale_running(run, f"{socket.gethostname()}:{gone.pid}", worker_parent=gone.pid)
    run.refresh_from_db()
    assert run.losses == 0


def test_a_run_bounced_by_other_deaths_too_often_still_ends():
    run = services.run_now(make_job(kind="noop"))
    stale_running(run, "elsewhere:1", pickups=reaper.PICKUP_CEILING * 3)
    other = services.run_now(make_job(kind="noop"))
    stale_running(other, "elsewhere:2")
    assert reaper.reap() == (1, 1)
    run.refresh_from_db()
    assert run.status == "failed" and "Picked up 12 times" in run.error


def test_a_job_whose_zone_no_longer_exists_is_paused_and_the_rest_are_dispatched(finished):
    holder = lead()
    past = timezone.now() - timedelta(seconds=1)
    healthy = make_job(kind="noop", next_run_at=past)
    broken = make_job(kind="noop", schedule_type="cron", cron="* * * * *", next_run_at=past)
    Job.objects.filter(pk=broken.pk).update(timezone="Mars/Olympus_Mons")
    assert dispatch.dispatch_due(holder) == 1
    assert Run.objects.filter(job=healthy, status="queued").count() == 1
    broken.refresh_from_db()
    assert not broken.enabled and broken.next_run_at is None
    assert "Unknown time zone 'Mars/Olympus_Mons'" in broken.paused_reason
    failed = Run.objects.get(job=broken)
    assert failed.status == "failed" and failed.error == broken.paused_reason
    assert alerts(broken) == 1 and finished == [(failed.id, "failed")]
    assert dispatch.dispatch_due(holder) == 0 and alerts(broken) == 1  # once
