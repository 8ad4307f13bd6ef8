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
import random
import signal
import socket
import threading
import time
import traceback
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from scheduler import registry
from scheduler.errors import JobError, RunCancelled, RunTimeout
from scheduler.logs import log_context
from scheduler.models import Run
from scheduler.signals import run_finished

log = logging.getLogger("vigia.runs")
STUCK_GRACE = 10  # seconds a run may ignore its interruption before the worker is recycled


DB_PATIENCE = 60  # seconds a worker waits out a database restart before giving a step up


def worker_identity():
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_run(run_id):
    """django-q2 task: execute one attempt of a run. Returns a short status; never raises."""
    me = worker_identity()
    run = patiently(claim, run_id, me)
    if run is None:
        return "not claimed"
    with log_context(run=run.id, job=run.job_id):  # every line the kind logs carries the run and job
        return _execute(run, me)


def _execute(run, me):
    job = run.job
    status, result, error, trace, permanent, wait = Run.Status.SUCCEEDED, None, "", "", False, None
    started = time.monotonic()
    try:
        if run.cancel_requested:
            raise RunCancelled()
        kind = registry.get(job.kind)
        params = registry.clean_params(job.kind, job.params)
        context = registry.RunContext(
            run_id=run.id,
            job_id=job.id,
            job_name=job.name,
            attempt=run.attempt,
            scheduled_for=run.scheduled_for,
            timeout_seconds=job.timeout_seconds,
        )
        with watchdog.guard(run.id, me, job.timeout_seconds):
            result = kind.run(params, context)
    except RunTimeout:
        status, error = Run.Status.TIMED_OUT, f"Timed out after {job.timeout_seconds} s."
    except RunCancelled:
        status, error = Run.Status.CANCELLED, "Cancelled by an operator."
    except JobError as exc:
        status, error, result, permanent, wait = Run.Status.FAILED, str(exc), exc.result, exc.permanent, exc.retry_after
    except (KeyError, ValidationError) as exc:  # unknown kind or params no longer valid
        status, error, permanent = Run.Status.FAILED, _describe(exc), True
    except Exception as exc:  # a bug in a kind: keep the traceback, retry per policy
        status, error, trace = Run.Status.FAILED, _describe(exc), traceback.format_exc()
    duration_ms = int((time.monotonic() - started) * 1000)
    outcome = {"result": result, "error": error, "trace": trace, "permanent": permanent, "wait": wait}
    finish(run, me, status, duration_ms=duration_ms, **outcome)
    return status


def claim(run_id, me):
    now = timezone.now()
    stale = now - timedelta(seconds=settings.VIGIA_STALE_AFTER)
    claimed = (
        Run.objects.filter(id=run_id)
        .filter(Q(status=Run.Status.QUEUED) | Q(status=Run.Status.RUNNING, heartbeat_at__lt=stale))
        .update(
            status=Run.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker=me,
            deliveries=F("deliveries") + 1,
        )
    )
    if not claimed:
        log.info("run not claimed (final, cancelled or running elsewhere)", extra={"run": run_id})
        return None
    return Run.objects.select_related("job").get(id=run_id)


def finish(run, me, status, *, result=None, error="", trace="", permanent=False, duration_ms=None, wait=None):
    """Record the outcome and, for a transient failure with attempts left, create the next attempt
    (no sooner than `wait` seconds, when the upstream asked for that)."""
    now = timezone.now()
    merged = {**(run.result or {}), **(result or {})} if (run.result or result) else None
    fields = dict(status=status, finished_at=now, duration_ms=duration_ms, result=merged)
    fields.update(error=error[:10_000], traceback=trace[:50_000])
    recorded, retry = patiently(_record, run, me, fields, retry=not permanent, wait=wait)
    if not recorded:
        log.warning("run was taken over before it finished; result dropped", extra={"run": run.id})
        return None
    patiently(run.refresh_from_db)
    log.info(
        "run finished",
        extra={"run": run.id, "job": run.job_id, "status": status, "duration_ms": duration_ms, "retry": retry},
    )
    run_finished.send(sender=Run, run=run)
    return run


def _record(run, me, fields, retry, wait):
    """One transaction: the outcome, and the next attempt when a transient failure has attempts left."""
    with transaction.atomic():
        if not Run.objects.filter(id=run.id, status=Run.Status.RUNNING, worker=me).update(**fields):
            return False, None
        if retry and fields["status"] in (Run.Status.FAILED, Run.Status.TIMED_OUT):
            return True, schedule_retry(run, fields["finished_at"], wait)
        return True, None


def patiently(step, *args, **kwargs):
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


def schedule_retry(run, now, wait=None):
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


def _describe(exc):
    if isinstance(exc, ValidationError):
        return "Invalid parameters: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, KeyError) else text.strip("'\"")


class Watchdog:
    """Per worker process: interrupts the current run on timeout or cancel, and heartbeats it.

    Two threads, so a slow database (a heartbeat waiting on a lock) never delays a timeout. The
    interruption is a signal to the main thread, whose handler raises RunTimeout/RunCancelled there
    (only while a run is inside its guard). A run stuck in C code that ignores it for STUCK_GRACE
    seconds is recorded as timed out and the process exits; django-q2 starts a new worker.
    """

    SIGNAL = signal.SIGUSR2

    def __init__(self):
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._current = None  # (run_id, worker, deadline) while a run is guarded
        self._pending = None
        self._pid = None
        self._main = None

    def _start(self):
        if self._pid == os.getpid():
            return
        self._pid, self._main = os.getpid(), threading.main_thread().ident
        signal.signal(self.SIGNAL, self._interrupt)
        threading.Thread(target=self._deadline_loop, name="vigia-deadline", daemon=True).start()
        threading.Thread(target=self._heartbeat_loop, name="vigia-heartbeat", daemon=True).start()

    def guard(self, run_id, me, timeout_seconds):
        watchdog = self

        class _Guard:
            def __enter__(self):
                if threading.current_thread() is not threading.main_thread():
                    return  # signals only reach the main thread: a run in another thread is unguarded
                watchdog._start()
                with watchdog._changed:
                    watchdog._pending = None
                    watchdog._current = (run_id, me, time.monotonic() + timeout_seconds)
                    watchdog._changed.notify_all()

            def __exit__(self, *exc):
                with watchdog._changed:
                    watchdog._current = None
                    watchdog._pending = None
                    watchdog._changed.notify_all()

        return _Guard()

    def _interrupt(self, signum, frame):
        with self._lock:
            pending, self._pending = self._pending, None
            active = self._current is not None
        if pending and active:
            raise pending()

    def _fire(self, exception, current):
        with self._lock:
            if self._current != current:
                return False
            self._pending = exception
        signal.pthread_kill(self._main, self.SIGNAL)
        return True

    def _deadline_loop(self):
        while True:
            with self._changed:
                while self._current is None:
                    self._changed.wait()
                current = self._current
                remaining = current[2] - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
            if self._fire(RunTimeout, current):
                self._wait_or_recycle(current)

    def _wait_or_recycle(self, current):
        limit = current[2] + STUCK_GRACE
        with self._changed:
            while self._current == current and time.monotonic() < limit:
                self._changed.wait(limit - time.monotonic())
            if self._current != current:
                return
        run_id, me, _ = current
        try:
            close_old_connections()
            Run.objects.filter(id=run_id, status=Run.Status.RUNNING, worker=me).update(
                status=Run.Status.TIMED_OUT,
                finished_at=timezone.now(),
                error="Timed out, and did not stop when interrupted: the worker process was restarted.",
            )
        finally:
            os._exit(70)

    def _heartbeat_loop(self):
        while True:
            time.sleep(settings.VIGIA_HEARTBEAT_SECONDS)
            current = self._current
            if current is None:
                connection.close()  # this thread's own connection: not held open between runs
            elif self._heartbeat(*current[:2]):
                self._fire(RunCancelled, current)

    def _heartbeat(self, run_id, me):
        """Report that the run is alive; True when an operator asked to cancel it."""
        try:
            close_old_connections()
            Run.objects.filter(id=run_id, status=Run.Status.RUNNING, worker=me).update(heartbeat_at=timezone.now())
            return Run.objects.filter(id=run_id, cancel_requested=True).exists()
        except Exception:  # the database may be restarting: the next beat tries again
            log.warning("heartbeat failed", extra={"run": run_id}, exc_info=True)
            connection.close()
            return False


watchdog = Watchdog()
