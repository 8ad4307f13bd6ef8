"""The daily "Prune history" job: only old, final history goes, in batches, with counts per kind."""

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ, Task

from channels_app import jobs as channel_jobs
from scheduler import job_kinds, services
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scheduler.shared import retention


@pytest.fixture
def job(db):
    return Job.objects.create(name="retention-test", kind="noop", schedule_type="interval", interval_seconds=60)


def make_run(job, age, status=Run.Status.SUCCEEDED, attempt=1):
    when = timezone.now() - age
    return Run.objects.create(job=job, scheduled_for=when, attempt=attempt, status=status, due_at=when).pk


def make_task(age, success=False):
    when = timezone.now() - age
    return Task.objects.create(
        id=uuid.uuid4().hex,
        name=f"t-{uuid.uuid4().hex[:8]}",
        func="scheduler.queue.run",
        started=when,
        stopped=when,
        success=success,
    ).pk


def prune_history(**params):
    cleaned = job_kinds.clean_params("prune_history", {"pause_ms": 0, **params})
    context = job_kinds.RunContext(
        run_id=None, job_id=None, job_name="t", attempt=1, scheduled_for=timezone.now(), timeout_seconds=60
    )
    return job_kinds.get("prune_history").run(cleaned, context)


def test_only_old_final_runs_go_and_each_job_keeps_its_latest(job, settings):
    settings.VIGIA_RETAIN_RUNS_DAYS = 30
    old = timedelta(days=31)
    doomed = {make_run(job, old + timedelta(seconds=i), status) for i, status in enumerate(Run.FINAL)}
    doomed.add(make_run(job, old + timedelta(hours=1), Run.Status.FAILED, attempt=1))
    kept = {make_run(job, old + timedelta(hours=2), status) for status in [*Run.ACTIVE, Run.Status.RETRYING]}
    kept.add(make_run(job, timedelta(days=29)))  # final but recent
    yearly = Job.objects.create(name="yearly", kind="noop", schedule_type="interval", interval_seconds=3600)
    doomed.add(make_run(yearly, timedelta(days=400), attempt=1))
    kept.add(make_run(yearly, timedelta(days=400), Run.Status.FAILED, attempt=2))  # its last run, however old

    result = prune_history()

    assert result["runs"] == {"deleted": len(doomed), "batches": 1, "days": 30}
    assert set(Run.objects.values_list("pk", flat=True)) == kept


def test_old_queue_task_records_go_and_the_queue_is_untouched(db, settings):
    settings.VIGIA_RETAIN_TASKS_DAYS = 7
    doomed = {make_task(timedelta(days=8)), make_task(timedelta(days=30), success=True)}
    kept = {make_task(timedelta(days=6))}
    OrmQ.objects.create(key="default", payload="x", lock=timezone.now() - timedelta(days=60))

    result = prune_history()

    assert result["tasks"] == {"deleted": 2, "batches": 1, "days": 7}
    assert set(Task.objects.values_list("pk", flat=True)) == kept and not doomed & kept
    assert OrmQ.objects.count() == 1


def test_five_rows_with_a_batch_of_two_take_three_transactions(job, settings):
    settings.VIGIA_RETAIN_RUNS_DAYS = 1
    for i in range(5):
        make_run(job, timedelta(days=2, seconds=i))
    make_run(job, timedelta(hours=1))  # the latest, kept

    with CaptureQueriesContext(connection) as queries:
        result = prune_history(batch_size=2)

    run_table = Run._meta.db_table
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE") and run_table in q["sql"].split("WHERE")[0]]
    assert len(deletes) == 3
    assert result["runs"] == {"deleted": 5, "batches": 3, "days": 1}
    assert Run.objects.count() == 1


def test_the_batch_size_comes_from_the_setting(job, settings):
    settings.VIGIA_RETAIN_RUNS_DAYS, settings.VIGIA_RETENTION_BATCH = 1, 2
    for i in range(4):
        make_run(job, timedelta(days=2, seconds=i))
    make_run(job, timedelta(hours=1))
    assert prune_history()["runs"] == {"deleted": 4, "batches": 2, "days": 1}


def test_an_age_of_zero_keeps_that_history_forever(job, settings):
    settings.VIGIA_RETAIN_RUNS_DAYS, settings.VIGIA_RETAIN_TASKS_DAYS = 0, 0
    make_run(job, timedelta(days=3000))
    make_run(job, timedelta(days=2000))
    make_task(timedelta(days=3000))

    result = prune_history()

    assert result["runs"] == result["tasks"] == {"days": 0}
    assert Run.objects.count() == 2 and Task.objects.count() == 1


def test_every_apps_pruner_reports_and_a_broken_one_fails_the_run_after_the_others(job, settings, monkeypatch):
    settings.VIGIA_RETAIN_RUNS_DAYS = 1
    make_run(job, timedelta(days=5))
    make_run(job, timedelta(days=4))

    def broken(cutoff):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(retention._pruners, "broken", retention.Pruner("broken", "VIGIA_RETAIN_RUNS_DAYS", broken))
    system = services.ensure_jobs([retention.PRUNE_JOB])[0]
    run = services.run_now(system, enqueue=False)
    execute_run(run.id)
    run.refresh_from_db()

    assert run.status == Run.Status.FAILED and "broken" in run.error
    assert Run.objects.filter(job=system, attempt=2, status=Run.Status.RETRYING).exists()  # tried again later
    assert run.result["broken"]["error"] == "RuntimeError: disk on fire"
    assert run.result["runs"] == {"deleted": 1, "batches": 1, "days": 1}  # the pruner before it worked
    assert {"tasks", "deliveries", "events", "item_revisions"} <= set(run.result)  # and those after it ran


def test_the_daily_system_job_is_created_with_the_others(db, settings):
    settings.VIGIA_SYSTEM_JOBS = True
    channel_jobs._ensure_after_migrate(sender=apps.get_app_config("channels_app"))

    job = Job.objects.get(external_service="vigia", external_key="prune_history")
    assert (job.name, job.kind, job.cron, job.queue) == ("Prune history", "prune_history", "30 3 * * *", "low")
    assert job.timezone == settings.TIME_ZONE and job.enabled
    local = timezone.localtime(job.next_run_at, timezone=ZoneInfo(job.timezone))
    assert (local.hour, local.minute) == (3, 30)

    Job.objects.filter(pk=job.pk).update(cron="0 4 * * *")  # an operator moved it
    channel_jobs.ensure_system_jobs()
    assert Job.objects.get(external_key="prune_history").cron == "0 4 * * *"


def test_no_system_job_when_system_jobs_are_off(db, settings):
    settings.VIGIA_SYSTEM_JOBS = False
    channel_jobs._ensure_after_migrate(sender=apps.get_app_config("channels_app"))
    assert not Job.objects.filter(kind="prune_history").exists()
