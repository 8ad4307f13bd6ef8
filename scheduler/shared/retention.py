"""Retention: how long each kind of history is kept, pruned daily by the `prune_history` job.

The scheduler imports no other app, so each app registers its own pruners here (from its AppConfig.ready):
a name, the setting that holds the age in days (0 keeps that history forever) and a function that, given
a cutoff, returns the queryset of rows that may go. The queryset must itself exclude what is still needed
(active runs, deliveries still to send, an item's latest revision): it is applied again inside each
batch's DELETE, so a row that changed since it was selected is kept.

Rows go `VIGIA_RETENTION_BATCH` at a time, each batch in its own short transaction with a pause between,
so the dispatcher and the workers keep writing while a large backlog is pruned.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy

from scheduler import system_jobs
from scheduler.models import AuditEntry, Job, Run

log = logging.getLogger("vigia.retention")


@dataclass(frozen=True)
class Pruner:
    name: str
    setting: str  # settings attribute with the age in days
    prunable: Callable[[datetime], QuerySet[Any]]
    default: int | None = None  # the days when the setting is not defined (None: it must be)

    def days(self) -> int:
        if self.default is None:
            return int(getattr(settings, self.setting))
        return int(getattr(settings, self.setting, self.default))


_pruners: dict[str, Pruner] = {}


def register[F: Callable[[datetime], QuerySet[Any]]](
    name: str, setting: str, prunable: F, default: int | None = None
) -> F:
    """Add (or replace) the pruner `name`; pruners run in the order they were first registered. `default`: the
    days when the setting is not defined."""
    _pruners[name] = Pruner(name, setting, prunable, default)
    return prunable


def pruners() -> list[Pruner]:
    return list(_pruners.values())


def delete_in_batches(queryset: QuerySet[Any], batch_size: int, pause: float = 0.0) -> tuple[int, int]:
    """Delete the rows of `queryset`, `batch_size` per transaction. Returns (rows deleted, batches)."""
    label = queryset.model._meta.label
    deleted = batches = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if ids:
                _, per_model = queryset.filter(pk__in=ids).delete()
                deleted += per_model.get(label, 0)
        if not ids:
            break
        batches += 1
        if len(ids) < batch_size:  # that was the last (partial) batch: skip one empty SELECT
            break
        time.sleep(pause)  # let other writers in
    return deleted, batches


def prune_all(
    batch_size: int | None = None, pause: float = 0.05, now: datetime | None = None
) -> tuple[dict[str, dict[str, int | str]], list[str]]:
    """Run every registered pruner. Returns {name: {"deleted", "batches", "days"}} ({"days": 0} when off)
    and the names of pruners that failed (each failure is logged; the others still run)."""
    batch_size = batch_size or settings.VIGIA_RETENTION_BATCH
    now = now or timezone.now()
    result: dict[str, dict[str, int | str]] = {}
    failed: list[str] = []
    for pruner in pruners():
        days = pruner.days()
        if not days:
            result[pruner.name] = {"days": 0}
            continue
        try:
            deleted, batches = delete_in_batches(pruner.prunable(now - timedelta(days=days)), batch_size, pause)
        except Exception as error:  # noqa: BLE001 - one broken pruner must not keep the others from running
            log.exception("prune failed", extra={"pruner": pruner.name})
            result[pruner.name] = {"days": days, "error": f"{type(error).__name__}: {error}"[:500]}
            failed.append(pruner.name)
            continue
        result[pruner.name] = {"deleted": deleted, "batches": batches, "days": days}
        log.info("pruned", extra={"pruner": pruner.name, "deleted": deleted, "batches": batches, "days": days})
    return result, failed


# --- the scheduler's own history ---------------------------------------------------------------------


def prunable_runs(cutoff: datetime) -> QuerySet[Run]:
    """Finished runs scheduled before the cutoff, except each job's latest (its "last run" on the pages)."""
    newer = Run.objects.filter(job=OuterRef("job")).filter(
        Q(scheduled_for__gt=OuterRef("scheduled_for"))
        | Q(scheduled_for=OuterRef("scheduled_for"), attempt__gt=OuterRef("attempt"))
    )
    return Run.objects.filter(Exists(newer), scheduled_for__lt=cutoff, status__in=Run.FINAL)


def prunable_audit(cutoff: datetime) -> QuerySet[Any]:
    """Audit entries older than VIGIA_RETAIN_AUDIT_DAYS."""
    return AuditEntry.objects.filter(at__lt=cutoff)


def prunable_tasks(cutoff: datetime) -> QuerySet[Any]:
    """django-q2's task records (failures; successes are not saved). Its queue (OrmQ) is never touched."""
    from scheduler import djq

    return djq.tasks_stopped_before(cutoff)


register("runs", "VIGIA_RETAIN_RUNS_DAYS", prunable_runs)
register("tasks", "VIGIA_RETAIN_TASKS_DAYS", prunable_tasks)
register("audit", "VIGIA_RETAIN_AUDIT_DAYS", prunable_audit)

# The daily job, created with the other system jobs when VIGIA_SYSTEM_JOBS is on (channels_app.jobs).
PRUNE_JOB: dict[str, Any] = system_jobs.declare(
    gettext_lazy("Prune history"),
    {
        "external_key": "prune_history",
        "name": "Prune history",
        "kind": "prune_history",
        "schedule_type": Job.ScheduleType.CRON,
        "cron": "30 3 * * *",  # in TIME_ZONE (the default zone of new jobs)
        "queue": Job.Queue.LOW,
        "timeout_seconds": 3600,
        "max_attempts": 3,
    },
)
