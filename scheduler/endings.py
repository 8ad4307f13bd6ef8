"""The one door every run ends through, and the pause of a job whose own data is at fault.

Whoever ends a run — the execution wrapper (succeeded, failed, timed out, cancelled), the reaper (lost
after too many pick-ups), the watchdog (stuck past its timeout), an operator cancelling a waiting run,
the dispatcher (a job it cannot plan) — calls `end_run`. It records the final status only while the run
is still in the state the caller saw (a compare-and-set, so two enders never both win), schedules the
retry the job's policy allows, pauses the job when its own data is at fault, and sends `run_finished`,
which is what raises failure alerts.
"""

import logging
import random
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from scheduler.models import Job, Run
from scheduler.shared import rawsql, recorded
from scheduler.signals import jobs_paused, run_finished

log = logging.getLogger("vigia.runs")
RETRIED = (Run.Status.FAILED, Run.Status.TIMED_OUT)
# What the engine records on runs and jobs, in English; pages show each in the reader's language (recorded).
CANCELLED = recorded.message(gettext_noop("Cancelled by an operator."))
TIMED_OUT = recorded.message(gettext_noop("Timed out after %(seconds)s s."))
UNKNOWN_KIND = recorded.message(gettext_noop("Unknown kind '%(kind)s': no installed job kind has that name."))
UNPLANNABLE = recorded.message(gettext_noop("Paused: the schedule cannot be evaluated (%(schedule)s): %(detail)s"))
# Set by `manage.py up` on the demo's checks of this host while the demo is off; declared here, where every
# process that shows a pause reason has it (the demo command is imported only where it runs).
DEMO_OFF = recorded.message(gettext_noop("Paused: the demo is off (VIGIA_DEMO=0 or up --no-demo)."))


def end_run(
    run: Run,
    status: Run.Status,
    *,
    where: "Q | HeldBy",
    error: str = "",
    result: dict[str, Any] | None = None,
    trace: str = "",
    permanent: bool = False,
    wait: float | None = None,
    duration_ms: int | None = None,
    pause: str = "",
) -> Run | None:
    """Record `status` on `run` (loaded with its job) if it still matches `where` (a Q). Returns the run,
    updated in memory, or None when something else ended or took it first.

    `permanent`: no retry. `wait`: the upstream's floor for the backoff. `pause`: the job's own data is at
    fault; the job is paused with this reason (and not retried)."""
    now = timezone.now()
    merged = {**(run.result or {}), **(result or {})} if (run.result or result) else None
    fields: dict[str, Any] = dict(status=status, finished_at=now, duration_ms=duration_ms, result=merged)
    fields.update(error=error[:10_000], traceback=trace[:50_000])
    # A transaction only when a retry or a pause must go with the ending: the common ending is one statement.
    follows = bool(pause) or (not permanent and status in RETRIED)
    with transaction.atomic() if follows else nullcontext():
        if not _record(run, where, fields):
            return None
        retry = None
        if pause:
            pause_job(run.job, pause, now)
        elif not permanent and status in RETRIED:
            retry = schedule_retry(run, now, wait)
        for name, value in fields.items():
            setattr(run, name, value)
    _announce(run, retry)
    return run


@dataclass(frozen=True)
class HeldBy:
    """`where` for end_run: the run is still running on `worker` (the execution wrapper ending its own run,
    the most common ending by far, through a statement prepared once instead of a queryset per run)."""

    worker: str


def _record(run: Run, where: "Q | HeldBy", fields: dict[str, Any]) -> int:
    """Write the ending if the run still matches `where`; the number of rows written (0 or 1)."""
    if not isinstance(where, HeldBy):
        return Run.objects.filter(where, id=run.id).update(**fields)
    sql = rawsql.statement("end-held", _EndHeld)
    params = [field.get_db_prep_save(fields[field.name], sql.conn) for field in sql.fields]
    with sql.conn.cursor() as cursor:
        cursor.execute(sql.update, [*params, run.id, Run.Status.RUNNING, where.worker])
        return cursor.rowcount


class _EndHeld:
    NAMES = ("status", "finished_at", "duration_ms", "result", "error", "traceback")

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        q = conn.ops.quote_name
        self.conn = conn
        self.fields = [cast("Field[Any, Any]", Run._meta.get_field(name)) for name in self.NAMES]  # concrete fields
        # (the stubs type Field.column Optional: a concrete field always has one)
        assignments = ", ".join(f"{q(field.column)} = %s" for field in self.fields)  # type: ignore[arg-type]
        self.update = f"UPDATE {q(Run._meta.db_table)} SET {assignments} WHERE id = %s AND status = %s AND worker = %s"


def _announce(run: Run, retry: int | None) -> None:
    """Send run_finished. Inside a caller's transaction (the reaper, the dispatcher) an alert is recorded
    with the ending it announces; a failing receiver is logged and undone alone (its own savepoint)."""
    log.info(
        "run finished",
        extra={"run": run.id, "job": run.job_id, "status": run.status, "duration_ms": run.duration_ms, "retry": retry},
    )
    try:
        with transaction.atomic():
            run_finished.send(sender=Run, run=run)
    except Exception:  # noqa: BLE001 - an alert that failed must not undo the ending itself
        log.exception("a run_finished receiver failed", extra={"run": run.id})


def schedule_retry(run: Run, now: datetime, wait: float | None = None) -> int | None:
    """Create attempt n+1 waiting for its backoff (at least `wait` seconds). Idempotent: the unique
    constraint keeps one."""
    job = run.job
    if run.attempt >= job.max_attempts:
        return None
    delay = min(job.backoff_cap_seconds, job.backoff_base_seconds * 2 ** (run.attempt - 1))
    delay = max(delay, wait or 0) * (1 + job.backoff_jitter * random.random())
    try:
        with transaction.atomic():
            nxt = Run.objects.create(
                job=job,
                scheduled_for=run.scheduled_for,
                attempt=run.attempt + 1,
                trigger=Run.Trigger.RETRY,
                status=Run.Status.RETRYING,
                due_at=now + timedelta(seconds=delay),
            )
    except IntegrityError:
        return None
    return nxt.id


def pause_job(job: Job, reason: str, now: datetime | None = None) -> None:
    """Pause a job because of its own data, saying why on the job (shown in the dashboard and admin)."""
    now = now or timezone.now()
    reason = reason[:1000]
    Job.objects.filter(pk=job.pk).update(enabled=False, next_run_at=None, paused_reason=reason, updated_at=now)
    job.enabled, job.next_run_at, job.paused_reason = False, None, reason
    jobs_paused.send(sender=Job, job_ids=[job.pk], reason=reason)  # its owner (a source) pauses with it
    log.warning("job paused", extra={"job": job.pk, "reason": reason})


def unplannable_reason(job: Job, exc: BaseException) -> str:
    """What an operator reads on a job paused because its schedule cannot be evaluated."""
    detail = str(exc) or type(exc).__name__
    return UNPLANNABLE % {"schedule": job.schedule_display, "detail": detail}


def fail_unplannable(job: Job, reason: str, now: datetime) -> None:
    """The dispatcher could not plan `job`: record one failed run saying why (the alert goes out through
    the one door, once) and pause the job. Call inside the dispatcher's transaction."""
    moment = job.next_run_at or now
    with transaction.atomic():  # a savepoint: an occurrence recorded before must not undo the batch
        run, _ = Run.objects.get_or_create(
            job=job,
            scheduled_for=moment,
            attempt=1,
            defaults=dict(trigger=Run.Trigger.SCHEDULE, status=Run.Status.QUEUED, due_at=moment),
        )
    run.job = job
    if end_run(run, Run.Status.FAILED, where=~Q(status__in=Run.FINAL), error=reason, pause=reason) is None:
        pause_job(job, reason, now)  # that occurrence had already ended: the pause still stands
