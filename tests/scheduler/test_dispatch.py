"""The dispatcher's policies, in process: due occurrences become queued runs exactly once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from scheduler import dispatch, lease
from scheduler.models import Job, Run
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db


def runs(job, **filters):
    return list(Run.objects.filter(job=job, **filters).order_by("scheduled_for", "attempt"))


def test_due_job_is_queued_on_its_queue_and_advanced():
    holder = lead()
    job = make_job(schedule_type="cron", cron="*/5 * * * *", queue="high")
    due = job.next_run_at
    assert dispatch.dispatch_due(holder, now=due) == 1
    (run,) = runs(job)
    assert (run.status, run.scheduled_for, run.attempt, run.trigger) == ("queued", due, 1, "schedule")
    task = OrmQ.objects.get()
    assert task.key == "high"
    assert SignedPackage.loads(task.payload)["args"] == (run.id,)
    job.refresh_from_db()
    assert job.next_run_at == due + timedelta(minutes=5)
    assert job.occurrences == 1
    # nothing more is due at the same instant: no second run, no second task
    assert dispatch.dispatch_due(holder, now=due) == 0
    assert Run.objects.count() == 1 and OrmQ.objects.count() == 1


def test_nothing_dispatched_before_due_or_when_paused():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=30)
    assert dispatch.dispatch_due(holder, now=job.next_run_at - timedelta(milliseconds=1)) == 0
    Job.objects.filter(pk=job.pk).update(enabled=False)
    assert dispatch.dispatch_due(holder, now=job.next_run_at + timedelta(seconds=1)) == 0
    assert not Run.objects.exists()


def test_dispatch_needs_the_lease():
    job = make_job(schedule_type="interval", interval_seconds=30)
    with pytest.raises(lease.LostLease):
        dispatch.dispatch_due("not-the-leader", now=job.next_run_at)
    lead("someone-else")
    with pytest.raises(lease.LostLease):
        dispatch.dispatch_due("not-the-leader", now=job.next_run_at)
    assert not Run.objects.exists()


def test_once_job_fires_once_and_completes():
    holder = lead()
    job = make_job(schedule_type="once", run_at=timezone.now() + timedelta(seconds=10))
    assert dispatch.dispatch_due(holder, now=job.run_at) == 1
    job.refresh_from_db()
    assert job.next_run_at is None and job.completed_at is not None
    assert dispatch.dispatch_due(holder, now=job.run_at + timedelta(hours=1)) == 0


def test_max_occurrences_completes_the_job():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=60, max_occurrences=2, overlap_policy="allow")
    first = job.next_run_at
    dispatch.dispatch_due(holder, now=first)
    dispatch.dispatch_due(holder, now=first + timedelta(seconds=60))
    job.refresh_from_db()
    assert job.occurrences == 2 and job.next_run_at is None and job.completed_at is not None
    assert dispatch.dispatch_due(holder, now=first + timedelta(seconds=600)) == 0
    assert len(runs(job)) == 2


def test_end_date_completes_the_job():
    holder = lead()
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    job = make_job(
        schedule_type="interval",
        interval_seconds=60,
        start_at=start,
        end_at=start + timedelta(seconds=90),
        overlap_policy="allow",
    )
    assert job.next_run_at == start
    dispatch.dispatch_due(holder, now=start)
    dispatch.dispatch_due(holder, now=start + timedelta(seconds=60))
    job.refresh_from_db()
    assert job.next_run_at is None and job.occurrences == 2


def test_overlap_forbid_records_a_skipped_run_while_one_is_active():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=10)
    first = job.next_run_at
    dispatch.dispatch_due(holder, now=first)
    Run.objects.filter(job=job).update(status="running")
    dispatch.dispatch_due(holder, now=first + timedelta(seconds=10))
    second = runs(job)[-1]
    assert second.status == "skipped" and "overlap" in second.error
    assert OrmQ.objects.count() == 1  # the skipped occurrence was not queued
    Run.objects.filter(job=job, status="running").update(status="succeeded")
    dispatch.dispatch_due(holder, now=first + timedelta(seconds=20))
    assert runs(job)[-1].status == "queued"


def test_overlap_allow_queues_alongside_a_running_one():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=10, overlap_policy="allow")
    first = job.next_run_at
    dispatch.dispatch_due(holder, now=first)
    Run.objects.filter(job=job).update(status="running")
    dispatch.dispatch_due(holder, now=first + timedelta(seconds=10))
    assert [r.status for r in runs(job)] == ["running", "queued"]


def _down_for_an_hour(policy, **fields):
    # A per-minute job whose scheduler was down for an hour: 61 occurrences are due.
    # 11:00 .. 12:00 are due, and all are more than the 30 s misfire threshold late at 12:00:40.
    now = datetime(2026, 5, 4, 12, 0, 40, tzinfo=UTC)
    job = make_job(
        schedule_type="cron", cron="* * * * *", misfire_policy=policy, next_run_at=datetime(2026, 5, 4, 11, tzinfo=UTC)
    )
    return job, now


def test_misfire_coalesce_runs_once_for_an_hour_of_missed_occurrences():
    holder = lead()
    job, now = _down_for_an_hour("coalesce")
    assert dispatch.dispatch_due(holder, now=now) == 1
    (run,) = runs(job)
    assert run.status == "queued"
    assert run.scheduled_for == datetime(2026, 5, 4, 12, 0, tzinfo=UTC)  # the latest missed one
    assert run.result == {"missed": 60}
    job.refresh_from_db()
    assert job.next_run_at == datetime(2026, 5, 4, 12, 1, tzinfo=UTC)


def test_misfire_skip_records_the_missed_and_waits_for_the_next():
    holder = lead()
    job, now = _down_for_an_hour("skip")
    assert dispatch.dispatch_due(holder, now=now) == 0
    (run,) = runs(job)
    assert run.status == "skipped" and run.result == {"missed": 61}
    job.refresh_from_db()
    assert job.next_run_at == datetime(2026, 5, 4, 12, 1, tzinfo=UTC)


def test_misfire_all_runs_each_missed_occurrence_within_the_grace_window():
    holder = lead()
    job, now = _down_for_an_hour("all", misfire_grace_seconds=600)
    Job.objects.filter(pk=job.pk).update(misfire_grace_seconds=600, overlap_policy="allow")
    queued = dispatch.dispatch_due(holder, now=now)
    # 11:50:40 .. 12:00:40 holds 11:51 .. 12:00 = 10 occurrences; 51 older ones are dropped
    assert queued == 10
    skipped = runs(job, status="skipped")
    assert len(skipped) == 1 and skipped[0].result == {"missed": 51}
    assert [r.scheduled_for.minute for r in runs(job, status="queued")] == [51, 52, 53, 54, 55, 56, 57, 58, 59, 0]


def test_late_but_within_threshold_is_not_a_misfire():
    holder = lead()
    job = make_job(schedule_type="cron", cron="* * * * * *", overlap_policy="allow", misfire_policy="coalesce")
    due = job.next_run_at
    # ten seconds late (a leader failover): every occurrence still runs, none coalesced
    assert dispatch.dispatch_due(holder, now=due + timedelta(seconds=10)) == 11
    assert [r.scheduled_for for r in runs(job)] == [due + timedelta(seconds=i) for i in range(11)]


def test_due_retries_are_queued():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=3600, max_attempts=3)
    now = timezone.now()
    retry = Run.objects.create(job=job, scheduled_for=now, attempt=2, trigger="retry", status="retrying", due_at=now)
    later = Run.objects.create(
        job=job, scheduled_for=now, attempt=3, trigger="retry", status="retrying", due_at=now + timedelta(hours=1)
    )
    assert dispatch.dispatch_due(holder, now=now) == 1
    retry.refresh_from_db()
    later.refresh_from_db()
    assert retry.status == "queued" and later.status == "retrying"


def test_a_burst_is_dispatched_in_batches_exactly_once():
    holder = lead()
    at = timezone.now() + timedelta(minutes=1)
    Job.objects.bulk_create(
        [Job(name=f"burst-{i}", kind="noop", schedule_type="once", run_at=at, next_run_at=at) for i in range(1200)]
    )
    assert dispatch.dispatch_due(holder, now=at) == 1200
    assert Run.objects.count() == 1200 == OrmQ.objects.count()
    assert not Job.objects.filter(next_run_at__isnull=False).exists()


def test_next_wake_is_the_earliest_due_time():
    job = make_job(schedule_type="interval", interval_seconds=120)
    other = make_job(schedule_type="interval", interval_seconds=60)
    assert dispatch.next_wake(timezone.now()) == min(job.next_run_at, other.next_run_at)


def test_an_occurrence_already_recorded_is_not_dispatched_again():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=60, overlap_policy="allow")
    due = job.next_run_at
    Run.objects.create(job=job, scheduled_for=due, attempt=1, status="succeeded", due_at=due)
    assert dispatch.dispatch_due(holder, now=due) == 0
    job.refresh_from_db()
    assert job.next_run_at == due + timedelta(seconds=60)
    assert Run.objects.filter(job=job).count() == 1
