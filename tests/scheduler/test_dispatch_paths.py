"""The dispatcher's fast paths (scheduler.shared.rawsql, the collision fallback, the look at what is due next) behave
exactly as the ORM paths they replace, on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from scheduler import dispatch, lease, periodic, reaper
from scheduler.models import Housekeeping, Job, Lease, Run
from scheduler.shared import rawsql
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db


def test_the_prepared_job_select_reads_what_the_orm_reads():
    make_job(
        schedule_type="cron",
        cron="*/5 * * * *",
        timezone="America/Sao_Paulo",
        params={"a": [1, 2], "b": None},
        start_at=datetime(2026, 1, 1, tzinfo=UTC),
        max_occurrences=7,
        external_service="svc",
        external_key="k-1",
    )
    make_job(schedule_type="interval", interval_seconds=90, enabled=True)
    later = timezone.now() + timedelta(days=400)
    sql = rawsql.statement("dispatch", dispatch._Statements)
    with connection.cursor() as cursor:
        fetched = sql.due_jobs.fetch(cursor, [rawsql.datetime_param(connection, later)])
    assert len(fetched) == 2
    for job in fetched:
        expected = Job.objects.get(pk=job.pk)
        for field in Job._meta.concrete_fields:
            assert getattr(job, field.attname) == getattr(expected, field.attname), field.name
        assert job._state.adding is False and job._state.db == "default"


def test_the_prepared_insert_writes_what_bulk_create_writes():
    job = make_job()
    now = timezone.now()
    fast = [
        dispatch._run(job, now, Run.Status.QUEUED, now, result={"missed": 3}),
        dispatch._run(job, now + timedelta(seconds=1), Run.Status.SKIPPED, now, error="overlap"),
    ]
    statements = rawsql.statement("dispatch", dispatch._Statements)
    with connection.cursor() as cursor:
        statements.insert_runs.insert(cursor, fast)
    assert all(run.pk for run in fast)
    reference = dispatch._run(job, now + timedelta(seconds=2), Run.Status.QUEUED, now, result={"missed": 3})
    (reference,) = Run.objects.bulk_create([reference])
    first, second, orm = (Run.objects.get(pk=run.pk) for run in (*fast, reference))
    for field in Run._meta.concrete_fields:
        if field.name not in ("id", "scheduled_for", "due_at", "queued_at"):
            assert getattr(first, field.attname) == getattr(orm, field.attname), field.name
    # A run queued ahead of its time (VIGIA_DISPATCH_AHEAD) is on the queue for that time.
    assert first.queued_at == now and orm.queued_at == now + timedelta(seconds=2)
    assert second.status == "skipped" and second.error == "overlap" and second.result is None
    assert second.finished_at == now and second.queued_at is None


def test_a_batch_larger_than_one_insert_gets_every_id():
    job = make_job(overlap_policy="allow")
    now = timezone.now()
    runs = [dispatch._run(job, now + timedelta(seconds=i), Run.Status.QUEUED, now) for i in range(1200)]
    statements = rawsql.statement("dispatch", dispatch._Statements)
    with connection.cursor() as cursor:
        statements.insert_runs.insert(cursor, runs)
    assert len({run.pk for run in runs}) == 1200
    assert sorted(Run.objects.filter(job=job).values_list("id", flat=True)) == sorted(run.pk for run in runs)
    assert all(Run.objects.get(pk=run.pk).scheduled_for == run.scheduled_for for run in runs[::97])


def test_an_occurrence_already_queued_is_not_dispatched_twice_and_the_batch_goes_on():
    """The fast path does not look for existing first attempts: the unique constraint stops the double
    insert, and the batch is redone with the check, so the other jobs of the batch are still dispatched."""
    holder = lead()
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    taken, other = (
        make_job(schedule_type="interval", interval_seconds=60, start_at=start, overlap_policy="allow")
        for _ in range(2)
    )
    due = start
    assert taken.next_run_at == other.next_run_at == due
    Run.objects.create(job=taken, scheduled_for=due, attempt=1, status="queued", due_at=due, queued_at=due)

    assert dispatch.dispatch_due(holder, now=due) == 1
    assert Run.objects.filter(job=taken).count() == 1  # the one recorded before, not a second
    (run,) = Run.objects.filter(job=other)
    assert run.status == "queued"
    assert [SignedPackage.loads(task.payload)["args"] for task in OrmQ.objects.all()] == [(run.pk,)]
    for job in (taken, other):
        job.refresh_from_db()
        assert job.next_run_at == due + timedelta(seconds=60) and job.occurrences == 1


def test_a_batch_that_always_collides_gives_up_without_looping(monkeypatch):
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=60)
    calls = []

    def collide(self, cursor, runs, advances, look):
        calls.append(1)
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(dispatch._Statements, "record", collide)
    assert dispatch.dispatch_due(holder, now=job.next_run_at) == 0
    assert 2 <= len(calls) <= 5  # the fast try, the careful one, a bounded number of collisions
    assert not Run.objects.exists() and not OrmQ.objects.exists()


def test_only_the_kinds_that_are_due_are_looked_at():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=3600, max_attempts=3, overlap_policy="allow")
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(next_run_at=now)
    retry = Run.objects.create(job=job, scheduled_for=now, attempt=2, trigger="retry", status="retrying", due_at=now)
    assert dispatch.next_wakes() == (now, now)
    assert dispatch.due_kinds(now) == (True, True)
    # told only retries are due, the batch leaves the due job alone
    assert dispatch.dispatch_due(holder, now=now, known_due=True, jobs=False, retries=True) == 1
    retry.refresh_from_db()
    assert retry.status == "queued" and not Run.objects.filter(attempt=1).exists()
    assert dispatch.due_kinds(now) == (True, False)
    assert dispatch.dispatch_due(holder, now=now) == 1
    assert Run.objects.filter(attempt=1, status="queued").count() == 1


def test_a_dispatch_says_what_is_due_next_as_a_fresh_look_would():
    holder = lead()
    soon = make_job(schedule_type="interval", interval_seconds=30, overlap_policy="allow")
    later = make_job(schedule_type="interval", interval_seconds=600)
    Job.objects.filter(pk=later.pk).update(next_run_at=soon.next_run_at + timedelta(seconds=45))
    done = dispatch.dispatch_and_look(holder, now=soon.next_run_at)
    assert done.queued == 1 and done.committed
    assert done.wakes == dispatch.next_wakes() == (soon.next_run_at + timedelta(seconds=30), None)
    assert dispatch.dispatch_and_look(holder, now=soon.next_run_at) == dispatch.Dispatched()  # nothing due


def test_the_fence_renews_the_lease_and_refuses_a_lapsed_one():
    holder = lead(ttl=5)
    before = Lease.objects.get().expires_at
    job = make_job(schedule_type="interval", interval_seconds=30)
    dispatch.dispatch_due(holder, now=job.next_run_at)
    assert Lease.objects.get().expires_at > before
    Lease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now())
    with pytest.raises(lease.LostLease):
        dispatch.dispatch_due(holder)
    assert Run.objects.count() == 1  # the lapsed leader's batch rolled back whole


def test_a_lapsed_lease_is_renewed_by_its_holder_and_taken_by_no_one_else_before_it_expires():
    assert lease.try_acquire("a", ttl=10)
    Lease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert lease.try_acquire("a", ttl=10)  # nobody took it meanwhile: renewed
    assert not lease.try_acquire("b", ttl=10)
    Lease.objects.all().delete()
    assert lease.try_acquire("b", ttl=10)  # the row is created again when missing


def test_the_reaper_looks_once_when_nothing_is_stale(django_assert_max_num_queries):
    Run.objects.create(
        job=make_job(),
        scheduled_for=timezone.now(),
        status="running",
        due_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    with django_assert_max_num_queries(1):
        assert reaper.reap() == (0, 0)


def test_a_chore_status_row_is_updated_by_the_prepared_statement(monkeypatch):
    monkeypatch.setattr(periodic, "_chores", {})
    periodic.register("probe", 5, lambda: {"n": [1, None]})
    periodic.run_due(0.0)
    periodic.run_due(5.0)
    row = Housekeeping.objects.get(name="probe")
    assert (row.runs, row.failures, row.last_result, row.last_error) == (2, 0, {"n": [1, None]}, "")
    assert row.last_ok_at == row.last_finished_at and row.last_started_at <= row.last_finished_at
    assert periodic.next_due() == 10.0
