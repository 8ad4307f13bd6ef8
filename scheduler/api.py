"""The jobs API: declare, read, edit, pause, run and delete jobs; read and cancel runs; look at the queue.

The views translate between HTTP and what the dashboard already uses: JobForm (the one validation of a job, here
with `callback_url` and the owners' kind rule of the dashboard's editor), scheduler.services (run now, pause,
resume, cancel, delete), scheduler.schedules (the next occurrences) and scheduler.liveness (the Queue page).

- Bodies are flat: the JobForm fields, `external_service`/`external_key` named `service`/`key`. Every answer
  about one job carries the same names, plus what only Vigia writes (id, occurrences, next_run_at…).
- The body's JSON schema has one variant per registered job kind (`kind` const, `params` derived from the
  kind's Params form): a new kind appears in the document by registering. A body is checked against the
  variant of its kind, but for types and unknown fields only: ranges and lengths are left to the forms, so a
  value the dashboard refuses gets the dashboard's message here too. Errors of the params are keyed
  `params.<setting>`.
- (service, key) is a job's identity for its caller: POST returns the job already declared with the pair (200),
  PUT /jobs/by-key/… creates or updates it; a pair another caller (or the dashboard) holds is 409. Safe under
  concurrency: the loser of a race on the unique pair reads the winner's job.
- Secrets: the values of `params.headers` (often tokens) are answered as "********"; writing "********" back
  for a header the job has keeps its value.
- Jobs another object owns (a source's check): the fields that owner writes are 409 here, as they are
  read-only on the dashboard; pausing and resuming (`enabled`) go through services, which keep the owner in step.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from ninja import Field, Router, Schema, Status

from scheduler import job_kinds, liveness, owners, schedules, services
from scheduler.forms import FIELDS, SCHEDULE_FIELDS, JobForm
from scheduler.models import Job, Run
from scheduler.shared import bounds, outbound
from scheduler.shared.api import (
    ApiError,
    Caller,
    ErrorOut,
    InvalidOut,
    bind,
    body,
    decode,
    encode,
    field_schema,
    invalid,
    iso,
    newest_first,
    not_found,
    page_size,
    require,
    schema_of,
    validate,
)

router = Router()
MASK = "********"
NEXT_OCCURRENCES = 5
# The API's names for the form's fields (the rest are the same).
API_NAMES = {"external_service": "service", "external_key": "key"}
FORM_NAMES = {api: form for form, api in API_NAMES.items()}
DATETIMES = ("run_at", "start_at", "end_at")
READ_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut}
LIST_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 422: InvalidOut, 429: ErrorOut}
WRITE_ERRORS: dict[int, type[Schema]] = {
    400: InvalidOut,
    401: ErrorOut,
    403: ErrorOut,
    413: InvalidOut,
    422: InvalidOut,
    429: ErrorOut,
}
OTHER_CALLER = "This service and key name a job declared by another caller (or on the dashboard)."


class ApiJobForm(JobForm):
    """JobForm as the API uses it: with the callback URL (http(s), public hosts only, as messages'), and
    refusing kinds only an owner makes (check_source), as the dashboard's editor does."""

    class Meta(JobForm.Meta):
        fields = [*FIELDS, "callback_url"]

    def clean_kind(self) -> str:
        return owners.clean_kind(super().clean_kind(), self.instance)

    def clean_callback_url(self) -> str:
        value = (self.cleaned_data.get("callback_url") or "").strip()
        if not value:
            return ""
        sent = str(self.data.get("callback_url") or "").strip().lower()
        if not sent.startswith(("http://", "https://")):  # URLField would have made "example.org" http://…
            raise ValidationError("Use an http:// or https:// address.")
        outbound.validate_url(value)  # loopback, private… (names are resolved when the callback is made)
        return value


# --- Body schemas, one variant per job kind ------------------------------------------------------------
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength")
CREATE_DOC: dict[str, Any] = {}  # filled in place (see schemas()): the operations' openapi_extra hold them
PUT_DOC: dict[str, Any] = {}
PATCH_DOC: dict[str, Any] = {}


@dataclass(frozen=True)
class Schemas:
    names: tuple[str, ...]
    checks: dict[tuple[str, str], dict[str, Any]]  # (mode, kind) → the schema a body is checked against
    generic: dict[str, dict[str, Any]]  # mode → for a body whose kind is missing or unknown (the form says)
    settings: dict[str, frozenset[str]]  # kind → its params' names


_current: Schemas | None = None


def schemas() -> Schemas:
    """The body schemas for the kinds registered now (rebuilt, and the documented ones updated in place, when
    a kind is registered later: test kinds, VIGIA_EXTRA_JOB_KINDS)."""
    global _current
    names = tuple(job_kinds.names())
    if _current is None or _current.names != names:
        _current = _build(names)
    return _current


def _build(names: tuple[str, ...]) -> Schemas:
    with translation.override("en"):
        form = ApiJobForm()
        common = schema_of(form, exclude=("kind", "params", *API_NAMES), required=())["properties"]
        common["name"] = {
            **common["name"],
            "description": "Unique among all jobs. Default: “<service>/<key>”.",
        }
        common["callback_url"] = {
            **common["callback_url"],
            "description": "Told each run's final status by a signed POST (http:// or https://, a public host).",
        }
        for name in DATETIMES:
            said = common[name].get("description", "")
            common[name] = {**common[name], "description": f"{said} ISO 8601 with a UTC offset (…Z or -03:00).".strip()}
        identity = {
            "service": {
                **field_schema(form.fields["external_service"]),
                "description": "The calling service (stored as the job's external service). With `key`, the job's "
                "identity: declaring a (service, key) again answers the job declared first.",
            },
            "key": {
                **field_schema(form.fields["external_key"]),
                "description": "Unique within `service` (stored as the job's external key).",
            },
        }
        params = {name: schema_of(job_kinds.get(name).Params) for name in names}
        labels = {name: job_kinds.get(name) for name in names}

    def variant(name: str, mode: str) -> dict[str, Any]:
        kind = labels[name]
        properties = {
            **common,
            **(identity if mode == "create" else {}),
            "kind": {"const": name, "title": str(kind.label or name), "description": str(kind.description or "")},
            "params": {**params[name], "title": "Parameters", "description": f"The parameters of {name} jobs."},
        }
        required = [] if mode == "patch" else ["kind", *(["params"] if params[name].get("required") else [])]
        schema: dict[str, Any] = {"type": "object", "title": name, "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def generic(mode: str) -> dict[str, Any]:
        properties = {
            **common,
            **(identity if mode == "create" else {}),
            "kind": {"type": "string"},
            "params": {"type": "object"},
        }
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if mode != "patch":
            schema["required"] = ["kind"]
        return schema

    documented: dict[str, dict[str, Any]] = {
        mode: {"oneOf": [variant(name, mode) for name in names]} for mode in ("create", "put")
    }
    patch_properties = {
        **{name: dict(value) for name, value in common.items()},
        "kind": {"type": "string", "enum": list(names), "description": "Changing it needs the new kind's params."},
        "params": {
            "anyOf": [params[name] for name in names],
            "description": "Replaces the parameters wholly, checked against the kind's (the new one, if given).",
        },
    }
    documented["patch"] = {"type": "object", "properties": patch_properties, "additionalProperties": False}
    for target, mode in ((CREATE_DOC, "create"), (PUT_DOC, "put"), (PATCH_DOC, "patch")):
        target.clear()
        target.update(documented[mode])
    return Schemas(
        names=names,
        checks={(mode, name): _unbounded(variant(name, mode)) for mode in ("create", "put", "patch") for name in names},
        generic={mode: _unbounded(generic(mode)) for mode in ("create", "put", "patch")},
        settings={name: frozenset(params[name]["properties"]) for name in names},
    )


def _unbounded(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema without ranges and lengths: the forms check those, with the dashboard's messages."""
    found = {key: value for key, value in schema.items() if key not in BOUNDS}
    if isinstance(schema.get("properties"), dict):
        found["properties"] = {name: _unbounded(inner) for name, inner in schema["properties"].items()}
    for key in ("items",):
        if isinstance(schema.get(key), dict):
            found[key] = _unbounded(schema[key])
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            found[key] = [_unbounded(inner) for inner in schema[key]]
    return found


schemas()  # the URLs (and so this module) load after the apps registered their kinds


def _check(data: Mapping[str, Any], mode: str, kind: object) -> Schemas:
    found = schemas()
    schema = found.checks.get((mode, kind)) if isinstance(kind, str) else None
    validate(schema or found.generic[mode], data)
    return found


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
    taken: int = Field(description="Tasks a cluster holds (running or about to), or held back until later.")
    oldest: str | None = Field(None, json_schema_extra={"format": "date-time"}, description="Oldest waiting since.")


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


class QueueOut(Schema):
    queues: list[QueueDepthOut]
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
    """The next `count` times the job fires: runs the dispatcher already queued ahead for times to come, then
    the schedule from next_run_at on, within max_occurrences and end_at (services.first_run_after's rules)."""
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
    moments = sorted(set(ahead) | set(later))[:count]
    try:
        zone = schedules.get_zone(job.timezone)
    except schedules.ScheduleError:
        zone = ZoneInfo("UTC")
    return [
        {"utc": moment.astimezone(UTC).isoformat(), "local": moment.astimezone(zone).isoformat()} for moment in moments
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


# --- Reading and checking requests --------------------------------------------------------------------------
def _job(job_id: int) -> Job:
    found = Job.objects.filter(pk=job_id).first() if 1 <= job_id <= bounds.MAX_ID else None
    if found is None:
        raise not_found()
    return found


def _run(run_id: int) -> Run:
    found = Run.objects.filter(pk=run_id).first() if 1 <= run_id <= bounds.MAX_ID else None
    if found is None:
        raise not_found()
    return found


def _text_filter(name: str, value: str | None) -> str | None:
    """A query parameter as a lookup value: 422 for what no column can hold (NUL, a lone surrogate)."""
    if value is None:
        return None
    with translation.override("en"):
        problem = bounds.json_problem(value)
    if problem:
        raise invalid({name: [problem]})
    return value


def _identity(service: object, key: object) -> tuple[str | None, str | None]:
    """(service, key) stripped, None when absent or empty."""
    clean = [value.strip() or None if isinstance(value, str) else None for value in (service, key)]
    return clean[0], clean[1]


def _path_identity(service: str, key: str) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    values = {}
    for name, value, limit in (("service", service, 100), ("key", key, 200)):
        value = value.strip()
        with translation.override("en"):
            problem = bounds.json_problem(value)
        if problem:
            errors[name] = [problem]
        elif not value:
            errors[name] = ["Required."]
        elif len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        values[name] = value
    if errors:
        raise invalid(errors)
    return values["service"], values["key"]


def _form_data(data: Mapping[str, Any], job: Job | None) -> dict[str, Any]:
    """The body in the form's names; datetimes with their offset (to the second); masked headers restored."""
    found: dict[str, Any] = {FORM_NAMES.get(name, name): value for name, value in data.items()}
    errors: dict[str, list[str]] = {}
    for name in DATETIMES:
        value = found.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            moment = None  # the form says "Enter a valid date/time."
        if moment is not None and moment.tzinfo is None:
            errors[name] = ["Give the UTC offset: 2026-08-15T01:00:00-03:00 or 2026-08-15T04:00:00Z."]
        elif moment is not None:
            found[name] = moment.replace(microsecond=0).isoformat()
    params = found.get("params")
    if isinstance(params, dict) and isinstance(params.get("headers"), dict):
        old = job.params.get("headers") if job is not None and isinstance(job.params, dict) else None
        old = old if isinstance(old, dict) else {}
        headers = dict(params["headers"])
        for name, value in headers.items():
            if value == MASK:
                if name in old:
                    headers[name] = old[name]
                else:
                    errors.setdefault("params.headers", []).append(f"{name}: give the value (******** keeps a value).")
        found["params"] = {**params, "headers": headers}
    if errors:
        raise invalid(errors)
    return found


def _bound(data: Mapping[str, Any], kind: str, known: Schemas, job: Job | None = None) -> ApiJobForm:
    """ApiJobForm bound over the job's current values (a new job's defaults); its errors in the API's names."""
    try:
        return bind(ApiJobForm, data, instance=job)
    except ApiError as exc:
        raise _renamed(exc, known.settings.get(kind, frozenset())) from None


def _renamed(error: ApiError, settings: frozenset[str]) -> ApiError:
    errors: dict[str, list[str]] = {}
    for name, messages in error.errors.items():
        for message in messages:
            field = "body" if name == "__all__" else API_NAMES.get(name, name)
            if name == "params":
                setting, colon, rest = message.partition(": ")
                if colon and setting in settings:
                    field, message = f"params.{setting}", rest
            errors.setdefault(field, []).append(message)
    return ApiError(error.status, error.detail, errors)


def _pair(service: str, key: str) -> Job | None:
    return Job.objects.filter(external_service=service, external_key=key).first()


def _claimed(job: Job, who: Caller) -> Job:
    if job.api_caller != who.key:
        raise ApiError(409, OTHER_CALLER)
    return job


def _insert(form: ApiJobForm, who: Caller) -> Job:
    """The new job, saved; IntegrityError when a concurrent request took its (service, key) or name first."""
    job = form.save(commit=False)
    job.api_caller = who.key
    with transaction.atomic():
        job.save()
    return job


def _name_taken() -> ApiError:
    return invalid({"name": ["Job with this Name already exists."]})


def _update(job: Job, data: Mapping[str, Any], known: Schemas, replace: bool = False) -> Job:
    """Apply a PATCH (only what it names) or a PUT (what it leaves out goes back to the defaults, but for
    `enabled`, which only changes when named). Pause and resume go through services; the schedule is recomputed
    only when a schedule field changed (JobForm.save's rule), and nothing is written when nothing changed."""
    values = dict(data)
    enabled = values.pop("enabled", None)
    kind = str(values.get("kind") or job.kind)
    form_data = _form_data(values, job)
    if replace:
        defaults = ApiJobForm()
        fresh = {name: defaults[name].value() for name in defaults.fields if name not in ("enabled", *API_NAMES)}
        fresh["name"] = f"{job.external_service}/{job.external_key}"[:200]
        form_data = {**fresh, **form_data}
    names = [name for name in ApiJobForm.Meta.fields if name != "enabled"]
    before = {name: getattr(job, name) for name in names}
    form = _bound(form_data, kind, known, job)  # the form wrote its cleaned values on `job`
    changed = {name for name in names if getattr(job, name) != before[name]}
    owner = owners.of(job)
    managed = sorted(changed & set(owner.fields)) if owner is not None else []
    if owner is not None and managed:
        with translation.override("en"):
            label = str(owner.label)
        fields = ", ".join(API_NAMES.get(name, name) for name in managed)
        raise ApiError(409, f"{fields}: this job belongs to {label}, which manages these fields: edit them there.")
    if changed:
        job = form.instance
        written = changed | {"updated_at"}
        if changed & set(SCHEDULE_FIELDS):
            services.refresh_schedule(job)
            written |= {"occurrences", "next_run_at", "completed_at"}
        job.save(update_fields=sorted(written))
    if enabled is not None and bool(enabled) != job.enabled:
        (services.resume if enabled else services.pause)([job])
    job.refresh_from_db()
    return job


# --- Jobs -------------------------------------------------------------------------------------------------
@router.post(
    "/jobs",
    response={200: JobDetailOut, 201: JobDetailOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Declare a job",
    description=(
        "Scope jobs:write. The body has the fields of the dashboard's job form (`service` and `key` are its "
        "external service and key; `kind` chooses the shape of `params`: one variant per job kind) and is "
        "refused with the form's messages by field (422). 201 with the job, its next occurrences included. "
        "Idempotent on (service, key): declaring a pair again answers the job declared first (200), unchanged; "
        "a pair declared by another caller or on the dashboard is 409. Without a `name`, the job is named "
        "“<service>/<key>”; names are unique (422 on `name`)."
    ),
    operation_id="create_job",
    tags=["jobs"],
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": CREATE_DOC}}}},
)
def create_job(request: HttpRequest) -> Status[dict[str, Any]]:
    who = require(request, "jobs", write=True)
    data = body(request)
    known = _check(data, "create", data.get("kind"))
    service, key = _identity(data.get("service"), data.get("key"))
    if service and key and (found := _pair(service, key)) is not None:
        return Status(200, job_detail(_claimed(found, who)))
    form_data = _form_data(data, None)
    if service and key and not data.get("name"):
        form_data["name"] = f"{service}/{key}"[:200]
    try:
        form = _bound(form_data, str(data.get("kind")), known)
        return Status(201, job_detail(_insert(form, who)))
    except (ApiError, IntegrityError) as exc:
        # A concurrent declaration of the same pair won (its job now fails the form's unique checks, or the
        # database's): answer with its job.
        if service and key and (found := _pair(service, key)) is not None:
            return Status(200, job_detail(_claimed(found, who)))
        if isinstance(exc, IntegrityError) and Job.objects.filter(name=form_data.get("name")).exists():
            raise _name_taken() from None
        raise


@router.put(
    "/jobs/by-key/{service}/{path:key}",
    response={200: JobDetailOut, 201: JobDetailOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Create or replace the job of a (service, key)",
    description=(
        "Scope jobs:write. Declares the job this caller knows as (service, key): 201 when it is new, 200 when "
        "the job existed and now has the body's values. What the body leaves out goes back to the defaults "
        "(`name` to “<service>/<key>”), except `enabled`, which changes only when given (a pause made on the "
        "dashboard survives a repeated declaration). Repeating the same PUT changes nothing: the schedule "
        "(next run, occurrences) is recomputed only when a schedule field changed. 409 when another caller "
        "(or the dashboard) holds the pair. A `key` may hold slashes; one with a line break is 404."
    ),
    operation_id="put_job",
    tags=["jobs"],
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": PUT_DOC}}}},
)
def put_job(request: HttpRequest, service: str, key: str) -> Status[dict[str, Any]]:
    who = require(request, "jobs", write=True)
    service, key = _path_identity(service, key)
    data = body(request)
    known = _check(data, "put", data.get("kind"))
    found = _pair(service, key)
    if found is None:
        form_data = {
            **_form_data(data, None),
            "external_service": service,
            "external_key": key,
        }
        form_data.setdefault("name", f"{service}/{key}"[:200])
        try:
            form = _bound(form_data, str(data.get("kind")), known)
            return Status(201, job_detail(_insert(form, who)))
        except (ApiError, IntegrityError) as exc:
            found = _pair(service, key)  # a concurrent PUT created it: update that one
            if found is None:
                if isinstance(exc, IntegrityError) and Job.objects.filter(name=form_data.get("name")).exists():
                    raise _name_taken() from None
                raise
    with transaction.atomic():
        job = _update(_claimed(found, who), data, known, replace=True)
    return Status(200, job_detail(job))


@router.get(
    "/jobs",
    response={200: JobPage, **LIST_ERRORS},
    summary="List jobs",
    description=(
        "Scope jobs:read. Newest first, `limit` (1-500, default 50) at a time: pass `next_cursor` as `cursor` "
        "for the next page. Filters: `service`, `kind`, `enabled` (true: active, false: paused), "
        "`schedule_type`."
    ),
    operation_id="list_jobs",
    tags=["jobs"],
)
def list_jobs(
    request: HttpRequest,
    service: str | None = None,
    kind: str | None = None,
    enabled: bool | None = None,
    schedule_type: Literal["cron", "interval", "once", "manual"] | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Status[dict[str, Any]]:
    require(request, "jobs")
    rows: QuerySet[Job] = Job.objects.all()
    if (service := _text_filter("service", service)) is not None:
        # Both halves, so the partial job_external_unique index serves it.
        rows = rows.filter(external_service=service.strip(), external_key__isnull=False)
    if (kind := _text_filter("kind", kind)) is not None:
        rows = rows.filter(kind=kind)
    if enabled is not None:
        rows = rows.filter(enabled=enabled)
    if schedule_type is not None:
        rows = rows.filter(schedule_type=schedule_type)
    page, following = newest_first(rows, cursor, limit)
    return Status(200, {"items": [job_document(job) for job in page], "next_cursor": following})


@router.get(
    "/jobs/{job_id}",
    response={200: JobDetailOut, **READ_ERRORS},
    summary="A job",
    description=(
        "Scope jobs:read. The job, its next occurrences (in UTC and in the job's time zone, within its end and "
        "its maximum of occurrences; none while paused) and a summary of its last run."
    ),
    operation_id="get_job",
    tags=["jobs"],
)
def get_job(request: HttpRequest, job_id: int) -> Status[dict[str, Any]]:
    require(request, "jobs")
    return Status(200, job_detail(_job(job_id)))


@router.patch(
    "/jobs/{job_id}",
    response={200: JobDetailOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Edit a job",
    description=(
        "Scope jobs:write. Changes only the fields the body names, checked by the dashboard's job form as a "
        "whole (422 by field). `params` is replaced wholly (header values sent as ******** keep theirs). "
        "`enabled` pauses or resumes the job as the dashboard's buttons do. The schedule is recomputed only "
        "when a schedule field changes. A job another object manages (a source's check) is 409 for the fields "
        "that object writes: edit them there; pausing and resuming it is allowed."
    ),
    operation_id="patch_job",
    tags=["jobs"],
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": PATCH_DOC}}}},
)
def patch_job(request: HttpRequest, job_id: int) -> Status[dict[str, Any]]:
    require(request, "jobs", write=True)
    job = _job(job_id)
    data = body(request)
    known = _check(data, "patch", data.get("kind", job.kind))
    with transaction.atomic():
        job = _update(job, data, known)
    return Status(200, job_detail(job))


@router.delete(
    "/jobs/{job_id}",
    response={204: None, 404: ErrorOut, 409: ErrorOut, **READ_ERRORS},
    summary="Delete a job",
    description=(
        "Scope jobs:write. Deletes the job and its runs: 204, no body. 409 (with the reason) for a job another "
        "object manages, such as a source's check: delete that object instead."
    ),
    operation_id="delete_job",
    tags=["jobs"],
)
def delete_job(request: HttpRequest, job_id: int) -> Status[None]:
    require(request, "jobs", write=True)
    job = _job(job_id)
    try:
        with translation.override("en"):
            services.delete([job])
    except services.OwnedJob as refusal:
        raise ApiError(409, str(refusal)) from None
    return Status(204, None)


@router.post(
    "/jobs/{job_id}/run",
    response={202: RunOut, **READ_ERRORS},
    summary="Run a job now",
    description=(
        "Scope jobs:write. Queues one run now, outside the schedule (not counted towards max_occurrences), "
        "even while the job is paused: 202 with the run (trigger `api`); follow it at GET /runs/{run_id}."
    ),
    operation_id="run_job",
    tags=["jobs"],
)
def run_job(request: HttpRequest, job_id: int) -> Status[dict[str, Any]]:
    require(request, "jobs", write=True)
    run = services.run_now(_job(job_id), trigger=Run.Trigger.API)
    return Status(202, run_document(run))


# --- Runs ---------------------------------------------------------------------------------------------------
@router.get(
    "/jobs/{job_id}/runs",
    response={200: RunPage, 404: ErrorOut, **LIST_ERRORS},
    summary="A job's runs",
    description=(
        "Scope jobs:read. Newest first (by the time each was scheduled for, as the dashboard shows them), "
        "`limit` (1-500, default 50) at a time: pass `next_cursor` as `cursor` for the next page."
    ),
    operation_id="list_job_runs",
    tags=["runs"],
)
def list_job_runs(
    request: HttpRequest, job_id: int, cursor: str | None = None, limit: int | None = None
) -> Status[dict[str, Any]]:
    require(request, "jobs")
    job = _job(job_id)
    size, before = page_size(limit), decode(cursor)
    rows = Run.objects.filter(job=job)
    if before is not None:
        mark = Run.objects.filter(pk=before, job=job).values_list("scheduled_for", flat=True).first()
        after_mark = Q(scheduled_for__lt=mark) | Q(scheduled_for=mark, pk__lt=before) if mark else Q(pk__lt=before)
        rows = rows.filter(after_mark)
    found = list(rows.order_by("-scheduled_for", "-pk")[: size + 1])  # the run_job_recent index
    following = encode(found[size - 1].pk) if len(found) > size else None
    return Status(200, {"items": [run_document(run) for run in found[:size]], "next_cursor": following})


@router.get(
    "/runs/{run_id}",
    response={200: RunOut, **READ_ERRORS},
    summary="A run",
    description="Scope jobs:read. Its status, trigger, attempt, times, duration, result and error.",
    operation_id="get_run",
    tags=["runs"],
)
def get_run(request: HttpRequest, run_id: int) -> Status[dict[str, Any]]:
    require(request, "jobs")
    return Status(200, run_document(_run(run_id)))


@router.post(
    "/runs/{run_id}/cancel",
    response={200: RunOut, 409: ErrorOut, **READ_ERRORS},
    summary="Cancel a run",
    description=(
        "Scope jobs:write. A queued run (or one waiting to retry) never starts: 200 with it `cancelled`. A "
        "running one is asked to stop within a heartbeat: 200 with `cancel_requested` true. 409 when the run "
        "had already ended."
    ),
    operation_id="cancel_run",
    tags=["runs"],
)
def cancel_run(request: HttpRequest, run_id: int) -> Status[dict[str, Any]]:
    require(request, "jobs", write=True)
    run = _run(run_id)
    if not run.is_final:
        services.cancel([run])
        run.refresh_from_db()
        if run.status == Run.Status.CANCELLED or not run.is_final:
            return Status(200, run_document(run))
    raise ApiError(409, f"The run has already ended: {run.status}.")


# --- Queue ------------------------------------------------------------------------------------------------
def _presence(found: liveness.Presence) -> dict[str, Any]:
    return {
        "name": found.name,
        "holder": found.holder,
        "alive": found.alive,
        "renewed_at": iso(found.renewed_at),
        "started_at": iso(found.started_at),
        "age_seconds": found.age.total_seconds() if found.age is not None else None,
    }


def _active(runs: Iterable[Run], times: Iterable[str]) -> list[dict[str, Any]]:
    names = tuple(times)
    return [
        {
            "id": run.pk,
            "job_id": run.job.pk,
            "job_name": run.job.name,
            "status": run.status,
            "attempt": run.attempt,
            **{name: iso(getattr(run, name)) for name in names},
        }
        for run in runs
    ]


@router.get(
    "/queue",
    response={200: QueueOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut},
    summary="The queue",
    description=(
        "Scope queue:read. What the dashboard's Queue page shows: per named queue the tasks waiting and taken "
        "and since when the oldest waits, the runs running and waiting, the worker clusters and the scheduler "
        "leader."
    ),
    operation_id="get_queue",
    tags=["queue"],
)
def get_queue(request: HttpRequest) -> Status[dict[str, Any]]:
    require(request, "queue")
    now = timezone.now()
    leader = liveness.leader(now)
    return Status(
        200,
        {
            "queues": [
                {"name": q.name, "waiting": q.waiting, "taken": q.taken, "oldest": iso(q.oldest)}
                for q in liveness.queue_depths(now)
            ],
            "running": _active(liveness.running_runs(now), ("started_at", "heartbeat_at")),
            "waiting": _active(liveness.waiting_runs(now), ("queued_at", "due_at")),
            "clusters": [_presence(found) for found in liveness.clusters(now)],
            "leader": _presence(leader) if leader is not None else None,
        },
    )
