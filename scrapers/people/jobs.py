"""The people's job kinds: the scheduler's way into scrapers.people.publications (one check), the cycle's
fan-out and force sync (scrapers.people.services), expiry, and CSV transfers (scrapers.people.transfers)."""

from typing import Any

from django import forms
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.translation import gettext_lazy, gettext_noop

from scheduler import system_jobs
from scheduler.errors import PermanentError
from scheduler.job_kinds import JobKind, RunContext, deadline, register
from scheduler.progress import RunProgress
from scheduler.shared import rawsql
from scheduler.shared.logs import log_context
from scrapers.people import publications, transfers
from scrapers.people import services as people
from scrapers.people.models import MonitoredPerson

# The names of the jobs made for a person (scrapers.people.services.job_for) and for a CSV transfer
# (scrapers.people.transfers), shown in the reader's language.
system_jobs.made_name(gettext_noop("Person #%(id)s: %(name)s"))
system_jobs.made_name(gettext_noop("Import people #%(id)s: %(file)s"))
system_jobs.made_name(gettext_noop("Export people #%(id)s"))


@register
class CheckPerson(JobKind):
    name = "check_person"
    label = gettext_lazy("Check a monitored person in DJEN")

    class Params(forms.Form):
        person_id = forms.IntegerField(label=gettext_lazy("Person"), min_value=1)

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        person = _person(params["person_id"])
        if person is None:
            raise PermanentError(f"Monitored person {params['person_id']} no longer exists.")
        with log_context(person=person.pk):
            return publications.check_person(person, deadline=deadline(context)).summary()


def _person(person_id: int) -> MonitoredPerson | None:
    """The monitored person, or None: a prepared SELECT (the ORM compiled its query anew for every check of
    a cycle, 14 % of a check's CPU)."""
    sql = rawsql.statement("person_by_id", _person_rows)
    with sql.conn.cursor() as cursor:
        found = sql.fetch(cursor, [person_id])
    return found[0] if found else None


def _person_rows(conn: BaseDatabaseWrapper) -> rawsql.ModelRows[MonitoredPerson]:
    table = rawsql.quoted(conn, MonitoredPerson._meta.db_table)
    return rawsql.ModelRows(conn, MonitoredPerson, f"FROM {table} WHERE {table}.id = %s")


@register
class CheckPeople(JobKind):
    name = "check_people"
    label = gettext_lazy("Queue a check of every monitored person that is due")
    description = gettext_lazy(
        "Fans out: one check_person run per due person, claimed so that no person is checked twice."
    )

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        return {"queued": people.fan_out()}


@register
class SyncPeople(JobKind):
    name = "sync_people"
    label = gettext_lazy("Check every monitored person now")
    description = gettext_lazy(
        '"Check all people now": one check_person run per active person, whatever their schedule; '
        "a check already waiting is kept. Its progress shows on the run's page."
    )

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        return {"queued": people.force_sync(progress=RunProgress(context.run_id))}


@register
class ExpirePeople(JobKind):
    name = "expire_people"
    label = gettext_lazy("Deactivate people whose monitoring has expired")

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        expired = people.expire()
        return {"expired": len(expired), "people": [row["pk"] for row in expired[:100]]}


class TransferParams(forms.Form):
    transfer_id = forms.IntegerField(label=gettext_lazy("Transfer"), min_value=1)


@register
class ImportPeople(JobKind):
    name = transfers.IMPORT_KIND
    label = gettext_lazy("Import monitored people from an uploaded CSV")
    description = gettext_lazy(
        "One per upload (scrapers.people.transfers): progress on the import's page, then its per-line report."
    )
    # JobKind.Params is a nested class, which mypy types as that very class rather than any Form.
    Params = TransferParams  # type: ignore[assignment]

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        return transfers.run_import(params["transfer_id"])


@register
class ExportPeople(JobKind):
    name = transfers.EXPORT_KIND
    label = gettext_lazy("Export monitored people as CSV")
    description = gettext_lazy(
        "One per export (scrapers.people.transfers): the file is downloaded from the export's page."
    )
    # JobKind.Params is a nested class, which mypy types as that very class rather than any Form.
    Params = TransferParams  # type: ignore[assignment]

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        return transfers.run_export(params["transfer_id"])
