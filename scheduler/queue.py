"""Putting runs on django-q2's queue.

Runs are enqueued in the same database transaction that creates them (the ORM broker's OrmQ table
lives in our database), so a run is queued exactly when it exists. Rows are written in bulk: the
dispatcher queues thousands of runs a second this way, where async_task() would insert one by one.
"""

from django.utils import timezone
from django_q.humanhash import uuid
from django_q.models import OrmQ
from django_q.signing import SignedPackage

EXECUTE = "scheduler.execution.execute_run"
# django-q2 kills a worker stuck past this margin beyond the run's own timeout (a last resort: the
# execution wrapper ends the run on time itself).
HARD_KILL_MARGIN = 30


def package(run_id, queue, timeout_seconds, func=EXECUTE, name=None):
    _, task_id = uuid()
    task = {
        "id": task_id,
        "name": name or f"run-{run_id}",
        "func": func,
        "args": (run_id,),
        "kwargs": {},
        "timeout": int(timeout_seconds) + HARD_KILL_MARGIN,
        "ack_failure": True,
        "started": timezone.now(),
    }
    return OrmQ(key=queue, payload=SignedPackage.dumps(task), lock=timezone.now())


def enqueue_tasks(func, entries):
    """Queue calls of `func` (a dotted path): entries are (args, queue, timeout_seconds), args one id."""
    packages = [
        package(args[0], queue, timeout, func=func, name=f"{func.rsplit('.', 1)[-1]}-{args[0]}")
        for args, queue, timeout in entries
    ]
    if packages:
        OrmQ.objects.bulk_create(packages, batch_size=500)
    return len(packages)


def enqueue(entries):
    """entries: iterable of (run_id, queue, timeout_seconds)."""
    packages = [package(*entry) for entry in entries]
    if packages:
        OrmQ.objects.bulk_create(packages, batch_size=500)
    return len(packages)
