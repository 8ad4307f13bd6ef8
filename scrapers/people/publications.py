"""Checking one monitored person in DJEN: the date window, the queries, matching, storing, announcing.

The window runs from the day before the last successful check (publications made available late on a
day are not missed) to today, in Brazil's court time; a first check looks back VIGIA_DJEN_FIRST_DAYS.
DJEN's name search is loose, so an item is kept for the person only when their normalized name is one of
its recipients (decorations such as " - CPF …" or "(representante)" ignored), their OAB is among its
lawyers, or — with `match_in_text` — the text names them. Publications are stored once (unique DJEN id)
however many people they name; each new person↔publication match is announced once on `person:<id>`,
in the same transaction that stores it, with a key that makes a repeated check announce nothing.
"""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.utils import timezone

from channels_app import alerts
from channels_app.events import publish
from scheduler.errors import JobError
from scheduler.shared import rawsql
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import djen
from scrapers.people.brazil import contains_name, digits, normalize_name

log = logging.getLogger("vigia.people")
COURT_ZONE = ZoneInfo("America/Sao_Paulo")  # DJEN's dates are Brazilian calendar days
# Where a recipient's name ends and its decorations begin: "FULANO - CPF: …", "FULANO (REPRESENTANTE)".
DECORATION = re.compile(r"\s+-\s+|\s*[(\[,/]|\s+cpf\b|\s+cnpj\b|\s+oab\b", re.I)
# What a check keeps, by DJEN id: the parsed item and how it matched the person.
Found = dict[int, tuple[djen.PublicationFields, str]]


@dataclass
class Outcome:
    start: date | None = None
    end: date | None = None
    requests: int = 0
    djen_ms: int = 0
    returned: int = 0  # items DJEN returned (the loose search)
    matched: list[int] = field(default_factory=list)  # Publication ids kept for the person
    new: list[int] = field(default_factory=list)  # of those, the ones matched for the first time
    truncated: bool = False

    def summary(self) -> dict[str, Any]:
        assert self.start is not None and self.end is not None  # check_person sets the window first
        return {
            "window": [self.start.isoformat(), self.end.isoformat()],
            "requests": self.requests,
            "djen_ms": self.djen_ms,
            "returned": self.returned,
            "matched": len(self.matched),
            "new": len(self.new),
            "truncated": self.truncated,
        }


def window(person: MonitoredPerson, today: date | None = None) -> tuple[date, date]:
    today = today or timezone.localdate(timezone=COURT_ZONE)
    if person.last_success_at:
        start = timezone.localdate(person.last_success_at, timezone=COURT_ZONE) - timedelta(days=1)
    else:
        start = today - timedelta(days=settings.VIGIA_DJEN_FIRST_DAYS)
    return min(start, today), today


def queries(person: MonitoredPerson) -> list[dict[str, str]]:
    """The DJEN criteria for a person: by name as a party, and by OAB for a lawyer."""
    tribunals = person.tribunal_list
    base: dict[str, str] = {"siglaTribunal": tribunals[0]} if len(tribunals) == 1 else {}
    found = [{**base, "nomeParte": person.name}]
    if person.oab_number:
        found.append({**base, "numeroOab": person.oab_number, "ufOab": person.oab_uf})
    return found


def how_matched(person: MonitoredPerson, fields: djen.PublicationFields) -> str | None:
    """'name', 'oab' or 'text' when the parsed item names the person; None for the API's false alarms."""
    tribunals = person.tribunal_list
    if tribunals and fields["tribunal"] not in tribunals:
        return None
    wanted = person.normalized_name
    for recipient in fields["recipients"]:
        name = normalize_name(recipient["name"])
        core = normalize_name(DECORATION.split(recipient["name"], maxsplit=1)[0])
        if wanted in (name, core):
            return "name"
    for lawyer in fields["lawyers"]:
        if person.oab_number and digits(lawyer["oab"]).lstrip("0") == person.oab_number:
            if not lawyer["uf"] or lawyer["uf"] == person.oab_uf:
                return "oab"
        if wanted in (normalize_name(lawyer["name"]), normalize_name(DECORATION.split(lawyer["name"], maxsplit=1)[0])):
            return "name"
    if person.match_in_text and contains_name(normalize_name(fields["text"]), wanted):
        return "text"
    return None


def check_person(person: MonitoredPerson, deadline: float | None = None) -> Outcome:
    """Query DJEN for the person, store and announce what is new. Raises JobError on failure (recorded on
    the person first)."""
    now = timezone.now()
    outcome = Outcome()
    outcome.start, outcome.end = window(person)
    try:
        found: Found = {}
        for criteria in queries(person):
            items = _search(criteria, outcome.start, outcome.end, deadline, outcome)
            outcome.returned += len(items)
            for raw in items:
                fields = djen.parse_item(raw)  # raises on an item without an id: nothing is stored
                how = how_matched(person, fields)
                if how and fields["djen_id"] not in found:
                    found[fields["djen_id"]] = (fields, how)
    except JobError as exc:
        record_failure(person, exc, now)
        raise
    store(person, found, outcome, now)
    log.info(
        "person checked",
        extra={"person": person.pk, "kept": len(outcome.matched), "new": len(outcome.new)},
    )
    return outcome


def _search(
    criteria: Mapping[str, str], start: date, end: date, deadline: float | None, outcome: Outcome
) -> list[object]:
    """Every item for the window. One holding more than DJEN serves per query (a common name over a first
    check's 30 days) is split in halves down to single days, so nothing beyond the cap is lost."""
    result = djen.search(criteria, start, end, deadline=deadline)
    outcome.requests += result.requests
    outcome.djen_ms += result.elapsed_ms
    if result.truncated and start < end:
        middle = start + timedelta(days=(end - start).days // 2)
        return _search(criteria, start, middle, deadline, outcome) + _search(
            criteria, middle + timedelta(days=1), end, deadline, outcome
        )
    outcome.truncated |= result.truncated  # one day alone holds more than the cap: say so
    return result.items


def store(person: MonitoredPerson, found: Found, outcome: Outcome, now: datetime) -> None:
    """Store the publications found, match them to the person and announce the new matches, in one
    transaction. Every statement is prepared once per connection (rawsql): a cycle runs this once per
    person, and the ORM compiled each of them anew every time."""
    with transaction.atomic():
        ids = _publication_ids(found, now) if found else {}
        # Matched when stored, not when the check began (its DJEN queries may take minutes): the API's feed
        # serves matches once they are VIGIA_API_FEED_SETTLE old by this time, which must be taken next to
        # the insert.
        stored = max(now, timezone.now())
        matches = [
            PublicationMatch(person=person, publication_id=ids[djen_id], how=how, matched_at=stored)
            for djen_id, (_, how) in found.items()
        ]
        # The matches not there before, as the insert itself reports them (a concurrent check of the same
        # person inserting one first leaves it out here: announced once).
        new = set(rawsql.statement("match_insert", _insert_new_matches).insert(matches)) if matches else set()
        outcome.matched = sorted(ids.values())
        outcome.new = [match.publication_id for match in matches if match.publication_id in new]
        _announce(person, outcome.new, ids, found)
        first = person.first_check == MonitoredPerson.FirstCheck.PENDING or not person.last_success_at
        failing = bool(person.last_error)  # read before this check: no alert look otherwise
        changes: dict[str, object] = {"last_checked_at": now, "last_success_at": now, "last_error": ""}
        if first:
            changes["first_check"] = MonitoredPerson.FirstCheck.DONE
        _update_person(person.pk, changes)
        for name, value in changes.items():
            setattr(person, name, value)
        if failing:
            alerts.succeeded(person.topic, extra={"person_name": person.name})


def _publication_ids(found: Found, now: datetime) -> dict[int, int]:
    """{djen_id: Publication id} for every item found: the ones not stored yet are inserted (in djen_id
    order, so two checks storing the same items never wait on each other crosswise) and return their ids;
    the ids of those already stored, by this check's earlier cycles or by someone else's check a moment
    ago, are read after (a statement of its own, so it sees what a concurrent insert committed)."""
    rows = [Publication(first_seen=now, **found[djen_id][0]) for djen_id in sorted(found)]
    ids: dict[int, int] = dict(rawsql.statement("publication_insert", _insert_new_publications).insert(rows))
    known = [djen_id for djen_id in found if djen_id not in ids]
    if known:
        table = Publication._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT djen_id, id FROM {connection.ops.quote_name(table)} "
                f"WHERE djen_id IN ({rawsql.placeholders(len(known))})",
                known,
            )
            ids.update(cursor.fetchall())
    return ids


def _insert_new_publications(conn: BaseDatabaseWrapper) -> rawsql.InsertNew[Publication]:
    return rawsql.InsertNew(conn, Publication, unique=["djen_id"], returning=("djen_id", "id"))


def _update_person(pk: int, changes: dict[str, object]) -> None:
    """UPDATE the person's check columns (plain values and datetimes only)."""
    q = connection.ops.quote_name
    # Concrete fields, each with its column (get_field's type covers relations and a field without one too).
    fields = [cast("Field[Any, Any]", MonitoredPerson._meta.get_field(name)) for name in changes]
    assignments = ", ".join(f"{q(cast(str, field.column))} = %s" for field in fields)
    params = [field.get_db_prep_save(changes[field.name], connection=connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {q(MonitoredPerson._meta.db_table)} SET {assignments} WHERE id = %s", [*params, pk])


def _insert_new_matches(conn: BaseDatabaseWrapper) -> rawsql.InsertNew[PublicationMatch]:
    return rawsql.InsertNew(conn, PublicationMatch, unique=["person", "publication"], returning="publication")


def _announce(person: MonitoredPerson, new_ids: list[int], ids: dict[int, int], found: Found) -> None:
    by_pk = {pk: djen_id for djen_id, pk in ids.items()}
    for pk in sorted(new_ids, key=lambda pk: (found[by_pk[pk]][0]["date"] or timezone.now().date(), pk)):
        fields, how = found[by_pk[pk]]
        publish(
            person.topic,
            {
                "type": "publication.new",
                "person": person.pk,
                "person_name": person.name,
                "publication": pk,
                "djen_id": fields["djen_id"],
                "date": fields["date"].isoformat() if fields["date"] else None,
                "tribunal": fields["tribunal"],
                "process": fields["process_number_masked"] or fields["process_number"],
                "type_label": fields["communication_type"],
                "organ": fields["organ"],
                "link": fields["link"],
                "text": fields["text"][:2000],
                "matched_by": how,
            },
            key=f"publication.new:{person.pk}:{pk}",
        )


def record_failure(person: MonitoredPerson, exc: JobError, now: datetime) -> None:
    changes: dict[str, object] = {"last_checked_at": now, "last_error": str(exc)[:2000]}
    if person.first_check == MonitoredPerson.FirstCheck.PENDING and getattr(exc, "permanent", False):
        changes["first_check"] = MonitoredPerson.FirstCheck.FAILED
    MonitoredPerson.objects.filter(pk=person.pk).update(**changes)
    # N failed checks in a row (the person's policy, default 3) alert `person:<id>` (channels_app.alerts).
    alerts.failed(person.topic, str(exc), name=person.name, now=now, extra={"person_name": person.name})
