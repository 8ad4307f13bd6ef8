"""The execution wrapper around every run: the django-q2 task function and what it guarantees.

- Claim: an attempt starts only from `queued`, or from `running` when its worker stopped heart-beating
  (the worker died: the broker or the reaper delivered it again). Anything else is acknowledged and
  left alone, so a duplicate delivery never runs an attempt twice at the same time.
- Timeout and cancel: a watchdog thread interrupts the run (RunTimeout / RunCancelled raised in the
  worker's main thread); the run ends as timed_out / cancelled and the worker process lives on.
- Failure: classified by the kind's error (permanent or transient); a transient failure with attempts
  left creates the next attempt, waiting out an exponential backoff with jitter.
- The result, the error and the traceback go to our Run row, never only to django-q2's task table.
"""

import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.utils import timezone

from scheduler import endings, job_kinds, queue
from scheduler.endings import HeldBy, end_run, schedule_retry  # noqa: F401  (schedule_retry: re-exported)
from scheduler.errors import JobDataError, JobError, RunCancelled, RunTimeout
from scheduler.models import Job, Run
from scheduler.shared import budgets, rawsql
from scheduler.shared.logs import log_context, redact

log = logging.getLogger("vigia.runs")
STUCK_GRACE = 10  # seconds a run may ignore its interruption before the worker is recycled


DB_PATIENCE = 60  # seconds a worker waits out a database restart before giving a step up
DEFER_LEAD = 0.05  # a deferred run is handed out this much before its slot, to be ready when it comes

type _Current = tuple[int, str, float, float]  # a guarded run: (run_id, worker, deadline, started)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_run(run_id: int, held: dict[str, float] | None = None) -> str:
    """django-q2 task: execute one attempt of a run. Returns a short status; never raises. `held`: the
    rate-limit slots the run reserved before it was put back on the queue (scheduler.shared.budgets)."""
    me = worker_identity()
    run = patiently(claim, run_id, me)
    if run is None:
        return "not claimed"
    with log_context(run=run.id, job=run.job_id):  # every line the kind logs carries the run and job
        try:
            return _execute(run, me, held)
        except budgets.RunDeferred as deferred:
            return patiently(defer, run, me, deferred)


def defer(run: Run, me: str, deferred: budgets.RunDeferred) -> str:
    """Put the attempt back on its queue for the moment its rate-limit slot comes (holding that slot), so
    the worker takes other work meanwhile. Not a delivery: the claim's count is given back."""
    not_before = datetime.fromtimestamp(deferred.at - DEFER_LEAD, tz=UTC)
    job = run.job
    with transaction.atomic():
        back = Run.objects.filter(id=run.id, status=Run.Status.RUNNING, worker=me).update(
            status=Run.Status.QUEUED, queued_at=timezone.now(), worker="", pickups=F("pickups") - 1
        )
        if back:
            queue.enqueue(
                [(run.id, job.queue, job.timeout_seconds)], not_before=not_before, kwargs={"held": deferred.held}
            )
    log.info("run deferred to its rate-limit slot", extra={"run": run.id, "until": not_before.isoformat()})
    return "deferred" if back else "not deferred"


def _execute(run: Run, me: str, held: dict[str, float] | None = None) -> str:
    job = run.job
    status: Run.Status
    result: dict[str, Any] | None
    wait: float | None
    status, result, error, trace, permanent, wait, pause = Run.Status.SUCCEEDED, None, "", "", False, None, ""
    started = time.monotonic()
    try:
        if run.cancel_requested:
            raise RunCancelled()
        kind, params = prepare(job)
        context = job_kinds.RunContext(
            run_id=run.id,
            job_id=job.id,
            job_name=job.name,
            attempt=run.attempt,
            scheduled_for=run.scheduled_for,
            timeout_seconds=job.timeout_seconds,
        )
        with watchdog.guard(run.id, me, job.timeout_seconds), budgets.deferrable(held):
            result = kind.run(params, context)
    except RunTimeout:
        status, error = Run.Status.TIMED_OUT, endings.TIMED_OUT % {"seconds": job.timeout_seconds}
    except RunCancelled:
        status, error = Run.Status.CANCELLED, endings.CANCELLED
    except JobDataError as exc:  # the job's own data is at fault: retrying cannot help, the job is paused
        status, error, result, permanent, pause = Run.Status.FAILED, str(exc), exc.result, True, str(exc)
    except JobError as exc:
        status, error, result, permanent, wait = Run.Status.FAILED, str(exc), exc.result, exc.permanent, exc.retry_after
    except Exception as exc:  # a bug in a kind (a KeyError included): keep the traceback, retry per policy
        status, error, trace = Run.Status.FAILED, _describe(exc), traceback.format_exc()
    duration_ms = int((time.monotonic() - started) * 1000)
    # The run's error and traceback are shown on pages and in the API: secret values (those decrypted here, such
    # as the job's header values) and secret-looking ones are masked there as in log lines.
    error, trace = redact(error), redact(trace)
    outcome = {"result": result, "error": error, "trace": trace, "permanent": permanent, "wait": wait}
    finish(run, me, status, duration_ms=duration_ms, pause=pause, **outcome)
    return status


def prepare(job: Job) -> tuple[job_kinds.JobKind, dict[str, Any]]:
    """The job's kind and validated params, looked up before anything runs; JobDataError when the kind is
    not installed here or the stored params no longer pass its validation."""
    kind = job_kinds.find(job.kind)
    if kind is None:
        raise JobDataError(endings.UNKNOWN_KIND % {"kind": job.kind})
    try:
        return kind, job_kinds.clean_params(job.kind, job_kinds.unsealed_params(job))
    except ValidationError as exc:
        raise JobDataError(_describe(exc)) from None


def claim(run_id: int, me: str) -> Run | None:
    """Take the attempt in one statement (UPDATE ... RETURNING): from `queued`, or from `running` when its
    worker stopped heart-beating. Returns the Run with its job loaded, or None.

    On PostgreSQL the job comes back in the same statement (a data-modifying WITH); SQLite cannot join in a
    RETURNING, so the job is a second, prepared statement. The ORM's own lookup of `run.job` cost more CPU
    than the whole rest of a no-op run (a profile of a worker during a burst)."""
    sql = rawsql.statement("claim", _ClaimStatements)
    now = timezone.now()
    stale = now - timedelta(seconds=settings.VIGIA_STALE_AFTER)
    at, before = rawsql.datetime_param(sql.conn, now), rawsql.datetime_param(sql.conn, stale)
    params = [Run.Status.RUNNING, at, at, me, os.getppid(), run_id, Run.Status.QUEUED, Run.Status.RUNNING, before]
    with sql.conn.cursor() as cursor:
        cursor.execute(sql.claim, params)
        row = cursor.fetchone()
        if row is None:
            log.info("run not claimed (final, cancelled or running elsewhere)", extra={"run": run_id})
            return None
        if not sql.joined:
            cursor.execute(sql.jobs.sql, [row[sql.job_at]])
            row = row + cursor.fetchone()
    run, job = rawsql.split_row([sql.runs, sql.jobs], row)
    run.job = job
    return run


class _ClaimStatements:
    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        self.conn = conn
        q = conn.ops.quote_name
        runs, jobs = q(Run._meta.db_table), q(Job._meta.db_table)
        # (the stubs type Field.column Optional: a concrete field always has one)
        run_columns = ", ".join(q(field.column) for field in Run._meta.concrete_fields)  # type: ignore[arg-type]
        self.job_at = Run._meta.concrete_fields.index(Run._meta.get_field("job"))
        self.runs = rawsql.ModelRows(conn, Run, "")
        update = (
            f"UPDATE {runs} SET status = %s, started_at = %s, heartbeat_at = %s, worker = %s, worker_parent = %s, "
            f"pickups = pickups + 1 WHERE id = %s AND (status = %s OR (status = %s AND heartbeat_at < %s)) "
            f"RETURNING {run_columns}"
        )
        self.joined = conn.vendor == "postgresql"
        if self.joined:
            self.jobs = rawsql.ModelRows(conn, Job, "")
            job_columns = ", ".join(
                f"{jobs}.{q(field.column)}"  # type: ignore[arg-type]  # (as run_columns)
                for field in Job._meta.concrete_fields
            )
            self.claim = (
                f"WITH claimed AS ({update}) SELECT claimed.*, {job_columns} "
                f"FROM claimed JOIN {jobs} ON {jobs}.id = claimed.job_id"
            )
        else:
            self.jobs = rawsql.ModelRows(conn, Job, f"FROM {jobs} WHERE {jobs}.id = %s")
            self.claim = update


def finish(run: Run, me: str, status: Run.Status, **outcome: Any) -> Run | None:
    """End the attempt this worker holds through the one door (scheduler.endings.end_run)."""
    ended = patiently(end_run, run, status, where=HeldBy(me), **outcome)
    if ended is None:
        log.warning("run was taken over before it finished; result dropped", extra={"run": run.id})
    return ended


def patiently[**P, T](step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a database step of the wrapper, waiting out a database restart (up to DB_PATIENCE seconds)
    instead of failing: django-q2 acknowledges a failed task, so a claim lost to a dead connection would
    leave its run queued with no queue entry left to run it. Each step is one transaction, safe to repeat."""
    deadline, pause = time.monotonic() + DB_PATIENCE, 0.5
    while True:
        try:
            return step(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if time.monotonic() + pause > deadline:
                raise
            log.warning("database unavailable; trying again", extra={"wait_s": pause})
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "Invalid parameters: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class Watchdog:
    """Per worker process: interrupts the current run on timeout or cancel, and heartbeats it.

    Two threads, so a slow database (a heartbeat waiting on a lock) never delays a timeout. The
    interruption is a signal to the main thread, whose handler raises RunTimeout/RunCancelled there
    (only while a run is inside its guard). A run stuck in C code that ignores it for STUCK_GRACE
    seconds is recorded as timed out and the process exits; django-q2 starts a new worker.
    """

    SIGNAL = signal.SIGUSR2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._current: _Current | None = None  # (run_id, worker, deadline, started) while a run is guarded
        self._pending: type[BaseException] | None = None
        self._pid: int | None = None
        self._main: int | None = None
        # What the deadline thread is waiting for, so a run's start and end wake it only when it must (two
        # wake-ups of another thread per run were a tenth of a worker's CPU on short runs): None while it
        # waits for a run to start; a monotonic time while it sleeps until a deadline; WATCHING_EXIT while
        # it waits for an interrupted run to stop.
        self._sleeping_until: float | object | None = None

    def _start(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid, self._main = os.getpid(), threading.main_thread().ident
        signal.signal(self.SIGNAL, self._interrupt)
        threading.Thread(target=self._deadline_loop, name="vigia-deadline", daemon=True).start()
        threading.Thread(target=self._heartbeat_loop, name="vigia-heartbeat", daemon=True).start()

    def guard(self, run_id: int, me: str, timeout_seconds: float) -> "_Guard":
        return _Guard(self, run_id, me, timeout_seconds)

    def _begin(self, run_id: int, me: str, timeout_seconds: float) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals only reach the main thread: a run in another thread is unguarded
        self._start()
        with self._changed:
            self._pending = None
            begun = time.monotonic()
            self._current = (run_id, me, begun + timeout_seconds, begun)
            asleep = self._sleeping_until
            # (mypy cannot narrow the WATCHING_EXIT sentinel out: `asleep` is a float by then)
            if asleep is None or asleep is WATCHING_EXIT or begun + timeout_seconds < asleep:  # type: ignore[operator]
                self._changed.notify_all()  # it would sleep past this run's deadline

    def _end(self) -> None:
        with self._changed:
            self._current = None
            self._pending = None
            if self._sleeping_until is WATCHING_EXIT:
                self._changed.notify_all()  # it waits to see the interrupted run stop
            # Otherwise it wakes at the deadline it sleeps until, and looks again then.

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
            active = self._current is not None
        if pending and active:
            raise pending()

    def _fire(self, exception: type[BaseException], current: _Current) -> bool:
        with self._lock:
            if self._current != current:
                return False
            self._pending = exception
        assert self._main is not None  # set by _start(), which started the thread calling this
        signal.pthread_kill(self._main, self.SIGNAL)
        return True

    def _deadline_loop(self) -> None:
        while True:
            with self._changed:
                current = self._current
                if current is None:
                    self._sleeping_until = None
                    self._changed.wait()
                    continue
                remaining = current[2] - time.monotonic()
                if remaining > 0:
                    self._sleeping_until = current[2]
                    self._changed.wait(remaining)
                    continue
            if self._fire(RunTimeout, current):
                self._wait_or_recycle(current)

    def _wait_or_recycle(self, current: _Current) -> None:
        limit = current[2] + STUCK_GRACE
        with self._changed:
            self._sleeping_until = WATCHING_EXIT
            while self._current == current and time.monotonic() < limit:
                self._changed.wait(limit - time.monotonic())
            self._sleeping_until = None
            if self._current != current:
                return
        run_id, me = current[:2]
        try:
            close_old_connections()
            run = Run.objects.select_related("job").get(id=run_id)
            error = "Timed out, and did not stop when interrupted: the worker process was restarted."
            end_run(run, Run.Status.TIMED_OUT, where=HeldBy(me), error=error)
        except Exception:  # noqa: BLE001 - the process exits either way; the reaper delivers the run again
            log.exception("could not record the stuck run", extra={"run": run_id})
        finally:
            os._exit(70)

    def _heartbeat_loop(self) -> None:
        """Beat every VIGIA_HEARTBEAT_SECONDS for a run that has lasted that long already: the claim wrote
        the first beat, so a short run (most of them) costs no heartbeat write at all."""
        interval = settings.VIGIA_HEARTBEAT_SECONDS
        while True:
            time.sleep(interval)
            current = self._current
            if current is None:
                connection.close()  # this thread's own connection: not held open between runs
            elif time.monotonic() - current[3] >= interval and self._heartbeat(*current[:2]):
                self._fire(RunCancelled, current)

    def _heartbeat(self, run_id: int, me: str) -> bool:
        """Report that the run is alive; True when an operator asked to cancel it."""
        try:
            close_old_connections()
            mine = Run.objects.filter(id=run_id, status=Run.Status.RUNNING, worker=me)
            if mine.filter(cancel_requested=False).update(heartbeat_at=timezone.now()):
                return False  # one statement in the common case
            return mine.filter(cancel_requested=True).exists()
        except Exception:  # the database may be restarting: the next beat tries again
            log.warning("heartbeat failed", extra={"run": run_id}, exc_info=True)
            connection.close()
            return False


class _Guard:
    __slots__ = ("watchdog", "args")

    def __init__(self, watchdog: Watchdog, *args: Any) -> None:
        self.watchdog, self.args = watchdog, args

    def __enter__(self) -> None:
        self.watchdog._begin(*self.args)

    def __exit__(self, *exc: object) -> None:
        self.watchdog._end()


WATCHING_EXIT = object()
watchdog = Watchdog()
