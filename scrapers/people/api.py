"""The people API: monitored people (created idempotently, listed, read, edited, deleted, checked now) and the
feed of the publications kept for them (composed in config.api).

Thin, as the dashboard's views: every body is checked against the JSON schema derived from PersonForm, then
by PersonForm itself (bind), and saved through scrapers.people.services (save_person, force_sync,
start_force_sync), so the API refuses what the dashboard, the admin and the CSV import refuse, with the same
messages, and a new person's job, subscriptions and first check come out the same.

- Identity: a person is their normalized name + CPF/CNPJ, as the CSV import identifies them (the same
  normalize_name and document_key; a body without `document` means "no CPF/CNPJ"). POSTing someone already
  monitored answers 200 with them unchanged; the unique constraint on that pair settles two POSTs at once.
- The feed (`GET /publications`) has one entry per publication kept for a person (a PublicationMatch): a
  publication naming two monitored people is two entries (the same `publication_id`), and a publication found
  for a person added later is a new entry, so a poller never misses it. Entries come oldest first after
  `since`; only the entries older than VIGIA_API_FEED_SETTLE seconds are served, and never past a younger one,
  so a slower transaction still committing an earlier entry cannot be overtaken.
"""

from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import translation
from ninja import Field, P, QueryEx, Router, Schema, Status

from scheduler.models import Run
from scheduler.shared import bounds
from scheduler.shared.api import (
    AUTH_ERRORS,
    BODY_ERRORS,
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
from scrapers.models import MonitoredPerson, PublicationMatch
from scrapers.people import brazil, services
from scrapers.people.csv_io import document_key
from scrapers.people.filters import PeopleFilters, filtered_people

router = Router(tags=["people"])

# Recipients: the form's text (addresses separated by commas, semicolons or line breaks) or a JSON list.
RECIPIENTS: dict[str, Any] = {
    "type": ["array", "string", "null"],
    "items": {"type": "string"},
    "title": "Recipients",
    "description": "Phones with country code, WhatsApp group JIDs or e-mails: a list, or one text separated by commas.",
}
CREATE_SCHEMA = schema_of(services.PersonForm, required=["name"], extra={"recipients": RECIPIENTS})
PATCH_SCHEMA = schema_of(services.PersonForm, partial=True, extra={"recipients": RECIPIENTS})
TWIN = "Another monitored person with this name and CPF/CNPJ was saved meanwhile."


# --- Schemas -----------------------------------------------------------------------------------------
class PersonOut(Schema):
    id: int
    name: str
    document: str = Field(description="CPF (11 digits) or CNPJ (14 characters), without punctuation; empty: none.")
    oab_number: str
    oab_uf: str
    tribunals: str = Field(description="DJEN acronyms separated by commas; empty: every tribunal.")
    match_in_text: bool
    recipients: list[str]
    active: bool
    monitor_until: str | None = Field(json_schema_extra={"format": "date"})
    check_interval_minutes: int
    notes: str
    first_check: Literal["pending", "done", "failed"] = Field(description="The check queued on creation.")
    last_checked_at: str | None = Field(json_schema_extra={"format": "date-time"})
    last_success_at: str | None = Field(json_schema_extra={"format": "date-time"})
    next_check_at: str | None = Field(json_schema_extra={"format": "date-time"})
    last_error: str
    job_id: int | None = Field(description="The person's check_person job (its runs are the checks).")
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    updated_at: str = Field(json_schema_extra={"format": "date-time"})


class PersonPage(Schema):
    items: list[PersonOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class PersonCheckOut(Schema):
    person_id: int
    queued: bool = Field(description="False when a check was already waiting or running (it is kept, not doubled).")
    detail: str
    run_id: int | None = Field(description="The check's run: the one queued now, or the one already waiting.")
    run_status: str | None


class PeopleSyncOut(Schema):
    run_id: int = Field(description="The sync_people run that queues the checks on a worker (GET /runs/{run_id}).")
    status: str = Field(description="That run's status.")
    people: int = Field(description="Active people it checks; its result says how many checks it queued.")
    detail: str


class PublicationEntryOut(Schema):
    id: int = Field(description="The feed entry: one publication kept for one person.")
    publication_id: int
    djen_id: int
    person_id: int
    person_name: str
    how: Literal["name", "oab", "text"] = Field(description="Named as a recipient, by the lawyer's OAB, in the text.")
    tribunal: str
    date: str | None = Field(json_schema_extra={"format": "date"}, description="Made available in DJEN.")
    communication_type: str
    organ: str
    process_number: str
    process_number_masked: str
    class_name: str
    class_code: str
    document_type: str
    medium: str
    number: str
    text: str
    link: str
    recipients: list[dict[str, Any]] = Field(description="The parties DJEN names: {name, role}.")
    lawyers: list[dict[str, Any]] = Field(description="The lawyers DJEN names: {name, oab, uf}.")
    first_seen: str = Field(json_schema_extra={"format": "date-time"}, description="When Vigia first stored it.")
    created_at: str = Field(json_schema_extra={"format": "date-time"}, description="When it was kept for the person.")


class PublicationFeedOut(Schema):
    items: list[PublicationEntryOut]
    next_since: str = Field(
        description="Pass as `since` next time (the same cursor when nothing is new); empty before the first entry."
    )


# --- Helpers -----------------------------------------------------------------------------------------
def person_document(person: MonitoredPerson) -> dict[str, Any]:
    return {
        "id": person.pk,
        "name": person.name,
        "document": person.document,
        "oab_number": person.oab_number,
        "oab_uf": person.oab_uf,
        "tribunals": person.tribunals,
        "match_in_text": person.match_in_text,
        "recipients": [str(a) for a in person.recipients] if isinstance(person.recipients, list) else [],
        "active": person.active,
        "monitor_until": person.monitor_until.isoformat() if person.monitor_until else None,
        "check_interval_minutes": person.check_interval_minutes,
        "notes": person.notes,
        "first_check": person.first_check,
        "last_checked_at": iso(person.last_checked_at),
        "last_success_at": iso(person.last_success_at),
        "next_check_at": iso(person.next_check_at),
        "last_error": person.last_error,
        "job_id": person.job_id,
        "created_at": iso(person.created_at),
        "updated_at": iso(person.updated_at),
    }


def feed_item(match: PublicationMatch) -> dict[str, Any]:
    publication = match.publication
    return {
        "id": match.pk,
        "publication_id": publication.pk,
        "djen_id": publication.djen_id,
        "person_id": match.person_id,
        "person_name": match.person.name,
        "how": match.how,
        "tribunal": publication.tribunal,
        "date": publication.date.isoformat() if publication.date else None,
        "communication_type": publication.communication_type,
        "organ": publication.organ,
        "process_number": publication.process_number,
        "process_number_masked": publication.process_number_masked,
        "class_name": publication.class_name,
        "class_code": publication.class_code,
        "document_type": publication.document_type,
        "medium": publication.medium,
        "number": publication.number,
        "text": publication.text,
        "link": publication.link,
        "recipients": [r for r in publication.recipients if isinstance(r, dict)]
        if isinstance(publication.recipients, list)
        else [],
        "lawyers": [r for r in publication.lawyers if isinstance(r, dict)]
        if isinstance(publication.lawyers, list)
        else [],
        "first_seen": iso(publication.first_seen),
        "created_at": iso(match.matched_at),
    }


def _person(person_id: int) -> MonitoredPerson:
    if not 1 <= person_id <= bounds.MAX_ID:  # beyond a bigint the database would refuse the query
        raise not_found()
    found = MonitoredPerson.objects.filter(pk=person_id).first()
    if found is None:
        raise not_found()
    return found


def find_same(data: dict[str, Any]) -> MonitoredPerson | None:
    """The person a body names: the CSV import's identity (normalized name + CPF/CNPJ as stored)."""
    name, document = brazil.normalize_name(data.get("name")), document_key(data.get("document") or "")
    if not name:
        return None
    return MonitoredPerson.objects.filter(normalized_name=name, document=document).first()


# --- People ------------------------------------------------------------------------------------------
@router.post(
    "/people/check",
    response={202: PeopleSyncOut, **AUTH_ERRORS},
    summary="Check every person now",
    description=(
        "Scope people:write. The dashboard's Check all people now: a sync_people run queues a check of every "
        "active person on a worker (a check already waiting is kept, not doubled), as queuing 100,000 checks "
        "is long work for a request. 202 with that run and how many active people it covers; once it has "
        'finished its result (GET /runs/{run_id}) is `{"queued": N}`. A sync run already waiting or '
        "running is returned instead of a second one."
    ),
    operation_id="check_all_people",
)
def check_all_people(request: HttpRequest) -> Status[dict[str, Any]]:
    require(request, "people", write=True)
    run = services.start_force_sync()
    return Status(
        202,
        {
            "run_id": run.pk,
            "status": run.status,
            "people": services.monitored().count(),
            "detail": "A worker is queuing a check of every active person: the run's result says how many.",
        },
    )


@router.post(
    "/people",
    response={200: PersonOut, 201: PersonOut, **BODY_ERRORS, **AUTH_ERRORS},
    summary="Monitor a person",
    description=(
        "Scope people:write. The dashboard's person form as JSON (only `name` is required; the rest take the "
        "form's defaults). 201 with the new person; an active one has its first check queued at once "
        "(`first_check` is `pending`; the runs of its `job_id` show it). Idempotent on the normalized name + "
        "CPF/CNPJ, as the CSV import identifies people (accents, case, punctuation and extra spaces in the "
        "name, and the CPF/CNPJ's punctuation, do not matter; no `document` means none): someone already "
        "monitored is 200 with that person unchanged and nothing queued (edit with PATCH). 422 with the "
        "form's messages by field, for a repeat too."
    ),
    operation_id="create_person",
    openapi_extra=request_body(CREATE_SCHEMA),
)
def create_person(request: HttpRequest) -> Status[dict[str, Any]]:
    require(request, "people", write=True)
    data = body(request)
    validate(CREATE_SCHEMA, data)
    existing = find_same(data)
    if existing is None:
        try:
            form = bind(services.PersonForm, data)
        except ApiError:
            existing = find_same(data)  # saved meanwhile by another request: the form saw its twin
            if existing is None:
                raise
        else:
            try:
                person = form.save()  # save_person: the person, its job, subscriptions, the first check queued
            except IntegrityError:  # the same person saved meanwhile (person_unique_identity)
                existing = find_same(data)
                if existing is None:
                    raise
            else:
                return Status(201, person_document(MonitoredPerson.objects.get(pk=person.pk)))
    bind(services.PersonForm, data, instance=existing)  # the body must still be one the form accepts…
    return Status(200, person_document(_person(existing.pk)))  # …but changes nothing (bind wrote on `existing`)


@router.get(
    "/people",
    response={200: PersonPage, 422: InvalidOut, **AUTH_ERRORS},
    summary="List monitored people",
    description=(
        "Scope people:read. Newest first, a page at a time: pass `next_cursor` as `cursor` for the next page "
        "(null on the last). The filters are the people page's: `q` (words in the name, accents and case "
        "ignored, or in the CPF/CNPJ or OAB number), `active`, `tribunal` (a DJEN acronym, or * for people "
        "who chose none), `expiring` (active people whose monitoring ends within that many days)."
    ),
    operation_id="list_people",
)
def list_people(
    request: HttpRequest,
    q: QueryEx[str | None, P(description="Search words.")] = None,
    active: bool | None = None,
    tribunal: str | None = None,
    expiring: QueryEx[int | None, P(description="Days (0-3650).")] = None,
    cursor: str | None = None,
    limit: QueryEx[int | None, P(description="1-500; 50 by default.")] = None,
) -> Status[dict[str, Any]]:
    require(request, "people")
    params: dict[str, Any] = {"q": q or "", "tribunal": tribunal or ""}
    params["active"] = "" if active is None else ("yes" if active else "no")
    params["expiring"] = "" if expiring is None else expiring
    with translation.override("en"):
        filters = PeopleFilters(params)
        if not filters.is_valid():
            raise form_errors(filters)
    _, chosen = filtered_people(params)
    rows, next_cursor = newest_first(chosen, cursor, limit)
    return Status(200, {"items": [person_document(p) for p in rows], "next_cursor": next_cursor})


@router.get(
    "/people/{person_id}",
    response={200: PersonOut, 404: ErrorOut, **AUTH_ERRORS},
    summary="A monitored person",
    description="Scope people:read. The person, with the state of their checks.",
    operation_id="get_person",
)
def get_person(request: HttpRequest, person_id: int) -> Status[dict[str, Any]]:
    require(request, "people")
    return Status(200, person_document(_person(person_id)))


@router.patch(
    "/people/{person_id}",
    response={200: PersonOut, 404: ErrorOut, 409: ErrorOut, **BODY_ERRORS, **AUTH_ERRORS},
    summary="Edit a monitored person",
    description=(
        "Scope people:write. Only the fields the body names change; the form checks them together with the "
        "person's other values (422 by field, the form's messages). `active: false` stops the checks (the "
        "dashboard's deactivate). 409 when another request saved someone with the same name and CPF/CNPJ "
        "at the same moment."
    ),
    operation_id="update_person",
    openapi_extra=request_body(PATCH_SCHEMA),
)
def update_person(request: HttpRequest, person_id: int) -> Status[dict[str, Any]]:
    require(request, "people", write=True)
    data = body(request)
    validate(PATCH_SCHEMA, data)
    person = _person(person_id)
    if data:
        form = bind(services.PersonForm, data, instance=person)
        try:
            services.save_person(form.save(commit=False), shown=[name for name in services.FIELDS if name in data])
        except IntegrityError:
            raise ApiError(409, TWIN) from None
    return Status(200, person_document(_person(person_id)))


@router.delete(
    "/people/{person_id}",
    response={204: None, 404: ErrorOut, **AUTH_ERRORS},
    summary="Stop monitoring a person and delete them",
    description=(
        "Scope people:write. 204: the person is deleted with their job, their subscriptions and the record of "
        "which publications were kept for them (as the admin deletes; the publications themselves stay). To "
        "stop the checks but keep the history, PATCH `active: false` (the dashboard's deactivate)."
    ),
    operation_id="delete_person",
)
def delete_person(request: HttpRequest, person_id: int) -> Status[None]:
    require(request, "people", write=True)
    person = _person(person_id)
    with transaction.atomic():
        person.delete()  # services' post_delete receiver deletes the job and the subscriptions
    return Status(204, None)


@router.post(
    "/people/{person_id}/check",
    response={202: PersonCheckOut, 404: ErrorOut, 409: ErrorOut, **AUTH_ERRORS},
    summary="Check a person now",
    description=(
        "Scope people:write. The dashboard's Check now: 202 with the check's run, queued now or (`queued`: "
        "false) already waiting, which is kept rather than doubled. 409 for an inactive person (not checked)."
    ),
    operation_id="check_person",
)
def check_person(request: HttpRequest, person_id: int) -> Status[dict[str, Any]]:
    require(request, "people", write=True)
    person = _person(person_id)
    if not person.active:
        raise ApiError(409, "An inactive person is not checked: PATCH active: true first.")
    queued = services.force_sync([person]) > 0
    job_id = MonitoredPerson.objects.filter(pk=person.pk).values_list("job_id", flat=True).first()
    run = None
    if job_id is not None:  # force_sync gave a person without a job one
        waiting = Run.objects.filter(job_id=job_id, status__in=[*Run.ACTIVE, Run.Status.RETRYING])
        run = waiting.order_by("-pk").first()
    return Status(
        202,
        {
            "person_id": person.pk,
            "queued": queued,
            "detail": "Check queued." if queued else "A check is already queued or running.",
            "run_id": run.pk if run else None,
            "run_status": run.status if run else None,
        },
    )


# --- The publications feed ---------------------------------------------------------------------------
@router.get(
    "/publications",
    response={200: PublicationFeedOut, 422: InvalidOut, **AUTH_ERRORS},
    summary="The feed of publications kept for monitored people",
    description=(
        "Scope people:read. Poll it to receive every publication found for a monitored person once: entries "
        "come oldest first after `since`; pass the answer's `next_since` as `since` next time (it is the same "
        "cursor when nothing is new, and empty when nothing has come yet, so start without `since`). One "
        "entry per publication and person (a publication naming two monitored people is two entries with the "
        "same `publication_id`). An entry younger than a few seconds (VIGIA_API_FEED_SETTLE) and those after it "
        "wait for a later poll, so one still being committed is never overtaken. `person` keeps one person's "
        "entries (422 for an unknown person)."
    ),
    operation_id="publication_feed",
)
def publication_feed(
    request: HttpRequest,
    since: QueryEx[str | None, P(description="The `next_since` of the previous answer.")] = None,
    person: QueryEx[int | None, P(description="A monitored person's id.")] = None,
    limit: QueryEx[int | None, P(description="1-500; 50 by default.")] = None,
) -> Status[dict[str, Any]]:
    require(request, "people")
    entries = PublicationMatch.objects.select_related("person", "publication").defer(
        "publication__hash", *(f"person__{name}" for name in ("notes", "recipients", "last_error"))
    )
    if person is not None:
        if not 1 <= person <= bounds.MAX_ID or not MonitoredPerson.objects.filter(pk=person).exists():
            raise invalid({"person": ["No monitored person has this id."]})
        entries = entries.filter(person_id=person)  # the person_id index, or the primary key with a filter
    settled, next_since = oldest_after(entries, since, limit, settled_by="matched_at")
    return Status(200, {"items": [feed_item(match) for match in settled], "next_since": next_since})
