"""The reaper: runs whose worker vanished (no heartbeat) are delivered again, or failed after too many losses."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from scheduler import queue
from scheduler.execution import schedule_retry
from scheduler.models import Run

log = logging.getLogger("vigia.scheduler")


def reap(now=None):
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.VIGIA_STALE_AFTER)
    requeued = failed = 0
    with transaction.atomic():
        lost = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(status=Run.Status.RUNNING, heartbeat_at__lt=stale)
            .select_related("job")[:500]
        )
        to_queue = []
        for run in lost:
            note = f"Worker {run.worker or '?'} stopped responding during delivery {run.deliveries}."
            if run.deliveries < settings.VIGIA_MAX_DELIVERIES:
                run.status, run.queued_at, run.error = Run.Status.QUEUED, now, note
                to_queue.append((run.id, run.job.queue, run.job.timeout_seconds))
                requeued += 1
            else:
                run.status, run.finished_at, run.error = Run.Status.FAILED, now, note + " Giving up."
                failed += 1
            run.save(update_fields=["status", "queued_at", "finished_at", "error"])
            if run.status == Run.Status.FAILED:
                schedule_retry(run, now)
            log.warning("reaped run", extra={"run": run.id, "job": run.job_id, "status": run.status})
        queue.enqueue(to_queue)
    return requeued, failed
