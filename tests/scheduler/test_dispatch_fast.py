"""The dispatcher's two-round-trip batch on PostgreSQL (scheduler.dispatch._dispatch_fast): it writes what the
ordinary path writes, hands every batch it cannot do to that path, and never leaves a transaction open.

Committed tests: inside a test's transaction the dispatcher takes the ordinary path, as it must (its own
BEGIN and COMMIT would end the caller's transaction)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from scheduler import dispatch, lease, queue
from scheduler.models import Job, Lease, Run
from scheduler.shared import rawsql
from tests.support.factories import lead, make_job

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the fast batch is PostgreSQL's"),
]


@pytest.fixture(autouse=True)
def _only_these_jobs(db):
    """The system jobs post_migrate creates stay out of these batches."""
    Job.objects.update(enabled=False, next_run_at=None)


def _idle():
    """The connection is outside any transaction (the batch committed or rolled back its own)."""
    from psycopg import pq

    return connection.connection.info.transaction_status == pq.TransactionStatus.IDLE


def _tasks():
    return sorted(SignedPackage.loads(task.payload)["args"][0] for task in OrmQ.objects.all())


def test_a_batch_is_two_round_trips_and_writes_what_the_ordinary_path_writes():
    holder = lead()
    now = timezone.now().replace(microsecond=0)
    now = now.replace(minute=now.minute - now.minute % 5, second=1)  # 1 s past a five-minute mark
    jobs = [
        make_job(schedule_type="once", run_at=now, overlap_policy="allow", queue="high", timeout_seconds=90),
        make_job(schedule_type="interval", interval_seconds=60),
        make_job(schedule_type="cron", cron="*/5 * * * *", timezone="America/Sao_Paulo", misfire_policy="coalesce"),
    ]
    Job.objects.filter(pk__in=[job.pk for job in jobs]).update(next_run_at=now - timedelta(seconds=1))
    Job.objects.filter(pk=jobs[0].pk).update(run_at=now - timedelta(seconds=1))
    Job.objects.filter(pk=jobs[2].pk).update(next_run_at=now - timedelta(minutes=11))  # 4 due, coalesced

    rawsql.statement("dispatch", dispatch._Statements)  # built once per connection (it reads the sequence's name)
    with CaptureQueriesContext(connection) as executed:
        done = dispatch.dispatch_and_look(holder, now=now, known_due=True, jobs=True, retries=False)
    assert done.queued == 3 and done.committed and _idle()
    assert len(executed) == 2, [query["sql"][:60] for query in executed]

    fast = {run.job_id: run for run in Run.objects.all()}
    assert _tasks() == sorted(run.pk for run in fast.values())
    assert fast[jobs[2].pk].result == {"missed": 3}
    by_run = {SignedPackage.loads(task.payload)["args"][0]: task for task in OrmQ.objects.all()}
    task = SignedPackage.loads(by_run[fast[jobs[0].pk].pk].payload)
    assert by_run[fast[jobs[0].pk].pk].key == "high" and task["timeout"] == 90 + queue.HARD_KILL_MARGIN

    # The same batch through the ordinary path (inside a transaction), for comparison field by field.
    advanced = {job.pk: Job.objects.get(pk=job.pk) for job in jobs}
    Run.objects.all().delete()
    OrmQ.objects.all().delete()
    Job.objects.filter(pk__in=[job.pk for job in jobs]).update(
        next_run_at=now - timedelta(seconds=1), occurrences=0, last_scheduled_for=None, completed_at=None, enabled=True
    )
    Job.objects.filter(pk=jobs[2].pk).update(next_run_at=now - timedelta(minutes=11))
    with transaction.atomic():
        assert dispatch.dispatch_due(holder, now=now) == 3
    ordinary = {run.job_id: run for run in Run.objects.all()}
    for job_id, run in fast.items():
        for field in Run._meta.concrete_fields:
            if field.name != "id":
                assert getattr(run, field.attname) == getattr(ordinary[job_id], field.attname), field.name
        again = Job.objects.get(pk=job_id)
        for name in ("next_run_at", "occurrences", "last_scheduled_for", "completed_at", "enabled"):
            assert getattr(again, name) == getattr(advanced[job_id], name), name


def test_a_job_that_cannot_be_planned_leaves_the_batch_to_the_ordinary_path():
    holder = lead()
    now = timezone.now()
    healthy = make_job(schedule_type="interval", interval_seconds=60)
    broken = make_job(schedule_type="cron", cron="* * * * *", timezone="UTC")
    Job.objects.filter(pk=broken.pk).update(timezone="Atlantis/Capital")
    Job.objects.update(next_run_at=now - timedelta(seconds=1))

    assert dispatch.dispatch_due(holder, now=now) == 1
    assert _idle()
    (run,) = Run.objects.filter(job=healthy)
    assert run.status == "queued" and _tasks() == [run.pk]
    broken.refresh_from_db()
    assert not broken.enabled and "Atlantis/Capital" in broken.paused_reason
    assert Run.objects.get(job=broken).status == "failed"


def test_a_job_with_several_occurrences_due_gets_every_one():
    holder = lead()
    minute = timezone.now().replace(second=0, microsecond=0)
    job = make_job(
        schedule_type="cron", cron="* * * * *", misfire_policy="all", misfire_grace_seconds=3600, overlap_policy="allow"
    )
    Job.objects.filter(pk=job.pk).update(next_run_at=minute - timedelta(minutes=3))

    assert dispatch.dispatch_due(holder, now=minute + timedelta(seconds=1)) == 4
    moments = sorted(Run.objects.filter(job=job).values_list("scheduled_for", flat=True))
    assert moments == [minute - timedelta(minutes=m) for m in (3, 2, 1, 0)]
    assert len(_tasks()) == 4 and _idle()


def test_an_occurrence_already_recorded_is_not_queued_twice():
    holder = lead()
    now = timezone.now().replace(microsecond=0)
    taken, other = (make_job(schedule_type="interval", interval_seconds=60) for _ in range(2))
    Job.objects.update(next_run_at=now)
    Run.objects.create(job=taken, scheduled_for=now, attempt=1, status="queued", due_at=now, queued_at=now)

    assert dispatch.dispatch_due(holder, now=now) == 1
    assert Run.objects.filter(job=taken).count() == 1 and _idle()
    assert _tasks() == [Run.objects.get(job=other).pk]


def test_a_lapsed_lease_writes_nothing_and_leaves_no_transaction_open():
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=60)
    Lease.objects.update(holder="someone else")
    with pytest.raises(lease.LostLease):
        dispatch.dispatch_due(holder, now=job.next_run_at)
    assert _idle() and not Run.objects.exists() and not OrmQ.objects.exists()


def test_a_failure_in_the_writes_rolls_the_whole_batch_back(monkeypatch):
    holder = lead()
    job = make_job(schedule_type="interval", interval_seconds=60)
    before = Job.objects.get(pk=job.pk).next_run_at
    monkeypatch.setattr(queue, "enqueue_statements", lambda entries: [("INSERT INTO no_such_table VALUES (%s)", [1])])
    with pytest.raises(Exception, match="no_such_table"):
        dispatch.dispatch_due(holder, now=before)
    assert _idle() and not Run.objects.exists()
    assert Job.objects.get(pk=job.pk).next_run_at == before
    monkeypatch.undo()
    assert dispatch.dispatch_due(holder, now=before) == 1  # the connection is fine, the job still due
