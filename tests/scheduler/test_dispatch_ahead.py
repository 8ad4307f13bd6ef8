"""Dispatching ahead (VIGIA_DISPATCH_AHEAD): a batch also queues what falls due within the window, each run
held on the queue until its own time; a job with overlap "forbid" and an active or waiting run is left for
its time; a pause or an edit withdraws what was queued ahead and has not started.

Committed tests, so on PostgreSQL the batch takes its two-round-trip path (SQLite: the ordinary one)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django_q.models import OrmQ

from config.settings import env_seconds
from scheduler import dispatch, djq, services
from scheduler.models import Job, Run
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _only_these_jobs(db, settings):
    """The system jobs post_migrate creates stay out of these batches."""
    settings.VIGIA_DISPATCH_AHEAD = 1.0
    Job.objects.update(enabled=False, next_run_at=None)


def _due_at(moment, **fields):
    job = make_job(**fields)
    Job.objects.filter(pk=job.pk).update(next_run_at=moment)
    return job


def _locks():
    """{run id: the moment its queue row may be taken}."""
    return {djq.read_task(row.payload)["args"][0]: row.lock for row in OrmQ.objects.all()}


def test_a_batch_queues_what_falls_due_within_the_window_each_for_its_own_time():
    holder, now = lead(), timezone.now()
    due = _due_at(now - timedelta(seconds=0.1), overlap_policy="allow")
    soon = _due_at(now + timedelta(seconds=0.6), interval_seconds=60)
    later = _due_at(now + timedelta(seconds=1.5))

    assert dispatch.dispatch_due(holder, now=now) == 2
    runs = {run.job_id: run for run in Run.objects.all()}
    assert set(runs) == {due.pk, soon.pk}
    locks = _locks()
    assert locks[runs[due.pk].pk] <= timezone.now() and runs[due.pk].queued_at == now  # at once
    # Queued now, for its time: no cluster may take it before then.
    ahead = runs[soon.pk]
    assert ahead.scheduled_for == now + timedelta(seconds=0.6) and ahead.status == "queued"
    assert locks[ahead.pk] == ahead.scheduled_for and ahead.queued_at == ahead.scheduled_for
    soon.refresh_from_db()
    assert soon.next_run_at > ahead.scheduled_for and soon.occurrences == 1
    later.refresh_from_db()
    assert later.next_run_at == now + timedelta(seconds=1.5) and later.occurrences == 0
    # Nothing is queued twice when its time comes.
    dispatch.dispatch_due(holder, now=now + timedelta(seconds=0.7))
    assert Run.objects.filter(job=soon, scheduled_for=ahead.scheduled_for).count() == 1
    assert Run.objects.filter(job=later).count() == 1  # now within the window


def test_the_window_of_zero_queues_only_what_is_due(settings):
    settings.VIGIA_DISPATCH_AHEAD = 0
    holder, now = lead(), timezone.now()
    _due_at(now - timedelta(seconds=0.1))
    soon = _due_at(now + timedelta(seconds=0.2))
    assert dispatch.dispatch_due(holder, now=now) == 1
    assert not Run.objects.filter(job=soon).exists()


def test_a_forbid_job_with_a_run_active_or_a_retry_waiting_is_left_for_its_time():
    holder, now = lead(), timezone.now()
    at = now + timedelta(seconds=0.5)
    _due_at(now - timedelta(seconds=0.1))
    running = _due_at(at, overlap_policy="forbid")
    waiting = _due_at(at, overlap_policy="forbid")
    idle = _due_at(at, overlap_policy="forbid")
    earlier = now - timedelta(minutes=1)
    Run.objects.create(job=running, scheduled_for=earlier, due_at=earlier, attempt=1, status="running")
    retry_at = now + timedelta(minutes=5)
    Run.objects.create(job=waiting, scheduled_for=earlier, due_at=retry_at, attempt=2, status="retrying")

    assert dispatch.dispatch_due(holder, now=now) == 2  # the due job and the idle one, ahead
    assert Run.objects.get(job=idle, scheduled_for=at).status == "queued"
    for job in (running, waiting):
        job.refresh_from_db()
        assert job.next_run_at == at and job.occurrences == 0
    # At their time the ordinary rules apply: the running one's occurrence is skipped, the other one runs
    # (a retry waiting does not count as running).
    assert dispatch.dispatch_due(holder, now=at + timedelta(seconds=0.01)) == 1
    assert Run.objects.get(job=running, scheduled_for=at).status == "skipped"
    assert Run.objects.get(job=waiting, scheduled_for=at).status == "queued"


def test_a_pause_or_an_edit_withdraws_runs_queued_ahead_and_gives_their_occurrences_back():
    holder, now = lead(), timezone.now()
    due = _due_at(now - timedelta(seconds=0.1), overlap_policy="allow")
    last = _due_at(now + timedelta(seconds=0.5), interval_seconds=60, max_occurrences=1)
    edited = _due_at(now + timedelta(seconds=0.5), interval_seconds=30)
    assert dispatch.dispatch_due(holder, now=now) == 3
    last.refresh_from_db()
    # Its last occurrence is queued: the schedule completes at that occurrence's time.
    assert last.next_run_at is None and last.completed_at == now + timedelta(seconds=0.5) and last.occurrences == 1

    services.pause([last])
    last.refresh_from_db()
    assert not Run.objects.filter(job=last).exists() and last.occurrences == 0
    services.resume([last])
    last.refresh_from_db()
    assert last.enabled and last.next_run_at is not None and last.completed_at is None

    edited.refresh_from_db()
    edited.interval_seconds = 120
    services.save_job(edited)
    edited.refresh_from_db()
    assert not Run.objects.filter(job=edited).exists() and edited.occurrences == 0
    assert edited.next_run_at > timezone.now()
    # A run whose time has come is not withdrawn: it is running or about to.
    services.pause([due])
    assert Run.objects.filter(job=due, status="queued").count() == 1


def test_an_edit_withdrawing_more_runs_ahead_than_the_job_counted_keeps_its_count_at_zero():
    """Found by the form fuzz: a run queued ahead of a count that was reset (or made by hand) took the count
    to -1 in memory, and the save broke the table's CHECK (a 500 on PostgreSQL)."""
    now = timezone.now()
    job = _due_at(now + timedelta(minutes=5), interval_seconds=60)
    Run.objects.create(job=job, scheduled_for=now + timedelta(minutes=2), due_at=now, status="queued")
    assert job.occurrences == 0
    job.interval_seconds = 120
    services.save_job(job)
    job.refresh_from_db()
    assert job.occurrences == 0 and not Run.objects.filter(job=job).exists()


@pytest.mark.parametrize("raw", ["-1", "11", "1e400", "inf", "nan", "abc", "١", "1\x00", "\ud800", "1,5"])
def test_a_window_that_is_not_a_number_of_seconds_from_0_to_10_stops_the_start_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match="VIGIA_DISPATCH_AHEAD must be a number of seconds from 0 to 10"):
        env_seconds("VIGIA_DISPATCH_AHEAD", 1.0, 0.0, 10.0, environ={"VIGIA_DISPATCH_AHEAD": raw})


@pytest.mark.parametrize(("raw", "value"), [("", 1.0), ("0", 0.0), ("2.5", 2.5), (" 10 ", 10.0), ("1\n", 1.0)])
def test_a_window_within_range_is_taken(raw, value):
    assert env_seconds("VIGIA_DISPATCH_AHEAD", 1.0, 0.0, 10.0, environ={"VIGIA_DISPATCH_AHEAD": raw}) == value
