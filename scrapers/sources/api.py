"""The sources API: sources (create, list, read, edit, delete, check now, preview) and the items feed.

The views are thin and take the dashboard's paths (scrapers.sources.views), so the API accepts and refuses
exactly what the editor does, with the same field messages:
- A body is checked against the JSON schema of its kind (one variant per registered scraper kind: the
  SourceForm's common fields, `kind` and `config` = the kind's Config form), then bound to SourceForm over the
  source's current values (`bind`: a PATCH changes only what it names), whose clean() runs the kind's Config
  form on `config`. Saving is SourceForm.save (which keeps the source's check_source job in step); deleting
  the source deletes its job (services._delete_job); "check now" is a manual run of that job
  (scheduler.services.run_now); a preview is scrapers.sources.preview.run, through the outbound guard.
- Header values are secrets (cookies, API keys): answers show each one as MASK. A PATCH may send a header
  back as MASK to keep its stored value.
- The items feed (`GET /items`) reads oldest first after `since` and serves only rows first seen at least
  VIGIA_API_FEED_SETTLE seconds ago, so that a row a slower transaction commits late is not overtaken by
  the cursor (see `items_feed`).
"""

from functools import cache
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.http import HttpRequest
from django.utils import translation
from ninja import Field, P, PathEx, QueryEx, Router, Schema, Status

from scheduler import services as scheduler_services
from scheduler.models import Run
from scheduler.shared.api import (
    MAX_PAGE_SIZE,
    WRITE_ERRORS,
    ApiError,
    ErrorOut,
    InvalidOut,
    bind,
    body,
    form_errors,
    invalid,
    iso,
    newest_first,
    not_found,
    oldest_after,
    request_body,
    require,
    schema_of,
    validate,
)
from scheduler.shared.api import READ_ERRORS as shared_read_errors
from scheduler.shared.bounds import MAX_ID
from scrapers.models import Item, ItemRevision, Source
from scrapers.sources import access, polling
from scrapers.sources import preview as previews
from scrapers.sources.kinds import base as kinds
from scrapers.sources.services import SourceForm, job_of
from scrapers.sources.views import HEALTH_FILTERS

router = Router(tags=["sources"])

MASK = "********"
RESOURCE = "sources"
# Ids are also query values here (?source=): their checks are 422s.
READ_ERRORS: dict[int, type[Schema]] = {**shared_read_errors, 422: InvalidOut}
Health = Literal["ok", "failing", "broken", "new"]
Cursor = QueryEx[str | None, P(description="`next_cursor` from the previous page.")]
Limit = QueryEx[int | None, P(ge=1, le=MAX_PAGE_SIZE, description="Rows per answer (default 50).")]
SourceId = PathEx[int, P(ge=1, le=MAX_ID, description="The source's id.")]


# --- Request bodies: one variant per scraper kind, from the forms -------------------------------------------
HEADERS_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": {"type": "string"},
    "description": 'Header names to values, e.g. {"Cookie": "…"}. Answers show each value as "' + MASK + '"; '
    "send that back to keep a stored value.",
}
LOGIN_FIELDS_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": {"type": "string"},
    "description": 'The fields the login form posts, e.g. {"email": "…", "senha": "…"}. Answers show each value '
    'as "' + MASK + '"; send that back to keep a stored value.',
}
# SourceForm's timeout is a FloatField, which Django derives from IntegerField: schema_of would say integer.
TIMEOUT_SCHEMA: dict[str, Any] = {
    "type": "number",
    "minimum": 0.5,
    "maximum": 120,
    "title": "Timeout seconds",
    "description": "Seconds before a check gives up (a preview waits at most 20).",
}


@cache
def variant(kind: str, partial: bool = False, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON schema of a source of `kind`: SourceForm's fields (or `only` these), `kind` fixed to it and
    `config` the kind's Config form. `partial` (PATCH) requires nothing. Built once per kind (the validators
    that scheduler.shared.api compiles are kept by the schema's identity)."""
    config = schema_of(kinds.get(kind).Config)
    extra = {
        "kind": {"type": "string", "const": kind, "title": str(kinds.get(kind).label)},
        "config": {**config, "description": f"The {kind} kind's settings."},
        "headers": HEADERS_SCHEMA,
        "login_fields": LOGIN_FIELDS_SCHEMA,
        "timeout_seconds": TIMEOUT_SCHEMA,
    }
    required = ["kind", "url"] if only else ["name", "kind", "url"]
    if config.get("required"):
        required.append("config")
    schema = schema_of(SourceForm, only=only, required=required, partial=partial, extra=extra)
    schema["title"] = f"{kind} source"
    return schema


def variants(partial: bool = False, only: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    return [variant(kind, partial, only) for kind in kinds.names()]


def _kind_of(data: dict[str, Any], default: str | None = None) -> str:
    """The body's scraper kind (or `default`, the stored one): 422 on `kind` listing the kinds otherwise."""
    kind = data.get("kind", default)
    if kind is None:
        raise invalid({"kind": ["Required. Choose one of: " + ", ".join(kinds.names()) + "."]})
    try:
        with translation.override("en"):
            return kinds.clean_name(kind if isinstance(kind, str) else repr(kind))
    except ValidationError as exc:
        raise invalid({"kind": exc.messages}) from None


PREVIEW_FIELDS = tuple(previews.FIELDS)


# --- Answers ------------------------------------------------------------------------------------------------
class HealthOut(Schema):
    status: Literal["ok", "new", "failing", "selectors", "broken"] = Field(
        description="The dashboard's badge: ok, new (not checked yet), failing, selectors (may be broken), broken."
    )
    last_checked_at: str | None = Field(json_schema_extra={"format": "date-time"})
    last_success_at: str | None = Field(json_schema_extra={"format": "date-time"})
    last_error: str
    last_error_at: str | None = Field(json_schema_extra={"format": "date-time"})
    consecutive_failures: int
    last_item_count: int | None = Field(description="Items the last successful check found.")


class LoginOut(Schema):
    state: Literal["", "none", "pending", "logged_in", "rejected"] = Field(
        description='"" without a login; none: not logged in yet; pending: logging in; logged_in; rejected: the '
        "site refused the login settings (no check logs in again until they change)."
    )
    since: str | None = Field(json_schema_extra={"format": "date-time"})
    error: str = Field(description="Why the login was rejected.")


class SourceOut(Schema):
    id: int
    name: str
    kind: str
    url: str
    config: dict[str, Any] = Field(description="The kind's settings.")
    method: str
    headers: dict[str, str] = Field(description=f'Header names; every value shows as "{MASK}".')
    timeout_seconds: float
    user_agent: str
    interval_seconds: int | None
    poll_floor_seconds: int | None = Field(description="Adaptive polling: the interval right after a find.")
    poll_ceiling_seconds: int | None = Field(description="Adaptive polling: the longest interval when quiet.")
    current_interval_seconds: int | None = Field(description="The adaptive interval in force (null: not adaptive).")
    cron: str
    timezone: str
    active_from: str | None = Field(json_schema_extra={"format": "date-time"})
    active_until: str | None = Field(json_schema_extra={"format": "date-time"})
    enabled: bool
    announce_first_check: bool
    fallback_urls: list[str] = Field(description="Tried in order when the URL fails.")
    login_url: str
    login_fields: dict[str, str] = Field(description=f'Field names; every value shows as "{MASK}".')
    login_success_cookie: str
    login_success_text: str
    login: LoginOut = Field(description="The login's state (never the session's cookies).")
    job: int | None = Field(description="The source's check_source job (deleted with the source).")
    health: HealthOut
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    updated_at: str = Field(json_schema_extra={"format": "date-time"})


class SourcePage(Schema):
    items: list[SourceOut]
    next_cursor: str | None = Field(description="Ask again with ?cursor= for the next (older) page; null: no more.")


class CheckOut(Schema):
    run: int = Field(description="The queued run of the source's job (GET /runs/{id} follows it).")
    job: int
    status: str
    trigger: str
    queued_at: str | None = Field(json_schema_extra={"format": "date-time"})


class PreviewItemOut(Schema):
    title: str
    url: str
    key: str
    published_at: str | None = Field(json_schema_extra={"format": "date-time"})
    body: str = Field(description="Cut at 300 characters, as the dashboard's preview shows it.")
    fields: dict[str, str] = Field(description="What the parser read, by name, as text (cut at 200 characters).")


class PreviewOut(Schema):
    found: int = Field(description="Items the configuration extracts.")
    shown: int = Field(description=f"Items in `items`: the first {previews.SHOWN} at most.")
    http_status: int | None
    elapsed_ms: int | None
    items: list[PreviewItemOut]


class AttachmentOut(Schema):
    url: str
    name: str = Field(description="The file's name, when the page gave one.")


class ItemOut(Schema):
    id: int
    source: int
    source_name: str
    key: str = Field(description="Unique within the source: the item's id on the page, its link or a hash.")
    title: str
    url: str
    body: str
    published_at: str | None = Field(json_schema_extra={"format": "date-time"})
    fields: dict[str, Any] = Field(description="What the parser read, by name (plain text, as scraped).")
    first_seen: str = Field(json_schema_extra={"format": "date-time"})
    last_seen: str = Field(json_schema_extra={"format": "date-time"})
    changed_at: str = Field(json_schema_extra={"format": "date-time"}, description="When this version was first seen.")
    revisions: int = Field(description="Earlier versions kept (the item changed this many times).")
    attachments: list[AttachmentOut] = Field(description="The images and documents the item carries, as found.")


class FeedOut(Schema):
    items: list[ItemOut]
    next_since: str = Field(
        description="Ask again with ?since= for what comes after; the same cursor when nothing was new."
    )


def _source_out(source: Source) -> dict[str, Any]:
    return {
        "id": source.pk,
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "config": source.config if isinstance(source.config, dict) else {},
        "method": source.method,
        "headers": {str(name): MASK for name in (source.headers or {})} if isinstance(source.headers, dict) else {},
        "timeout_seconds": source.timeout_seconds,
        "user_agent": source.user_agent,
        "interval_seconds": source.interval_seconds,
        "poll_floor_seconds": source.poll_floor_seconds,
        "poll_ceiling_seconds": source.poll_ceiling_seconds,
        "current_interval_seconds": source.current_interval_seconds if polling.adaptive(source) else None,
        "cron": source.cron,
        "timezone": source.timezone,
        "active_from": iso(source.active_from),
        "active_until": iso(source.active_until),
        "enabled": source.enabled,
        "announce_first_check": source.announce_first_check,
        "fallback_urls": list(source.fallback_urls) if isinstance(source.fallback_urls, list) else [],
        "login_url": source.login_url,
        "login_fields": {str(name): MASK for name in source.login_fields}
        if isinstance(source.login_fields, dict)
        else {},
        "login_success_cookie": source.login_success_cookie,
        "login_success_text": source.login_success_text,
        "login": _login_out(source),
        "job": source.job_id,
        "health": {
            "status": source.health.value,
            "last_checked_at": iso(source.last_checked_at),
            "last_success_at": iso(source.last_success_at),
            "last_error": source.last_error,
            "last_error_at": iso(source.last_error_at),
            "consecutive_failures": source.consecutive_failures,
            "last_item_count": source.last_item_count,
        },
        "created_at": iso(source.created_at),
        "updated_at": iso(source.updated_at),
    }


def _login_out(source: Source) -> dict[str, Any]:
    state = access.login_state(source)
    return {"state": state["state"], "since": iso(state.get("since")), "error": state.get("error", "")}


def _found(source_id: int) -> Source:
    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        raise not_found()
    return source


def _save(form: SourceForm) -> Source:
    try:
        with transaction.atomic():
            return form.save()
    except IntegrityError:  # a concurrent request took the name between validation and saving
        raise ApiError(409, "A source with this name already exists.") from None


# --- Sources ------------------------------------------------------------------------------------------------
@router.post(
    "/sources",
    response={201: SourceOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Create a source",
    description=(
        "Scope sources:write. The body is one of the variants below, chosen by `kind` (one per scraper kind); "
        "`config` holds that kind's settings. Validated as the dashboard's source editor validates (the same "
        "field messages, under `errors`); the source's check_source job is created with it. 201 with the "
        "source; 409 when another request took the name meanwhile."
    ),
    operation_id="create_source",
    openapi_extra=request_body({"oneOf": variants()}, "A source of one of the registered scraper kinds."),
)
def create_source(request: HttpRequest) -> Status[dict[str, Any]]:
    require(request, RESOURCE, write=True)
    data = body(request)
    validate(variant(_kind_of(data)), data)
    return Status(201, _source_out(_save(bind(SourceForm, data))))


@router.get(
    "/sources",
    response={200: SourcePage, **READ_ERRORS},
    summary="List sources",
    description="Scope sources:read. Newest first, a page at a time (`cursor` from `next_cursor`).",
    operation_id="list_sources",
)
def list_sources(
    request: HttpRequest,
    kind: QueryEx[str | None, P(description="Only sources of this scraper kind.")] = None,
    enabled: QueryEx[bool | None, P(description="Only enabled (true) or paused (false) sources.")] = None,
    health: QueryEx[Health | None, P(description="As the dashboard's filter (failing includes selectors).")] = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Status[dict[str, Any]]:
    require(request, RESOURCE)
    rows: QuerySet[Source] = Source.objects.all()
    if kind is not None:
        rows = rows.filter(kind=_kind_of({"kind": kind}))
    if enabled is not None:
        rows = rows.filter(enabled=enabled)
    if health is not None:
        rows = rows.filter(HEALTH_FILTERS[health])
    found, next_cursor = newest_first(rows, cursor, limit)
    return Status(200, {"items": [_source_out(source) for source in found], "next_cursor": next_cursor})


@router.post(
    "/sources/preview",
    response={200: PreviewOut, **WRITE_ERRORS},
    summary="Preview what a configuration extracts",
    description=(
        "Scope sources:write. Fetches the page now (through the outbound guard, as checks do) and answers what "
        "the configuration extracts from it, saving nothing: the dashboard editor's Preview. 422 for field "
        "errors (the editor's messages), and also when the upstream fails (a timeout, an HTTP error status, a "
        'page the kind cannot parse): then `detail` starts with "The preview failed:" and `errors.url` says '
        "what happened, as the editor shows it."
    ),
    operation_id="preview_source",
    openapi_extra=request_body(
        {"oneOf": variants(only=PREVIEW_FIELDS)}, "A kind, its settings and the request to preview; no name."
    ),
)
def preview_source(request: HttpRequest) -> Status[dict[str, Any]]:
    require(request, RESOURCE, write=True)
    data = body(request)
    validate(variant(_kind_of(data), only=PREVIEW_FIELDS), data)
    blank = SourceForm()
    current = {name: blank[name].value() for name in blank.fields}  # as bind() starts a new source
    with translation.override("en"):
        form = SourceForm(data={**current, **data})
        result = previews.run(form)
        if result is None:
            raise form_errors(form)
        if result.error:  # the upstream's failure: 422 (not 502), so that a 5xx is always Vigia's own fault
            raise ApiError(422, f"The preview failed: {result.error}", {"url": [result.error]})
    items = [
        {
            "title": row.title,
            "url": row.url,
            "key": row.key,
            "published_at": iso(row.published_at),
            "body": row.body,
            "fields": dict(row.fields),
        }
        for row in result.rows
    ]
    return Status(
        200,
        {
            "found": result.found,
            "shown": len(items),
            "http_status": result.http_status,
            "elapsed_ms": result.elapsed_ms,
            "items": items,
        },
    )


@router.get(
    "/sources/{source_id}",
    response={200: SourceOut, **READ_ERRORS},
    summary="A source",
    description="Scope sources:read. Its settings (header values masked), schedule and health.",
    operation_id="get_source",
)
def get_source(request: HttpRequest, source_id: SourceId) -> Status[dict[str, Any]]:
    require(request, RESOURCE)
    return Status(200, _source_out(_found(source_id)))


@router.patch(
    "/sources/{source_id}",
    response={200: SourceOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Edit a source",
    description=(
        "Scope sources:write. Changes only the fields the body names; the rest keep their values. A new "
        "`config` (or `kind`) is validated by the kind's settings form as in the dashboard editor; a header "
        f'sent as "{MASK}" keeps its stored value. The job follows the new schedule. 409 when another request '
        "took the name meanwhile."
    ),
    operation_id="update_source",
    openapi_extra=request_body({"anyOf": variants(partial=True)}, "The fields to change."),
)
def update_source(request: HttpRequest, source_id: SourceId) -> Status[dict[str, Any]]:
    require(request, RESOURCE, write=True)
    source = _found(source_id)
    data = body(request)
    validate(variant(_kind_of(data, source.kind), partial=True), data)
    headers = data.get("headers")
    if isinstance(headers, dict) and isinstance(source.headers, dict):
        data["headers"] = {
            name: source.headers[name] if value == MASK and name in source.headers else value
            for name, value in headers.items()
        }
    return Status(200, _source_out(_save(bind(SourceForm, data, instance=source))))


@router.delete(
    "/sources/{source_id}",
    response={204: None, **READ_ERRORS},
    summary="Delete a source",
    description="Scope sources:write. Deletes the source, its items and its check_source job (with its runs).",
    operation_id="delete_source",
)
def delete_source(request: HttpRequest, source_id: SourceId) -> Status[None]:
    require(request, RESOURCE, write=True)
    with transaction.atomic():
        _found(source_id).delete()
    return Status(204, None)


@router.post(
    "/sources/{source_id}/check",
    response={202: CheckOut, **READ_ERRORS},
    summary="Check a source now",
    description=(
        "Scope sources:write. The dashboard's Check now: a manual run of the source's check_source job, queued "
        "(never run in this request). 202 with the run, which GET /runs/{id} follows."
    ),
    operation_id="check_source",
)
def check_source(request: HttpRequest, source_id: SourceId) -> Status[dict[str, Any]]:
    require(request, RESOURCE, write=True)
    source = Source.objects.select_related("job").filter(pk=source_id).first()
    if source is None:
        raise not_found()
    run: Run = scheduler_services.run_now(job_of(source))
    return Status(
        202,
        {
            "run": run.pk,
            "job": run.job_id,
            "status": run.status,
            "trigger": run.trigger,
            "queued_at": iso(run.queued_at),
        },
    )


# --- Items --------------------------------------------------------------------------------------------------
def _attachments(stored: object) -> list[dict[str, str]]:
    """An item's stored attachments as the API shows them (a malformed entry is left out)."""
    files = stored if isinstance(stored, list) else []
    return [
        {"url": str(entry.get("url", "")), "name": str(entry.get("name") or "")}
        for entry in files
        if isinstance(entry, dict) and entry.get("url")
    ]


ITEM_COLUMNS = (
    "id",
    "source_id",
    "key",
    "title",
    "url",
    "body",
    "published_at",
    "raw",
    "first_seen",
    "last_seen",
    "revisions_count",
    "attachments",
)


@router.get(
    "/items",
    response={200: FeedOut, **READ_ERRORS},
    summary="The items feed",
    description=(
        "Scope sources:read. Items oldest first after `since` (the `next_since` of the previous answer; none: "
        "from the first). Poll with the `next_since` each answer gives (the same one when nothing is new): "
        "every item comes once, none is skipped. An item is served once it was first seen "
        "VIGIA_API_FEED_SETTLE seconds ago (default 2), so one still being stored is not overtaken. Items are "
        "served as they are when read; a later change does not serve them again (see `revisions`)."
    ),
    operation_id="items_feed",
)
def items_feed(
    request: HttpRequest,
    since: QueryEx[str | None, P(description="`next_since` from the previous answer.")] = None,
    source: QueryEx[int | None, P(ge=1, le=MAX_ID, description="Only this source's items.")] = None,
    limit: Limit = None,
) -> Status[dict[str, Any]]:
    require(request, RESOURCE)
    rows = Item.objects.only(*ITEM_COLUMNS)
    if source is not None:
        if not Source.objects.filter(pk=source).exists():
            raise invalid({"source": ["No source has this id."]})
        rows = rows.filter(source_id=source)
    found, next_since = oldest_after(rows, since, limit, settled_by="first_seen")
    names = dict(Source.objects.filter(pk__in={row.source_id for row in found}).values_list("pk", "name"))
    changed = dict(
        ItemRevision.objects.filter(item_id__in=[row.pk for row in found if row.revisions_count])
        .values("item_id")
        .annotate(last=Max("replaced_at"))
        .values_list("item_id", "last")
    )
    items = [
        {
            "id": row.pk,
            "source": row.source_id,
            "source_name": names.get(row.source_id, ""),
            "key": row.key,
            "title": row.title,
            "url": row.url,
            "body": row.body,
            "published_at": iso(row.published_at),
            "fields": row.raw if isinstance(row.raw, dict) else {},
            "first_seen": iso(row.first_seen),
            "last_seen": iso(row.last_seen),
            "changed_at": iso(changed.get(row.pk) or row.first_seen),
            "revisions": row.revisions_count,
            "attachments": _attachments(row.attachments),
        }
        for row in found
    ]
    return Status(200, {"items": items, "next_since": next_since})
