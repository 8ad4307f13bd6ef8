"""prune_runs deletes only old, finished runs, in batches."""

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from scheduler import job_kinds
from scheduler.models import Job, Run


def prune(params):
    cleaned = job_kinds.clean_params("prune_runs", params)
    context = job_kinds.RunContext(
        run_id=None, job_id=1, job_name="t", attempt=1, scheduled_for=timezone.now(), timeout_seconds=5
    )
    return job_kinds.get("prune_runs").run(cleaned, context)


def make_runs(job, count, age, status, start=0):
    """`count` runs scheduled `age` ago (one second apart so they stay unique)."""
    base = timezone.now() - age
    runs = [
        Run(job=job, scheduled_for=base - timedelta(seconds=start + i), attempt=1, status=status, due_at=base)
        for i in range(count)
    ]
    return {run.pk for run in Run.objects.bulk_create(runs)} if runs else set()


@pytest.fixture
def job(db):
    return Job.objects.create(name="prune-test", kind="noop", schedule_type="interval", interval_seconds=60)


def test_deletes_only_old_final_runs_in_batches(job):
    old = timedelta(days=40)
    doomed = set()
    for offset, status in enumerate(Run.FINAL):
        doomed |= make_runs(job, 50, old, status, start=offset * 1000)  # 250 old final runs
    kept = set()
    for offset, status in enumerate([Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.RETRYING]):
        kept |= make_runs(job, 5, old, status, start=10_000 + offset * 1000)  # old but not final
    kept |= make_runs(job, 20, timedelta(days=10), Run.Status.SUCCEEDED)  # final but recent
    kept |= make_runs(job, 3, timedelta(days=29, hours=23), Run.Status.FAILED)  # just inside

    result = prune({"days": 30, "batch_size": 100, "pause_ms": 0})

    assert result["deleted"] == len(doomed) == 250
    assert result["batches"] == 3
    cutoff = datetime.fromisoformat(result["cutoff"])
    assert abs((timezone.now() - timedelta(days=30)) - cutoff) < timedelta(minutes=1)
    assert set(Run.objects.values_list("pk", flat=True)) == kept
    assert Run.objects.filter(pk__in=doomed).count() == 0


def test_exact_multiple_of_batch_size(job):
    make_runs(job, 200, timedelta(days=5), Run.Status.SUCCEEDED)
    result = prune({"days": 1, "batch_size": 100, "pause_ms": 0})
    assert (result["deleted"], result["batches"]) == (200, 2)
    assert not Run.objects.exists()


def test_nothing_to_delete(job):
    make_runs(job, 3, timedelta(hours=1), Run.Status.SUCCEEDED)
    assert prune({"days": 1}) | {"cutoff": None} == {"deleted": 0, "batches": 0, "cutoff": None}
    assert Run.objects.count() == 3


def test_defaults_are_filled_in():
    assert job_kinds.clean_params("prune_runs", {"days": 7}) == {"days": 7, "batch_size": 1000, "pause_ms": 50}
    assert job_kinds.clean_params("prune_runs", {"days": "7", "pause_ms": 0})["pause_ms"] == 0


@pytest.mark.parametrize(
    "params, key",
    [
        ({}, "params.days"),
        ({"days": 0}, "params.days"),
        ({"days": 1, "batch_size": 99}, "params.batch_size"),
        ({"days": 1, "batch_size": 10001}, "params.batch_size"),
        ({"days": 1, "pause_ms": -1}, "params.pause_ms"),
        ({"days": 1, "pause_ms": 5001}, "params.pause_ms"),
    ],
)
def test_invalid_params(params, key):
    with pytest.raises(ValidationError) as info:
        job_kinds.clean_params("prune_runs", params)
    assert key in info.value.message_dict
