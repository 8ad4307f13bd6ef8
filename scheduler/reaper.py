"""The reaper: runs whose worker stopped heart-beating are delivered again, and given up only on evidence
that the run itself kills its worker.

A missing heartbeat is not a death: on a starved machine or a busy database a beat can be late. So a
worker on this host whose process is still there is left alone. A run whose worker really is gone is
delivered again. It counts a *loss against the run* (Run.losses) only when nothing else explains the
death: the worker died while its cluster process lived on (django-q2 replaced just that worker) and no
other run lost its worker in the same pass. A whole cluster or host going down, or a wave of kills, is
never the run's fault. After VIGIA_MAX_DELIVERIES such losses the run is a poison pill and ends as failed
through the one door (its retry policy and failure alert apply); a run bounced by other deaths more than
PICKUP_CEILING times ends the same way, so nothing loops forever.
"""

import logging
import os
import socket
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.utils import timezone

from scheduler import queue
from scheduler.endings import end_run
from scheduler.models import Run
from scheduler.shared import rawsql

log = logging.getLogger("vigia.scheduler")
PICKUP_CEILING = 4  # × VIGIA_MAX_DELIVERIES: pick-ups after which a run is failed whatever the evidence


def reap(now: datetime | None = None) -> tuple[int, int]:
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.VIGIA_STALE_AFTER)
    requeued = failed = 0
    if not _any_stale(stale):
        return requeued, failed  # the usual case, every few seconds: one indexed look, no transaction
    with transaction.atomic():
        candidates = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(status=Run.Status.RUNNING, heartbeat_at__lt=stale)
            .select_related("job")[:500]
        )
        lost = [run for run in candidates if not _still_running(run, now)]
        solitary = len(lost) == 1
        to_queue: list[tuple[int, str, float]] = []
        for run in lost:
            note = f"Worker {run.worker or '?'} stopped responding during pick-up {run.pickups}."
            suspect = solitary and _cluster_survived(run)
            losses = run.losses + (1 if suspect else 0)
            poisoned = losses >= settings.VIGIA_MAX_DELIVERIES
            if poisoned or run.pickups >= PICKUP_CEILING * settings.VIGIA_MAX_DELIVERIES:
                why = (
                    f" It died with its worker {losses} times while nothing else failed. Giving up."
                    if poisoned
                    else f" Picked up {run.pickups} times without finishing. Giving up."
                )
                Run.objects.filter(pk=run.pk).update(losses=losses)
                where = Q(status=Run.Status.RUNNING, worker=run.worker, heartbeat_at__lt=stale)
                if end_run(run, Run.Status.FAILED, where=where, error=note + why):
                    failed += 1
            else:
                Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, queued_at=now, error=note, losses=losses)
                to_queue.append((run.id, run.job.queue, run.job.timeout_seconds))
                requeued += 1
            log.warning("reaped run", extra={"run": run.id, "job": run.job_id, "suspect": suspect, "losses": losses})
        queue.enqueue(to_queue)
    return requeued, failed


def _any_stale(stale: datetime) -> bool:
    """Is any run `running` with a heartbeat older than `stale`? (served by the run_running partial index)"""
    sql = rawsql.statement("reaper", _stale_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Run.Status.RUNNING.value, connection.ops.adapt_datetimefield_value(stale)])
        return cursor.fetchone() is not None


def _stale_sql(conn: BaseDatabaseWrapper) -> str:
    table = rawsql.quoted(conn, Run._meta.db_table)
    # (the plugin types get_field() only for a literal name: these two are concrete fields)
    status, heartbeat = (rawsql.quoted(conn, Run._meta.get_field(name).column) for name in ("status", "heartbeat_at"))  # type: ignore[union-attr]
    return f"SELECT 1 FROM {table} WHERE {status} = %s AND {heartbeat} < %s LIMIT 1"


def _local_pid(worker: str | None) -> int | None:
    """The worker's pid when it ran on this host, else None ("host:pid")."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return int(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _still_running(run: Run, now: datetime) -> bool:
    """A late heartbeat from a worker whose process is still here: not lost, unless it is far past its own
    timeout (its watchdog would have ended it: the process is wedged)."""
    pid = _local_pid(run.worker)
    if pid is None or not _alive(pid):
        return False
    wedged_after = run.job.timeout_seconds + settings.VIGIA_STALE_AFTER + 60
    return run.started_at is not None and (now - run.started_at).total_seconds() < wedged_after


def _cluster_survived(run: Run) -> bool:
    """Did the worker die alone? Known for workers on this host (their parent, the cluster process, is
    still there); for another host's worker the pass having lost only this run is the evidence we have."""
    if _local_pid(run.worker) is None or run.worker_parent is None:
        return True
    return _alive(run.worker_parent)
