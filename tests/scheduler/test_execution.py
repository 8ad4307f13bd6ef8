"""The execution wrapper, in process: status transitions, retries, timeouts, cancel, redelivery, reaping."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from scheduler import reaper, services
from scheduler.execution import execute_run
from scheduler.models import Run
from scheduler.signals import run_finished
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db


def run_once(job):
    return services.run_now(job)


def test_success_is_recorded_on_the_run():
    job = make_job(kind="noop")
    finished = []
    run_finished.connect(receiver := lambda sender, run, **kw: finished.append(run.id), weak=False)
    try:
        run = run_once(job)
        assert execute_run(run.id) == "succeeded"
    finally:
        run_finished.disconnect(receiver)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.result == {"ok": True}
    assert run.started_at and run.finished_at and run.duration_ms is not None
    assert run.pickups == 1 and run.worker
    assert finished == [run.id]


def test_a_duplicate_delivery_does_not_run_it_again():
    job = make_job(kind="noop")
    run = run_once(job)
    execute_run(run.id)
    assert execute_run(run.id) == "not claimed"
    run.refresh_from_db()
    assert run.pickups == 1 and Run.objects.filter(job=job).count() == 1


def test_transient_failure_retries_with_backoff_then_succeeds():
    job = make_job(
        kind="test_fail", params={"failures": 2}, max_attempts=3, backoff_base_seconds=10, backoff_jitter=0.5
    )
    run = run_once(job)
    before = timezone.now()
    assert execute_run(run.id) == "failed"
    first_retry = Run.objects.get(job=job, attempt=2)
    assert first_retry.status == "retrying" and first_retry.trigger == "retry"
    assert first_retry.scheduled_for == run.scheduled_for
    delay = (first_retry.due_at - before).total_seconds()
    assert 10 <= delay <= 15.5  # base × 2^0, plus up to 50 % jitter

    Run.objects.filter(pk=first_retry.pk).update(status="queued")
    assert execute_run(first_retry.id) == "failed"
    second_retry = Run.objects.get(job=job, attempt=3)
    assert 20 <= (second_retry.due_at - timezone.now()).total_seconds() <= 30.5  # base × 2^1

    Run.objects.filter(pk=second_retry.pk).update(status="queued")
    assert execute_run(second_retry.id) == "succeeded"
    assert [r.status for r in Run.objects.filter(job=job).order_by("attempt")] == ["failed", "failed", "succeeded"]
    failed = Run.objects.get(job=job, attempt=1)
    assert failed.error == "planned failure 1" and failed.result == {"attempt": 1}


def test_backoff_is_capped():
    job = make_job(
        kind="test_fail",
        params={"failures": 9},
        max_attempts=9,
        backoff_base_seconds=10,
        backoff_cap_seconds=25,
        backoff_jitter=0,
    )
    run = Run.objects.create(job=job, scheduled_for=timezone.now(), attempt=4, status="queued", due_at=timezone.now())
    execute_run(run.id)
    retry = Run.objects.get(job=job, attempt=5)
    assert 24 <= (retry.due_at - timezone.now()).total_seconds() <= 25


def test_permanent_failure_is_not_retried():
    job = make_job(kind="test_fail", params={"failures": 5, "permanent": True}, max_attempts=5)
    run = run_once(job)
    assert execute_run(run.id) == "failed"
    assert Run.objects.filter(job=job).count() == 1


def test_no_retry_when_attempts_are_exhausted():
    job = make_job(kind="test_fail", params={"failures": 5}, max_attempts=1)
    execute_run(run_once(job).id)
    assert Run.objects.filter(job=job).count() == 1


def test_a_bug_in_a_kind_keeps_its_traceback():
    job = make_job(kind="test_crash")
    run = run_once(job)
    assert execute_run(run.id) == "failed"
    run.refresh_from_db()
    assert "ZeroDivisionError: a bug in the kind" in run.error
    assert "Traceback" in run.traceback and "test_crash" not in run.error


def test_unknown_kind_or_invalid_params_fail_permanently():
    job = make_job(kind="test_sleep", params={"seconds": 0}, max_attempts=3)
    job.params = {"seconds": -1}
    job.save()
    run = run_once(job)
    assert execute_run(run.id) == "failed"
    run.refresh_from_db()
    assert "seconds" in run.error and Run.objects.filter(job=job).count() == 1


def test_timeout_ends_the_run_and_the_worker_goes_on():
    slow = make_job(kind="test_sleep", params={"seconds": 30}, timeout_seconds=1, max_attempts=1)
    run = run_once(slow)
    started = time.monotonic()
    assert execute_run(run.id) == "timed_out"
    assert time.monotonic() - started < 5
    run.refresh_from_db()
    assert run.status == "timed_out" and "1 s" in run.error
    # the same process keeps working
    assert execute_run(run_once(make_job(kind="noop")).id) == "succeeded"


def test_timeout_is_retried_like_a_transient_failure():
    slow = make_job(kind="test_sleep", params={"seconds": 30}, timeout_seconds=1, max_attempts=2)
    execute_run(run_once(slow).id)
    assert Run.objects.get(job=slow, attempt=2).status == "retrying"


def test_cancelled_queued_run_never_starts():
    job = make_job(kind="noop")
    run = run_once(job)
    assert services.cancel([run]) == (1, 0)
    assert execute_run(run.id) == "not claimed"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.started_at is None


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_run_stops_it(settings):
    settings.VIGIA_HEARTBEAT_SECONDS = 0.2
    job = make_job(kind="test_busy", params={"seconds": 30}, timeout_seconds=60)
    run = run_once(job)
    threading.Timer(0.5, lambda: services.cancel([run])).start()
    started = time.monotonic()
    assert execute_run(run.id) == "cancelled"
    assert time.monotonic() - started < 5
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_a_run_whose_worker_vanished_is_claimed_again():
    job = make_job(kind="noop")
    run = run_once(job)
    stale = timezone.now() - timedelta(minutes=5)
    Run.objects.filter(pk=run.pk).update(status="running", worker="gone:1", heartbeat_at=stale, pickups=1)
    assert execute_run(run.id) == "succeeded"
    run.refresh_from_db()
    assert run.pickups == 2


def test_a_run_still_heart_beating_is_not_taken_over():
    job = make_job(kind="noop")
    run = run_once(job)
    Run.objects.filter(pk=run.pk).update(status="running", worker="alive:1", heartbeat_at=timezone.now())
    assert execute_run(run.id) == "not claimed"


def test_reaper_requeues_lost_runs_then_gives_up():
    job = make_job(kind="noop", max_attempts=2)
    run = run_once(job)
    OrmQ.objects.all().delete()
    stale = timezone.now() - timedelta(minutes=5)
    Run.objects.filter(pk=run.pk).update(status="running", worker="gone:1", heartbeat_at=stale, pickups=1)
    assert reaper.reap() == (1, 0)
    run.refresh_from_db()
    assert run.status == "queued" and "gone:1" in run.error
    assert OrmQ.objects.count() == 1

    # Lost alone twice more (a worker elsewhere, so the pass losing only this run is the evidence): a poison pill.
    Run.objects.filter(pk=run.pk).update(status="running", heartbeat_at=stale, pickups=2)
    assert reaper.reap() == (1, 0)
    Run.objects.filter(pk=run.pk).update(status="running", heartbeat_at=stale, pickups=3)
    assert reaper.reap() == (0, 1)
    run.refresh_from_db()
    assert run.status == "failed" and run.finished_at and run.losses == 3 and "Giving up" in run.error
    assert Run.objects.get(job=job, attempt=2).status == "retrying"
