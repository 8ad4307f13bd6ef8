"""Putting runs (and other task calls) on django-q2's queue, through scheduler.djq.

Runs are enqueued in the same database transaction that creates them (the ORM broker's OrmQ table
lives in our database), so a run is queued exactly when it exists. Rows are written in bulk: the
dispatcher queues thousands of runs a second this way, where async_task() would insert one by one.

`not_before` (an aware datetime) keeps a task on the queue, not started by any cluster, until then: the
broker hands out only rows whose lock is past, so this costs no polling of ours (scheduler.djq).
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from scheduler import djq

EXECUTE = "scheduler.execution.execute_run"
# django-q2 kills a worker stuck past this margin beyond the run's own timeout (a last resort: the
# execution wrapper ends the run on time itself).
HARD_KILL_MARGIN = 30

type Scheduled = tuple[int, str, float, datetime | None]  # (run_id, queue, timeout_seconds, not_before)


def package(
    run_id: int,
    queue: str,
    timeout_seconds: float,
    func: str = EXECUTE,
    name: str | None = None,
    *,
    not_before: datetime | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> djq.OrmQ:
    """One unsaved queue row calling `func(run_id, **kwargs)` on the named queue."""
    return djq.make_task(
        func,
        (run_id,),
        queue,
        int(timeout_seconds) + HARD_KILL_MARGIN,
        name=name or f"run-{run_id}",
        not_before=not_before,
        kwargs=kwargs,
    )


def enqueue_tasks(
    func: str, entries: Iterable[tuple[Sequence[int], str, float]], not_before: datetime | None = None
) -> int:
    """Queue calls of `func` (a dotted path): entries are (args, queue, timeout_seconds), args one id."""
    short = func.rsplit(".", 1)[-1]
    return djq.bulk_enqueue(
        package(args[0], queue, timeout, func=func, name=f"{short}-{args[0]}", not_before=not_before)
        for args, queue, timeout in entries
    )


def enqueue(
    entries: Iterable[tuple[int, str, float]],
    not_before: datetime | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> int:
    """entries: iterable of (run_id, queue, timeout_seconds); none starts before `not_before`; each call
    gets `kwargs` (a deferred run's held slots)."""
    return djq.bulk_enqueue(package(*entry, not_before=not_before, kwargs=kwargs) for entry in entries)


def enqueue_scheduled(entries: Iterable[Scheduled]) -> int:
    """Queue runs that may each wait for a moment of their own: entries are (run_id, queue,
    timeout_seconds, not_before), not_before None for at once (the dispatcher's runs queued ahead)."""
    return djq.bulk_enqueue(_packages(entries))


def enqueue_statements(entries: Iterable[Scheduled]) -> list[tuple[str, list[Any]]]:
    """[(sql, params)] that enqueue_scheduled(entries) would run, for a caller that sends them with its own."""
    return djq.enqueue_statements(_packages(entries))


def _packages(entries: Iterable[Scheduled]) -> Iterator[djq.OrmQ]:
    return (package(run_id, name, timeout, not_before=at) for run_id, name, timeout, at in entries)
