"""Operator actions on jobs and runs. The admin, the commands, the dashboard and the API all call these."""

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, F, ProtectedError, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduler import endings, owners, queue, schedules, signals
from scheduler.models import Job, Run
from scheduler.shared import audit, rawsql

log = logging.getLogger("vigia.scheduler")


def first_run_after(job: Job, after: datetime) -> datetime | None:
    """When the job fires next after `after`, or None when its schedule is complete."""
    if job.max_occurrences is not None and job.occurrences >= job.max_occurrences:
        return None
    found = schedules.upcoming(job, after, 1)
    return found[0] if found else None


def next_runs(job: Job, count: int = 5) -> list[datetime]:
    """The next `count` times the job fires: runs the dispatcher already queued ahead for times to come, then
    the schedule from next_run_at on, within max_occurrences and end_at (first_run_after's rules). None while
    paused."""
    if not job.enabled:
        return []
    now = timezone.now()
    ahead = list(
        job.runs.filter(
            status=Run.Status.QUEUED, trigger=Run.Trigger.SCHEDULE, attempt=1, scheduled_for__gt=now
        ).values_list("scheduled_for", flat=True)[:count]
    )
    later: list[datetime] = []
    if job.next_run_at is not None:
        left = count if job.max_occurrences is None else min(count, job.max_occurrences - job.occurrences)
        if left > 0:
            try:
                later = schedules.upcoming(job, job.next_run_at - timedelta(microseconds=1), left)
            except (schedules.ScheduleError, ValueError, OverflowError):  # data the engine will pause the job for
                later = []
    return sorted(set(ahead) | set(later))[:count]


def zone_of(job: Job) -> ZoneInfo:
    """The job's zone; UTC when its name no longer exists (the engine pauses such a job)."""
    try:
        return schedules.get_zone(job.timezone)
    except schedules.ScheduleError:
        return ZoneInfo("UTC")


def refresh_schedule(job: Job, now: datetime | None = None) -> Job:
    """Recompute next_run_at after a create, an edit or a resume (missed times are not replayed). Runs the
    dispatcher queued ahead for times still to come are withdrawn first: the new schedule decides them."""
    now = now or timezone.now()
    if job.pk is not None:
        # As the UPDATE in withdraw_ahead: never below 0 (runs queued ahead of a count an operator reset, or
        # made by hand, would otherwise save -1 and break the table's CHECK: found by the form fuzz).
        job.occurrences = max(job.occurrences - withdraw_ahead([job.pk], now).get(job.pk, 0), 0)
    job.next_run_at = first_run_after(job, now - _once_grace(job)) if job.enabled else None
    ongoing = job.next_run_at or not job.enabled or job.schedule_type == Job.ScheduleType.MANUAL
    job.completed_at = None if ongoing else (job.completed_at or now)
    return job


@transaction.atomic
def withdraw_ahead(job_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Delete the jobs' runs that the dispatcher queued ahead of their time (VIGIA_DISPATCH_AHEAD) and
    that have not started, giving their occurrences back: a pause or an edit a moment before an occurrence
    stops it as it would have before the dispatch. Their queue rows then find no run (a no-op). Returns
    {job id: runs withdrawn}."""
    ahead = Run.objects.filter(
        job_id__in=job_ids,
        status=Run.Status.QUEUED,
        trigger=Run.Trigger.SCHEDULE,
        attempt=1,
        scheduled_for__gt=now,
    )
    counts = dict(ahead.values_list("job_id").annotate(n=Count("id")).order_by())
    if counts:
        ahead.delete()
        for job_id, n in counts.items():
            Job.objects.filter(pk=job_id).update(occurrences=Greatest(F("occurrences") - n, 0))
        log.info("runs queued ahead withdrawn", extra={"jobs": sorted(counts), "runs": sum(counts.values())})
    return counts


def _once_grace(job: Job) -> timedelta:
    # A one-off job saved a moment before its time still fires (validation refuses past times).
    from datetime import timedelta

    return timedelta(seconds=1) if job.schedule_type == Job.ScheduleType.ONCE else timedelta(0)


def save_job(job: Job) -> Job:
    refresh_schedule(job)
    job.save()
    return job


@transaction.atomic
def run_now(
    job: Job, trigger: Run.Trigger = Run.Trigger.MANUAL, enqueue: bool = True, queue_name: str | None = None
) -> Run:
    """Create one run now, outside the schedule (not counted towards max occurrences).

    enqueue=False when the caller executes it itself (`run_job` in the foreground); `queue_name`
    overrides the job's queue for this run (a first check jumps ahead of the routine ones).
    """
    now = timezone.now()
    run = Run.objects.create(
        job=job, scheduled_for=now, attempt=1, trigger=trigger, status=Run.Status.QUEUED, due_at=now, queued_at=now
    )
    if enqueue:
        queue.enqueue([(run.id, queue_name or job.queue, job.timeout_seconds)])
    audit.record(job, "run now", {"run": [None, run.id]})  # a person's (button, admin, API, command) only
    log.info("run queued", extra={"run": run.id, "job": job.id, "trigger": trigger})
    return run


def run_many(jobs: Iterable[Job], trigger: Run.Trigger = Run.Trigger.MANUAL, queue_name: str | None = None) -> int:
    """run_now for many jobs in one transaction, written in bulk (a fan-out queues thousands).

    Jobs that already have a run waiting or running are left out, so a backlog never stacks a second
    run on the first. Returns the number of runs queued.
    """
    now = timezone.now()
    jobs = list(jobs)
    with transaction.atomic():
        busy = set(
            Run.objects.filter(job__in=[job.pk for job in jobs], status__in=[*Run.ACTIVE, Run.Status.RETRYING])
            .values_list("job_id", flat=True)
            .distinct()
        )
        fresh = [job for job in jobs if job.pk not in busy]
        runs = [Run(job=job, scheduled_for=now, attempt=1, trigger=trigger, due_at=now, queued_at=now) for job in fresh]
        # Not bulk_create: compiling its INSERT cost more than the database's work (an import queues thousands).
        insert = rawsql.statement("run-many-insert", lambda conn: rawsql.InsertArrays(conn, Run, 500))
        with connection.cursor() as cursor:
            insert.insert(cursor, runs)
        pairs = zip(runs, fresh, strict=True)
        queue.enqueue((run.id, queue_name or job.queue, job.timeout_seconds) for run, job in pairs)
    return len(runs)


@transaction.atomic
def pause(jobs: Iterable[Job], reason: str = "") -> int:
    """Pause jobs: the one way, whoever asks (the Jobs pages, the admin, a source's own pause). `reason`
    says why when the engine pauses. Sends jobs_paused in the same transaction, so a job's owner (a
    source) pauses with it."""
    ids = [job.pk for job in jobs]
    withdraw_ahead(ids, timezone.now())
    changes: dict[str, object] = {"enabled": False, "next_run_at": None, "updated_at": timezone.now()}
    if reason:
        changes["paused_reason"] = reason[:1000]
    # QuerySet.update sends no signal: one entry per job a person paused (none for the engine's pauses).
    before = list(Job.objects.filter(pk__in=ids)) if audit.current() is not None else []
    count = Job.objects.filter(pk__in=ids).update(**changes)
    for job in before:
        audit.record(job, "pause", {"enabled": [job.enabled, False]} if job.enabled else {})
    signals.jobs_paused.send(sender=Job, job_ids=ids, reason=reason)
    return count


@transaction.atomic
def resume(jobs: Iterable[Job]) -> int:
    """Resume jobs (clearing the reason the engine paused them). A job whose schedule still cannot be
    evaluated stays paused, with the reason updated. Sends jobs_resumed (for the jobs resumed) in the same
    transaction, so a job's owner (a source) resumes with it."""
    resumed = []
    for job in Job.objects.filter(pk__in=[j.pk for j in jobs]):
        job.enabled, job.paused_reason = True, ""
        try:
            refresh_schedule(job)
        except Exception as exc:  # noqa: BLE001 - the job's own data: say so on the job, keep it paused
            endings.pause_job(job, endings.unplannable_reason(job, exc))
            continue
        with audit.as_action("resume"):  # the save is recorded (enabled: false → true) as a resume
            job.save(update_fields=["enabled", "paused_reason", "next_run_at", "completed_at", "updated_at"])
        resumed.append(job.pk)
    if resumed:
        signals.jobs_resumed.send(sender=Job, job_ids=resumed)
    return len(resumed)


def cancel(runs: Iterable[Run]) -> tuple[int, int]:
    """Queued or waiting runs never start (they end through the one door); running ones are asked to stop
    (within a heartbeat)."""
    ids = [r.pk for r in runs]
    waiting = Q(status__in=[Run.Status.QUEUED, Run.Status.RETRYING])
    ended = 0
    for run in Run.objects.filter(waiting, pk__in=ids).select_related("job"):
        ended += endings.end_run(run, Run.Status.CANCELLED, where=waiting, error=endings.CANCELLED) is not None
    running = Run.objects.filter(pk__in=ids, status=Run.Status.RUNNING).update(cancel_requested=True)
    return ended, running


class OwnedJob(Exception):  # noqa: N818 - it reads as the refusal it is
    """The job belongs to another object (Job.owner, e.g. a source): it is deleted with that object."""


def delete(jobs: Iterable[Job]) -> tuple[int, dict[str, int]]:
    """Delete jobs and their runs. Refused (OwnedJob with the reason; nothing deleted) when any job belongs
    to another object, such as a source: delete that object instead, and its job goes with it."""
    jobs = list(jobs)
    for job in jobs:
        owner = owners.of(job)
        if owner is not None:
            raise OwnedJob(owner.delete_refusal)
    try:
        with transaction.atomic():
            return Job.objects.filter(pk__in=[job.pk for job in jobs]).delete()
    except ProtectedError as exc:  # an owner the registry does not know still points at it
        users = ", ".join(str(obj) for obj in list(exc.protected_objects)[:3])
        raise OwnedJob(_("This job is still used by %(users)s: delete that first.") % {"users": users}) from None


def ensure_jobs(specs: Iterable[Mapping[str, Any]], service: str = "vigia") -> list[Job]:
    """Create the apps' own periodic jobs once, identified by (service, key); operators may then edit or
    pause them, and we never overwrite what they chose. Returns the jobs created."""
    created = []
    for spec in specs:
        spec = dict(spec)
        key = spec.pop("external_key")
        if not Job.objects.filter(external_service=service, external_key=key).exists():
            created.append(save_job(Job(external_service=service, external_key=key, **spec)))
    return created
