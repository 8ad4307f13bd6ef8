"""Leader-side housekeeping: chores run on their interval, keep a status row, put nothing in the run
history, and one failing chore stops neither the others nor dispatch."""

import pytest

from scheduler import periodic
from scheduler.models import Housekeeping, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def chores(monkeypatch):
    monkeypatch.setattr(periodic, "_chores", {})
    return periodic


def test_a_chore_runs_on_its_interval_and_records_its_status(chores):
    calls = []
    chores.register("count", 5, lambda: calls.append(1) or {"n": len(calls)})
    assert chores.run_due(100.0) == {"count": {"n": 1}}
    assert chores.run_due(104.9) == {}  # not yet
    assert chores.run_due(105.0) == {"count": {"n": 2}}
    row = Housekeeping.objects.get(name="count")
    assert row.runs == 2 and row.failures == 0 and row.last_result == {"n": 2} and row.last_ok_at
    assert row.every_seconds == 5 and not row.last_error
    assert not Run.objects.exists()  # housekeeping is not in the run history


def test_a_failing_chore_is_recorded_and_the_others_still_run(chores):
    def broken():
        raise RuntimeError("disk full")

    chores.register("broken", 5, broken)
    chores.register("fine", 5, lambda: {"ok": True})
    assert chores.run_due(0.0) == {"broken": None, "fine": {"ok": True}}
    row = Housekeeping.objects.get(name="broken")
    assert row.failures == 1 and row.last_error == "RuntimeError: disk full" and row.last_ok_at is None


def test_channels_register_the_delivery_sweep_and_the_retired_job_is_removed():
    from channels_app import jobs
    from scheduler.models import Job
    from tests.support.factories import make_job

    assert "requeue_deliveries" in {chore.name for chore in periodic.chores()}
    make_job(name="old sweep", kind="noop", external_service="vigia", external_key="deliver_due")
    jobs.ensure_system_jobs()
    assert not Job.objects.filter(external_key="deliver_due").exists()
