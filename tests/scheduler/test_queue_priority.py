"""The priority broker and `not_before`, with real qcluster processes on the test database."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from scheduler import djq, liveness, queue, services
from scheduler.models import Run
from tests.support.factories import make_job
from tests.support.processes import wait_for

PRIORITY = ["high", "default", "low"]


def _queue_mix(per_queue, seconds=0.02):
    """Runs on every queue, enqueued interleaved low, default, high (so first-in-first-out would fail)."""
    runs = {}
    for i in range(per_queue):
        for name in reversed(PRIORITY):
            job = make_job(name=f"{name}-{i}", kind="test_sleep", params={"seconds": seconds}, queue=name)
            runs[services.run_now(job).pk] = name
    return runs


def _all_final(ids):
    return not Run.objects.filter(pk__in=ids).exclude(status__in=Run.FINAL).exists()


@pytest.mark.django_db
def test_not_before_is_the_rows_lock():
    job = make_job()
    later = timezone.now() + timedelta(minutes=5)
    run = services.run_now(job, enqueue=False)
    queue.enqueue([(run.pk, "high", 60)], not_before=later)
    queue.enqueue_tasks("some.module.func", [((41,), "low", 10)], not_before=later)
    queue.enqueue([(run.pk, "default", 60)])
    rows = {row.key: row for row in OrmQ.objects.all()}
    assert rows["high"].lock == rows["low"].lock == later
    assert rows["default"].lock <= timezone.now()
    assert djq.read_task(rows["low"].payload)["args"] == (41,)
    (high,) = [q for q in liveness.queue_depths() if q.name == "high"]
    assert (high.waiting, high.oldest) == (0, None)  # not waiting yet: nothing to alarm health about


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_one_worker_takes_every_high_before_any_default_before_any_low(processes):
    runs = _queue_mix(per_queue=6)
    cluster = processes.qcluster(VIGIA_WORKERS=1)
    wait_for(lambda: _all_final(runs), 90, message=f"every run to finish\n{cluster.output()[-3000:]}")

    done = list(Run.objects.filter(pk__in=runs).order_by("started_at").values_list("pk", "status", "started_at"))
    assert {status for _, status, _ in done} == {"succeeded"}
    order = [runs[pk] for pk, _, _ in done]
    assert order == ["high"] * 6 + ["default"] * 6 + ["low"] * 6, order
    started = {name: [at for pk, _, at in done if runs[pk] == name] for name in PRIORITY}
    assert max(started["high"]) < min(started["default"]) and max(started["default"]) < min(started["low"])


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_a_cluster_serving_high_takes_nothing_else(processes):
    runs = _queue_mix(per_queue=3)
    others = {row.pk: row.lock for row in OrmQ.objects.exclude(key="high")}
    assert len(others) == 6
    cluster = processes.qcluster(VIGIA_WORKERS=1, VIGIA_CLUSTER_QUEUES="high")
    highs = [pk for pk, name in runs.items() if name == "high"]
    wait_for(lambda: _all_final(highs), 60, message=f"the high runs to finish\n{cluster.output()[-3000:]}")
    time.sleep(1.5)  # thirty looks at the queue (VIGIA_QUEUE_POLL 0.05 s) since

    assert set(Run.objects.filter(pk__in=highs).values_list("status", flat=True)) == {"succeeded"}
    rest = Run.objects.filter(pk__in=runs).exclude(pk__in=highs)
    assert set(rest.values_list("status", flat=True)) == {"queued"}
    assert not OrmQ.objects.filter(key="high").exists()
    untouched = {row.pk: row.lock for row in OrmQ.objects.all()}
    assert untouched == others, "the high-only cluster took (locked) a default or low task"
    assert [c.holder for c in liveness.clusters() if c.alive][0].endswith("[high]")


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_a_task_queued_with_not_before_waits_without_holding_a_worker(processes):
    cluster = processes.qcluster(VIGIA_WORKERS=1)
    wait_for(lambda: [c for c in liveness.clusters() if c.alive], 30, message=f"the cluster\n{cluster.output()}")
    quick = {"kind": "test_sleep", "params": {"seconds": 0.1}}

    not_before = timezone.now() + timedelta(seconds=3)
    delayed = services.run_now(make_job(name="delayed", **quick), enqueue=False)
    queue.enqueue([(delayed.pk, "default", 30)], not_before=not_before)
    meanwhile = services.run_now(make_job(name="meanwhile", **quick))  # same queue, queued after it

    wait_for(lambda: _all_final([meanwhile.pk]), 10, message="the run queued meanwhile")
    time.sleep(max(0.0, (not_before - timezone.now()).total_seconds() - 0.5))
    assert Run.objects.get(pk=delayed.pk).status == "queued"
    assert OrmQ.objects.get().lock == not_before, "a cluster took the delayed task before its time"

    wait_for(lambda: _all_final([delayed.pk]), 15, message=f"the delayed run\n{cluster.output()[-3000:]}")
    delayed.refresh_from_db()
    meanwhile.refresh_from_db()
    assert delayed.status == meanwhile.status == "succeeded"
    assert meanwhile.finished_at < not_before, "the one worker was held by the delayed task"
    assert not_before <= delayed.started_at < not_before + timedelta(seconds=1), delayed.started_at - not_before
    # The task row goes when django-q2 acknowledges it, just after the run it carried has ended: under load
    # (the parallel suite on PostgreSQL) that can be a moment after the run reads final.
    wait_for(lambda: not OrmQ.objects.exists(), 5, message="the delayed task to be acknowledged")
