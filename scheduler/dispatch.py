"""The dispatcher: turns due occurrences and due retries into queued runs.

Each batch is one transaction that checks the leader's lease, creates the Run rows, puts them on
django-q2's queue and advances the jobs' next_run_at, so a crash leaves either all of it or none.
The unique (job, scheduled_for, attempt) constraint makes a double dispatch impossible even if two
leaders ever overlap: the second transaction fails and rolls back whole.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from scheduler import endings, lease, queue, schedules
from scheduler.models import Job, Run

log = logging.getLogger("vigia.scheduler")

BATCH = 500
MAX_CATCH_UP = 10_000  # occurrences counted one by one after downtime; beyond this, "at least"


@dataclass
class Plan:
    """What to do with one due job: runs to queue, runs to record as skipped, the next due time."""

    queued: list = field(default_factory=list)  # (scheduled_for, result)
    skipped: list = field(default_factory=list)  # (scheduled_for, reason, result)
    next_run_at: object = None
    last_due: object = None
    fired: int = 0


def due_occurrences(job, now):
    """Every occurrence from job.next_run_at up to now, oldest first, and the first one after now.

    After a very long downtime only the first MAX_CATCH_UP are listed; the rest are jumped over.
    """
    due, moment = [], job.next_run_at
    while moment is not None and moment <= now and len(due) < MAX_CATCH_UP:
        due.append(moment)
        found = schedules.upcoming(job, moment, 1)
        moment = found[0] if found else None
    if moment is not None and moment <= now:
        found = schedules.upcoming(job, now, 1)
        moment = found[0] if found else None
    return due, moment


def plan_job(job, now, busy):
    """Apply the misfire, overlap and max-occurrence policies to a due job."""
    plan = Plan()
    due, upcoming = due_occurrences(job, now)
    plan.last_due = due[-1] if due else job.next_run_at
    threshold = timedelta(seconds=settings.VIGIA_MISFIRE_THRESHOLD)
    missed = [moment for moment in due if now - moment > threshold]
    to_run, result = due, None
    if missed:
        if job.misfire_policy == Job.Misfire.COALESCE:
            to_run, result = [due[-1]], {"missed": len(due) - 1}
        elif job.misfire_policy == Job.Misfire.SKIP:
            to_run = due[len(missed) :]  # missed ones are the oldest
            plan.skipped.append((missed[-1], "missed", {"missed": len(missed)}))
        else:  # ALL: within the grace window
            window = timedelta(seconds=job.misfire_grace_seconds)
            dropped = [moment for moment in missed if now - moment > window]
            to_run = due[len(dropped) :]
            if dropped:
                plan.skipped.append((dropped[-1], "missed beyond the grace window", {"missed": len(dropped)}))
    remaining = None if job.max_occurrences is None else max(job.max_occurrences - job.occurrences, 0)
    for moment in to_run:
        if remaining is not None and plan.fired >= remaining:
            break
        if busy and job.overlap_policy == Job.Overlap.FORBID:
            plan.skipped.append((moment, "overlap: the previous run has not finished", None))
            continue
        plan.queued.append((moment, result))
        plan.fired += 1
        busy = True
    exhausted = remaining is not None and plan.fired >= remaining
    plan.next_run_at = None if exhausted else upcoming
    return plan


def dispatch_due(holder, now=None, known_due=False):
    """Dispatch everything due now. Returns the number of runs queued. Raises LostLease. `known_due`: the
    caller has just seen something due (next_wake), so the check is not repeated."""
    total = 0
    if not known_due and not _anything_due(now or timezone.now()):
        return 0  # the common case: no transaction, no lease write
    collisions = 0
    while True:
        try:
            queued, more = _dispatch_batch(holder, now or timezone.now())
        except IntegrityError:
            # Only a second leader inserting the same runs at this very moment gets here; its batch won.
            collisions += 1
            log.warning("dispatch batch collided with another dispatcher; rolled back")
            queued, more = 0, collisions < 3
        total += queued
        if not more:
            return total


def _dispatch_batch(holder, now):
    with transaction.atomic():
        lease.fence(holder, settings.VIGIA_LEASE_TTL)
        jobs = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_at__lte=now)
            .order_by("next_run_at")[:BATCH]
        )
        retries = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(status=Run.Status.RETRYING, due_at__lte=now)
            .select_related("job")
            .order_by("due_at")[:BATCH]
        )
        if not jobs and not retries:
            return 0, False
        forbid = [job.id for job in jobs if job.overlap_policy == Job.Overlap.FORBID]
        busy = set(
            Run.objects.filter(job_id__in=forbid, status__in=Run.ACTIVE).values_list("job_id", flat=True).distinct()
        )
        runs, advances = [], defaultdict(list)
        for job in jobs:
            try:
                plan = plan_job(job, now, job.id in busy)
            except Exception as exc:  # noqa: BLE001 - one job's bad data must not stop every other job
                endings.fail_unplannable(job, endings.unplannable_reason(job, exc), now)
                continue
            for moment, result in plan.queued:
                runs.append(_run(job, moment, Run.Status.QUEUED, now, result=result))
            for moment, reason, result in plan.skipped:
                runs.append(_run(job, moment, Run.Status.SKIPPED, now, result=result, error=reason))
            completed = now if plan.next_run_at is None else None
            advances[(plan.fired, plan.last_due, plan.next_run_at, completed)].append(job.id)
        runs = _not_yet_recorded(runs)
        Run.objects.bulk_create(runs, batch_size=BATCH)
        # One plain UPDATE per group of jobs advancing alike (a burst is one group): Django's
        # bulk_update builds a CASE per row and costs more than the rest of the batch together.
        for (fired, last_due, next_run_at, completed), ids in advances.items():
            changes = {"occurrences": F("occurrences") + fired, "last_scheduled_for": last_due}
            changes["next_run_at"] = next_run_at
            if completed:
                changes["completed_at"] = completed
            Job.objects.filter(id__in=ids).update(**changes)
        to_queue = [(run.id, run.job.queue, run.job.timeout_seconds) for run in runs if run.status == Run.Status.QUEUED]
        Run.objects.filter(id__in=[run.id for run in retries]).update(status=Run.Status.QUEUED, queued_at=now)
        to_queue += [(run.id, run.job.queue, run.job.timeout_seconds) for run in retries]
        queue.enqueue(to_queue)
    if runs or retries:
        log.info("dispatched", extra={"queued": len(to_queue), "skipped": len(runs) + len(retries) - len(to_queue)})
    return len(to_queue), len(jobs) == BATCH or len(retries) == BATCH


def _not_yet_recorded(runs):
    """Drop occurrences that already have a first attempt (an earlier dispatch), so a batch never collides."""
    if not runs:
        return runs
    existing = set(
        Run.objects.filter(
            job_id__in={run.job_id for run in runs}, attempt=1, scheduled_for__in={run.scheduled_for for run in runs}
        ).values_list("job_id", "scheduled_for")
    )
    return [run for run in runs if (run.job_id, run.scheduled_for) not in existing]


def _run(job, moment, status, now, result=None, error=""):
    finished = now if status == Run.Status.SKIPPED else None
    return Run(
        job=job,
        scheduled_for=moment,
        attempt=1,
        trigger=Run.Trigger.SCHEDULE,
        status=status,
        due_at=moment,
        queued_at=now if status == Run.Status.QUEUED else None,
        finished_at=finished,
        result=result,
        error=error,
    )


def _anything_due(now):
    wake = next_wake(now)
    return wake is not None and wake <= now


# Both minima in one round trip, each served by its partial index (job_due, run_retry_due).
_NEXT_WAKE_SQL = (
    f"SELECT (SELECT MIN(next_run_at) FROM {Job._meta.db_table} WHERE enabled), "
    f"(SELECT MIN(due_at) FROM {Run._meta.db_table} WHERE status = %s)"
)


def next_wake(now=None):
    """When the dispatcher next has something to do (None: nothing scheduled): one query, the idle
    scheduler's whole cost per wake."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_WAKE_SQL, [Run.Status.RETRYING])
        row = cursor.fetchone()
    candidates = [_aware(moment) for moment in row if moment is not None]
    return min(candidates) if candidates else None


def _aware(value):
    """A datetime from a raw query: PostgreSQL gives it aware, SQLite as text in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def most_overdue(now=None):
    """(seconds, job id) of the enabled job whose due time passed longest ago, or (0.0, None): the measure
    of whether dispatch really advances (a renewed lease alone does not say so)."""
    now = now or timezone.now()
    job = Job.objects.filter(enabled=True, next_run_at__lt=now).order_by("next_run_at").values("id", "next_run_at")
    first = job.first()
    if first is None:
        return 0.0, None
    return (now - first["next_run_at"]).total_seconds(), first["id"]
