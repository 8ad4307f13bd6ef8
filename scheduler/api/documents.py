"""The jobs API's answers: the response schemas and the documents of a job, a run and the queue."""

from datetime import UTC
from typing import Any, Literal

from django.utils import translation
from ninja import Field, Schema

from scheduler import owners, services
from scheduler.models import Job, Run
from scheduler.shared.api import iso

MASK = "********"
NEXT_OCCURRENCES = 5


# --- Documents ---------------------------------------------------------------------------------------------
DateTime = Field(json_schema_extra={"format": "date-time"})
OptionalDateTime = Field(None, json_schema_extra={"format": "date-time"})


class OccurrenceOut(Schema):
    utc: str = Field(json_schema_extra={"format": "date-time"}, description="The moment, in UTC.")
    local: str = Field(json_schema_extra={"format": "date-time"}, description="The same moment in the job's time zone.")


class LastRunOut(Schema):
    id: int
    status: str
    trigger: str
    attempt: int
    scheduled_for: str = DateTime
    finished_at: str | None = OptionalDateTime


class JobOut(Schema):
    id: int
    name: str
    kind: str
    params: dict[str, Any] = Field(description="The kind's parameters; header values shown as ********.")
    schedule_type: Literal["cron", "interval", "once", "manual"]
    cron: str
    timezone: str
    interval_seconds: int | None
    run_at: str | None = OptionalDateTime
    start_at: str | None = OptionalDateTime
    end_at: str | None = OptionalDateTime
    max_occurrences: int | None
    occurrences: int = Field(description="Occurrences dispatched so far (towards max_occurrences).")
    enabled: bool
    paused_reason: str = Field(description="Why the engine paused the job (empty when an operator did).")
    owner: str = Field(description='The object that manages the job ("source:12"), or empty.')
    queue: Literal["high", "default", "low"]
    timeout_seconds: int
    max_attempts: int
    backoff_base_seconds: float
    backoff_cap_seconds: float
    backoff_jitter: float
    overlap_policy: Literal["forbid", "allow"]
    misfire_policy: Literal["coalesce", "skip", "all"]
    misfire_grace_seconds: int
    service: str | None
    key: str | None
    callback_url: str
    next_run_at: str | None = OptionalDateTime
    completed_at: str | None = OptionalDateTime
    created_at: str = DateTime
    updated_at: str = DateTime


class JobDetailOut(JobOut):
    owner_label: str = Field(description="The owner as the dashboard names it, or empty.")
    next_occurrences: list[OccurrenceOut] = Field(
        description=f"The next {NEXT_OCCURRENCES} times the schedule fires (fewer when it ends; none when paused)."
    )
    last_run: LastRunOut | None


class JobPage(Schema):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last one.")


class RunOut(Schema):
    id: int
    job_id: int
    status: Literal["queued", "running", "succeeded", "failed", "retrying", "timed_out", "cancelled", "skipped"]
    trigger: Literal["schedule", "manual", "retry", "api"]
    attempt: int
    scheduled_for: str = DateTime
    due_at: str = DateTime
    queued_at: str | None = OptionalDateTime
    started_at: str | None = OptionalDateTime
    finished_at: str | None = OptionalDateTime
    duration_ms: int | None
    cancel_requested: bool
    result: Any = Field(None, description="What the job kind returned (JSON), or null.")
    error: str


class RunPage(Schema):
    items: list[RunOut]
    next_cursor: str | None


class QueueDepthOut(Schema):
    name: str
    waiting: int = Field(description="Tasks waiting to be taken.")
    taken: int = Field(description="Tasks a worker cluster pulled whose run has not started yet.")
    running: int = Field(0, description="Runs running, under the queue their task is on.")
    later: int = Field(0, description="Tasks queued to start at a later moment, not takeable until then.")
    oldest: str | None = Field(None, json_schema_extra={"format": "date-time"}, description="Oldest waiting since.")
    done_per_minute_5: float = Field(0.0, description="Runs of this queue's jobs ended per minute, last 5 minutes.")
    done_per_minute_15: float = Field(0.0, description="Runs of this queue's jobs ended per minute, last 15 minutes.")


class PresenceOut(Schema):
    name: str
    holder: str
    alive: bool
    renewed_at: str | None = OptionalDateTime
    started_at: str | None = OptionalDateTime
    age_seconds: float | None = Field(description="Since the last heartbeat.")


class ActiveRunOut(Schema):
    id: int
    job_id: int
    job_name: str
    status: str
    attempt: int
    queued_at: str | None = OptionalDateTime
    due_at: str | None = OptionalDateTime
    started_at: str | None = OptionalDateTime
    heartbeat_at: str | None = OptionalDateTime


class TakenTaskOut(Schema):
    queue: str
    name: str = Field(description="The task's name (run-<id> for a run).")
    run_id: int | None = Field(description="The run it will execute; null for a task that is no run.")
    job_id: int | None
    job_name: str | None


class BulkOut(Schema):
    run_id: int = Field(description="The bulk run (e.g. Check all people now).")
    job_name: str
    status: str
    total: int = Field(description="Runs it queued.")
    done: int = Field(description="Of those, runs that ended.")
    queuing_done: int | None = Field(description="While it still queues: how many it has queued so far.")
    rate_per_minute: float | None = Field(description="Observed runs ended per minute; null: too early.")
    limit_per_minute: float | None = Field(description="The upstream's rate limit, requests per minute.")
    eta_seconds: float | None = Field(description="Remaining / min(rate, limit); null when unknown.")


class QueueOut(Schema):
    queues: list[QueueDepthOut]
    taken: list[TakenTaskOut] = Field([], description="Tasks a cluster pulled whose run has not started (at most 50).")
    bulk: BulkOut | None = Field(None, description="The latest bulk fan-out and its progress; null when none.")
    running: list[ActiveRunOut] = Field(description="Runs executing now, longest running first (at most 50).")
    waiting: list[ActiveRunOut] = Field(description="Runs queued or waiting to retry, oldest first (at most 50).")
    clusters: list[PresenceOut] = Field(description="Worker clusters seen within the hour, alive ones first.")
    leader: PresenceOut | None = Field(description="The scheduler leader's lease; null when none ever ran.")


def _masked(params: object) -> dict[str, Any]:
    found = dict(params) if isinstance(params, dict) else {}
    if isinstance(found.get("headers"), dict):
        found["headers"] = {name: MASK for name in found["headers"]}
    return found


def job_document(job: Job) -> dict[str, Any]:
    return {
        "id": job.pk,
        "name": job.name,
        "kind": job.kind,
        "params": _masked(job.params),
        "schedule_type": job.schedule_type,
        "cron": job.cron,
        "timezone": job.timezone,
        "interval_seconds": job.interval_seconds,
        "run_at": iso(job.run_at),
        "start_at": iso(job.start_at),
        "end_at": iso(job.end_at),
        "max_occurrences": job.max_occurrences,
        "occurrences": job.occurrences,
        "enabled": job.enabled,
        "paused_reason": job.paused_reason,
        "owner": job.owner,
        "queue": job.queue,
        "timeout_seconds": job.timeout_seconds,
        "max_attempts": job.max_attempts,
        "backoff_base_seconds": job.backoff_base_seconds,
        "backoff_cap_seconds": job.backoff_cap_seconds,
        "backoff_jitter": job.backoff_jitter,
        "overlap_policy": job.overlap_policy,
        "misfire_policy": job.misfire_policy,
        "misfire_grace_seconds": job.misfire_grace_seconds,
        "service": job.external_service,
        "key": job.external_key,
        "callback_url": job.callback_url,
        "next_run_at": iso(job.next_run_at),
        "completed_at": iso(job.completed_at),
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def job_detail(job: Job) -> dict[str, Any]:
    with translation.override("en"):
        owner = owners.of(job)
        label = str(owner.label) if owner else ""
    last = job.runs.order_by("-scheduled_for", "-id").first()  # the run_job_recent index
    return {
        **job_document(job),
        "owner_label": label,
        "next_occurrences": next_occurrences(job),
        "last_run": None
        if last is None
        else {
            "id": last.pk,
            "status": last.status,
            "trigger": last.trigger,
            "attempt": last.attempt,
            "scheduled_for": iso(last.scheduled_for),
            "finished_at": iso(last.finished_at),
        },
    }


def next_occurrences(job: Job, count: int = NEXT_OCCURRENCES) -> list[dict[str, str]]:
    """The next `count` times the job fires (services.next_runs), in UTC and in the job's zone."""
    zone = services.zone_of(job)
    return [
        {"utc": moment.astimezone(UTC).isoformat(), "local": moment.astimezone(zone).isoformat()}
        for moment in services.next_runs(job, count)
    ]


def run_document(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "job_id": run.job_id,
        "status": run.status,
        "trigger": run.trigger,
        "attempt": run.attempt,
        "scheduled_for": iso(run.scheduled_for),
        "due_at": iso(run.due_at),
        "queued_at": iso(run.queued_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_ms": run.duration_ms,
        "cancel_requested": run.cancel_requested,
        "result": run.result,
        "error": run.error,
    }
