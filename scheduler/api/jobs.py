"""The jobs and runs endpoints of the jobs API."""

from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import translation
from ninja import Status

from scheduler import services
from scheduler.api.bodies import (
    CREATE_DOC,
    PATCH_DOC,
    PUT_DOC,
    as_declared,
    bound,
    check,
    claimed,
    declared_digest,
    form_data,
    identity,
    insert,
    name_taken,
    pair,
    path_identity,
    update,
)
from scheduler.api.documents import JobDetailOut, JobPage, RunOut, RunPage, job_detail, job_document, run_document
from scheduler.api.routes import router
from scheduler.models import Job, Run
from scheduler.shared import bounds
from scheduler.shared.api import (
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    ApiError,
    ErrorOut,
    body,
    decode,
    encode,
    invalid,
    newest_first,
    not_found,
    page_size,
    require,
)


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
    known = check(data, "create", data.get("kind"))
    service, key = identity(data.get("service"), data.get("key"))
    if service and key and (found := pair(service, key)) is not None:
        return Status(200, job_detail(claimed(found, who)))
    submitted = form_data(data, None)
    if service and key and not data.get("name"):
        submitted["name"] = f"{service}/{key}"[:200]
    try:
        form = bound(submitted, str(data.get("kind")), known)
        return Status(201, job_detail(insert(form, who)))
    except (ApiError, IntegrityError) as exc:
        # A concurrent declaration of the same pair won (its job now fails the form's unique checks, or the
        # database's): answer with its job.
        if service and key and (found := pair(service, key)) is not None:
            return Status(200, job_detail(claimed(found, who)))
        if isinstance(exc, IntegrityError) and Job.objects.filter(name=submitted.get("name")).exists():
            raise name_taken() from None
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
    service, key = path_identity(service, key)
    data = body(request)
    known = check(data, "put", data.get("kind"))
    digest = declared_digest(data)
    found = pair(service, key)
    if found is not None and as_declared(found, who, digest):
        return Status(200, job_detail(found))
    if found is None:
        submitted = {
            **form_data(data, None),
            "external_service": service,
            "external_key": key,
        }
        submitted.setdefault("name", f"{service}/{key}"[:200])
        try:
            form = bound(submitted, str(data.get("kind")), known)
            return Status(201, job_detail(insert(form, who, digest)))
        except (ApiError, IntegrityError) as exc:
            found = pair(service, key)  # a concurrent PUT created it: update that one
            if found is None:
                if isinstance(exc, IntegrityError) and Job.objects.filter(name=submitted.get("name")).exists():
                    raise name_taken() from None
                raise
    with transaction.atomic():
        job = update(claimed(found, who), data, known, replace=True, digest=digest)
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
    known = check(data, "patch", data.get("kind", job.kind))
    with transaction.atomic():
        job = update(job, data, known)
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
