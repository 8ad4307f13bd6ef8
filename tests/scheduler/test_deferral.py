"""Waiting never holds a worker: a run whose first rate-limit slot is far goes back on the queue for that
moment, holding its slot, and the worker is free meanwhile."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from scheduler import djq, services
from scheduler.execution import execute_run
from scheduler.models import Budget, Run
from scheduler.shared import budgets
from tests.support.factories import make_job
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db


def budget_job(budget="host:slow.example", per_second=1.0, **fields):
    return make_job(kind="test_budget", params={"budget": budget, "per_second": per_second}, **fields)


def test_a_far_slot_puts_the_run_back_on_the_queue_for_that_moment_holding_the_slot():
    job = budget_job()
    budgets.hold("host:slow.example", 30)
    run = services.run_now(job)
    OrmQ.objects.all().delete()
    started = time.time()
    assert execute_run(run.id) == "deferred"
    assert time.time() - started < 1  # the worker did not sleep
    run.refresh_from_db()
    assert run.status == "queued" and run.pickups == 0 and run.worker == ""
    [row] = OrmQ.objects.all()
    task = djq.read_task(row.payload)
    assert 28 < (row.lock - timezone.now()).total_seconds() <= 31  # handed out only when the slot comes
    [(name, at)] = task["kwargs"]["held"].items()
    assert name == "host:slow.example" and 29 < at - time.time() <= 31
    slot_after = Budget.objects.get(name=name).next_slot_at
    assert (slot_after - timezone.now()).total_seconds() > 30  # the slot is taken: nobody else gets it


def test_the_resumed_run_uses_its_held_slot_and_reserves_no_other():
    job = budget_job()
    run = services.run_now(job)
    name = "host:slow.example"
    budgets.hold(name, 60)
    before = Budget.objects.get(name=name).next_slot_at
    assert execute_run(run.id, held={name: time.time() + 0.2}) == "succeeded"
    run.refresh_from_db()
    assert 0.0 < run.result["waited"] <= 0.3
    assert Budget.objects.get(name=name).next_slot_at == before


def test_a_near_slot_is_waited_in_place():
    job = budget_job(per_second=2)
    budgets.hold("host:slow.example", 0.4)
    run = services.run_now(job)
    assert execute_run(run.id) == "succeeded"
    run.refresh_from_db()
    assert 0.2 < run.result["waited"] <= 0.5 and run.pickups == 1


def test_a_deferred_run_still_ends_through_the_door_when_cancelled():
    run = services.run_now(budget_job())
    budgets.hold("host:slow.example", 30)
    assert execute_run(run.id) == "deferred"
    assert services.cancel([run]) == (1, 0)
    assert execute_run(run.id, held={"host:slow.example": time.time()}) == "not claimed"


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_a_worker_is_free_while_rate_limited_runs_wait_for_their_slots(processes):
    """One worker; ten runs share a budget of one request every 2 s (20 s of waiting in all). A job due
    meanwhile starts at once instead of waiting behind them."""
    processes.qcluster(VIGIA_WORKERS=1)
    waiting = [budget_job("host:busy.example", per_second=0.5, name=f"limited {i}") for i in range(10)]
    services.run_many(waiting)
    wait_for(lambda: Run.objects.filter(job__in=waiting, status="succeeded").exists(), 60, message="the first")
    time.sleep(1)
    quick = services.run_now(make_job(name="quick", kind="noop"))
    done = wait_for(lambda: Run.objects.filter(pk=quick.pk, status="succeeded").first(), 10, message="quick")
    assert (done.started_at - done.queued_at) < timedelta(seconds=1)
    assert Run.objects.filter(job__in=waiting).exclude(status="succeeded").exists()  # the others still wait
    wait_for(lambda: Run.objects.filter(job__in=waiting, status="succeeded").count() == 10, 40, message="all")
    went = sorted(Run.objects.get(job=job).result["went_at"] for job in waiting)
    gaps = [b - a for a, b in zip(went, went[1:], strict=False)]
    assert min(gaps) > 1.5, gaps  # the budget held: one every 2 s
