"""CSV imports and exports of monitored people as recorded jobs (a PeopleTransfer and its own one-off job).

A browser (or the admin) starts one with start_import / start_export: the transfer row (holding the
uploaded bytes), its job and its first run are written in one transaction, and the request ends at once.
A worker runs it through the `import_people` / `export_people` job kinds (scrapers.jobs), so it is in the
run history with its attempts, timeout and errors like any other run; its page polls the progress the run
writes and shows the report (or offers the file) when it ends. The import is scrapers.people.csv_io's own,
so the command, the page and the admin report the same lines.
"""

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scheduler import owners, services
from scheduler.errors import PermanentError
from scheduler.models import Job, Run
from scheduler.progress import Throttled
from scheduler.shared import audit, retention, roles
from scrapers.models import MonitoredPerson, PeopleTransfer
from scrapers.people import csv_io as people_csv
from scrapers.people.filters import PeopleFilters, filtered_people

IMPORT_KIND, EXPORT_KIND = "import_people", "export_people"
OWNER = "people_transfer"  # Job.owner "people_transfer:<id>"
# 100,000 rows at the ~200 rows/s imports ran at when this was written take ~500 s: an hour leaves room.
IMPORT_TIMEOUT = 3600
EXPORT_TIMEOUT = 900
PROGRESS_EVERY = 50  # rows between calls of the progress callback ...
PROGRESS_SECONDS = 1.0  # ... which writes at most this often (the page polls every second)
PAGE_PROBLEMS = 1000  # problem lines shown on the page; the downloadable report has them all
FILTER_NAMES = list(PeopleFilters.base_fields)


# --- starting -----------------------------------------------------------------------------------------


class _Readable(Exception):  # noqa: N818 - a signal, not an error: the first row was reached
    pass


def _stop_at_first_row(done: int, total: int) -> NoReturn:
    raise _Readable


def check_readable(data: bytes) -> None:
    """Raise CsvError now, in the request, for a file the import could not read at all (not CSV, unknown
    or missing columns, encoding, no rows), so no job is created for it. It is the import's own reading
    (a dry run stopped at its first row), so the page refuses exactly what the job would."""
    try:
        report = people_csv.import_people(data, dry_run=True, progress=_stop_at_first_row, every=1)
    except _Readable:
        return
    if not report.rows:
        raise people_csv.CsvError(_("The file has a header but no rows to import."))


@transaction.atomic
def start_import(data: bytes, file_name: str, dry_run: bool = False, user: User | None = None) -> PeopleTransfer:
    transfer = PeopleTransfer.objects.create(
        kind=PeopleTransfer.Kind.IMPORT,
        user=user,
        file_name=file_name[:255],
        upload=data,
        dry_run=dry_run,
        options={"language": translation.get_language()},  # the report's language: its reader's
    )
    return _start(transfer, IMPORT_KIND, IMPORT_TIMEOUT, f"Import people #{transfer.pk}: {file_name}")


@transaction.atomic
def start_export(
    filters: Mapping[str, object] | None = None,
    ids: Iterable[int] | None = None,
    excel: bool = False,
    user: User | None = None,
) -> PeopleTransfer:
    """Export the people the list's `filters` choose (a dict of its query parameters), or those with the
    primary keys `ids` (the admin's selection)."""
    options: dict[str, object]
    if ids is not None:
        options = {"ids": sorted(ids)}
    else:
        options = {"filters": chosen_filters(filters or {})}
    options["excel"] = bool(excel)
    options["language"] = translation.get_language()  # its messages' language: its reader's
    transfer = PeopleTransfer.objects.create(kind=PeopleTransfer.Kind.EXPORT, user=user, options=options)
    return _start(transfer, EXPORT_KIND, EXPORT_TIMEOUT, f"Export people #{transfer.pk}")


def chosen_filters(values: Mapping[str, object]) -> dict[str, object]:
    """The list filters that choose something (an empty search or "Any" chooses nothing)."""
    return {name: values[name] for name in FILTER_NAMES if values.get(name) not in (None, "")}


def _start(transfer: PeopleTransfer, kind: str, timeout: int, name: str) -> PeopleTransfer:
    job = Job(
        name=name[:200],
        kind=kind,
        params={"transfer_id": transfer.pk},
        schedule_type=Job.ScheduleType.MANUAL,
        owner=f"{OWNER}:{transfer.pk}",
        # Someone is watching the page: ahead of the routine checks, as a person's first check is.
        queue=Job.Queue.HIGH,
        timeout_seconds=min(timeout, settings.VIGIA_MAX_TIMEOUT),  # the operator's ceiling for every job
        max_attempts=3,  # a lost database or worker; a file the import cannot read fails at once
        backoff_base_seconds=10,
        backoff_cap_seconds=60,
    )
    services.save_job(job)
    PeopleTransfer.objects.filter(pk=transfer.pk).update(job=job)
    transfer.job = job
    services.run_now(job)
    return transfer


# --- running (on a worker) ------------------------------------------------------------------------------


class Progress(Throttled):
    """import_people's `progress(done, total)`: written at most every PROGRESS_SECONDS (and at the end).
    The job runs in autocommit (the import commits row by row), so each UPDATE is its own short
    transaction, seen by the page at once on PostgreSQL and on SQLite in WAL mode alike."""

    def __init__(self, transfer_id: int, every: float = PROGRESS_SECONDS) -> None:
        super().__init__(every)
        self.transfer_id = transfer_id

    def write(self, done: int, total: int, **figures: object) -> None:  # the import reports no figures
        PeopleTransfer.objects.filter(pk=self.transfer_id).update(done=done, total=total)


def _load(transfer_id: int) -> PeopleTransfer:
    transfer = PeopleTransfer.objects.filter(pk=transfer_id).first()
    if transfer is None:
        raise PermanentError(f"People transfer {transfer_id} no longer exists.")
    return transfer


def _ended_before(transfer: PeopleTransfer) -> dict[str, Any]:
    """An earlier delivery of this run already finished the transfer (its worker died before recording
    the run): its outcome stands, and nothing is imported or counted twice."""
    if transfer.error:
        raise PermanentError(transfer.error)
    return summary(transfer)


def run_import(transfer_id: int) -> dict[str, Any]:
    transfer = _load(transfer_id)
    if transfer.finished_at:
        return _ended_before(transfer)
    # Rows an earlier attempt already saved are imported again as "unchanged" (the import is idempotent on
    # each person's identity); the report says how far that attempt had come.
    earlier = transfer.done
    assert transfer.upload is not None  # dropped only when the transfer finishes
    # The report is written in the language of whoever started the import (it is read on their page).
    with translation.override(transfer.options.get("language") or settings.LANGUAGE_CODE):
        return _import(transfer, earlier)


def _import(transfer: PeopleTransfer, earlier: int) -> dict[str, Any]:
    assert transfer.upload is not None
    try:
        report = people_csv.import_people(
            bytes(transfer.upload), dry_run=transfer.dry_run, progress=Progress(transfer.pk), every=PROGRESS_EVERY
        )
    except people_csv.CsvError as exc:
        _finish(transfer, error=str(exc))
        raise PermanentError(str(exc)) from None
    problems = [
        {"line": p.line, "name": p.name, "column": p.column, "message": str(p.message)} for p in report.problems
    ]
    # On a worker no one is acting: the audit names who uploaded the file.
    if not transfer.dry_run and transfer.user_id is not None and audit.current() is None:
        with audit.acting(audit.Actor(via=audit.DASHBOARD, user=transfer.user)):
            people_csv.record_import(report)
    counts = {"rows": report.rows, "created": report.created, "updated": report.updated}
    counts.update(unchanged=report.unchanged, rejected=report.rejected, earlier_attempt_rows=earlier)
    _finish(transfer, report={**counts, "problems": problems}, done=report.rows, total=report.rows)
    return summary(transfer)


def run_export(transfer_id: int) -> dict[str, Any]:
    transfer = _load(transfer_id)
    if transfer.finished_at:
        return _ended_before(transfer)
    options = transfer.options
    if "ids" in options:
        chosen = MonitoredPerson.objects.filter(pk__in=options["ids"])
    else:
        chosen = filtered_people(options.get("filters", {}))[1]
    chosen = chosen.order_by("normalized_name", "pk")
    total = chosen.count()
    progress = Progress(transfer.pk)
    progress(0, total)
    rows = _Counted(chosen.iterator(chunk_size=1000), total, progress)
    try:
        with translation.override(options.get("language") or settings.LANGUAGE_CODE):
            data = people_csv.export_people(rows, options["excel"])
    except people_csv.CsvError as exc:
        _finish(transfer, error=str(exc))
        raise PermanentError(str(exc)) from None
    _finish(transfer, report={"rows": rows.done}, result=data, done=rows.done, total=rows.done)
    return summary(transfer)


class _Counted:
    """The people being exported, reporting progress as export_people writes them."""

    def __init__(self, people: Iterator[MonitoredPerson], total: int, progress: Progress) -> None:
        self.people, self.total, self.progress, self.done = people, total, progress, 0

    def __iter__(self) -> Iterator[MonitoredPerson]:
        for person in self.people:
            yield person
            self.done += 1
            if self.done % PROGRESS_EVERY == 0:
                self.progress(min(self.done, self.total), self.total)


def _finish(transfer: PeopleTransfer, **fields: object) -> None:
    """Record the outcome once: a second delivery racing the first cannot replace it. The uploaded file
    is no longer needed then (the report is what stays): its megabytes go at once, not at pruning."""
    fields.update(finished_at=timezone.now(), upload=None)
    if PeopleTransfer.objects.filter(pk=transfer.pk, finished_at__isnull=True).update(**fields):
        for name, value in fields.items():
            setattr(transfer, name, value)
    else:
        transfer.refresh_from_db()


def summary(transfer: PeopleTransfer) -> dict[str, Any]:
    """The run's result: the counts, never the problem lines (those stay on the transfer)."""
    report = {key: value for key, value in (transfer.report or {}).items() if key != "problems"}
    return {"transfer": transfer.pk, "dry_run": transfer.dry_run, **report}


# --- reading (the pages) ----------------------------------------------------------------------------------


def visible_to(user: User) -> QuerySet[PeopleTransfer]:
    """Operators see every transfer; anyone else only their own (only operators may import or export)."""
    transfers = PeopleTransfer.objects.defer(*PeopleTransfer.LIGHT)
    return transfers if roles.can(user, "operate") else transfers.filter(user=user)


def state(transfer: PeopleTransfer) -> dict[str, object]:
    """What the transfer's page shows: its latest run, whether to keep polling, the progress."""
    run = None
    if transfer.job_id:
        run = Run.objects.filter(job_id=transfer.job_id).order_by("-scheduled_for", "-attempt").first()
    finished = transfer.finished_at is not None
    ended = finished or run is None or run.status in Run.FINAL
    if ended and not finished and run is not None:
        # The transfer was read before its run: the worker may have recorded both in between (the page showed
        # "Failed: the run ended without a result" for a run that succeeded). Read it again after the run.
        transfer.refresh_from_db(fields=["finished_at", "error", "report"])
        finished = transfer.finished_at is not None
    if finished:
        error = transfer.error
    elif ended:  # timed out, cancelled, or failed with no retry left, before the transfer recorded anything
        error = (run.error if run else "") or _("The run ended without a result.")
    else:
        error = ""
    report = transfer.report or {}
    problems = report.get("problems", [])
    return {
        "transfer": transfer,
        "run": run,
        "polling": not ended,
        "succeeded": finished and not error,
        "error": error,
        "report": {**report, "problems": problems[:PAGE_PROBLEMS]},
        "hidden_problems": max(len(problems) - PAGE_PROBLEMS, 0),
        "percent": int(100 * transfer.done / transfer.total) if transfer.total else 0,
    }


def report_csv(transfer: PeopleTransfer) -> bytes:
    """The import's per-line report as CSV (UTF-8 with a BOM, for Excel): every problem line."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["line", "name", "column", "problem"])
    for problem in (transfer.report or {}).get("problems", []):
        # Cells come from the file: defused as the export defuses them ("name" is absent from older reports).
        cells = (people_csv._defused(problem.get(key, "")) for key in ("name", "column", "message"))
        writer.writerow([problem["line"], *cells])
    return text.getvalue().encode("utf-8-sig")


def download(transfer: PeopleTransfer) -> tuple[bytes, str, str]:
    """(bytes, content type, file name) of what the transfer's page offers."""
    if transfer.kind == PeopleTransfer.Kind.EXPORT:
        excel = transfer.options.get("excel")
        charset = people_csv.EXCEL_DIALECT["encoding"] if excel else "utf-8"
        assert transfer.result is not None  # offered once the export finished well
        return bytes(transfer.result), f"text/csv; charset={charset}", f"people-{transfer.pk}.csv"
    return report_csv(transfer), "text/csv; charset=utf-8", f"people-import-{transfer.pk}-report.csv"


# --- the engine's hooks: owner, retention --------------------------------------------------------------


def _owner(pk: str) -> owners.Owner | None:
    transfer = PeopleTransfer.objects.defer(*PeopleTransfer.LIGHT).filter(pk=pk).first() if pk.isdigit() else None
    if transfer is None:
        return None
    return owners.Owner(
        key=f"{OWNER}:{pk}",
        label=str(transfer),
        url=reverse("scrapers:people_transfer", args=[transfer.pk]),
        refusal=_("This job runs %(transfer)s; it is deleted with it by the history pruning.") % {"transfer": transfer},
    )


_ONE_PER_TRANSFER = gettext_lazy("An import or export of people creates its own job: start it from the People page.")
owners.register(OWNER, _owner, kinds={IMPORT_KIND: _ONE_PER_TRANSFER, EXPORT_KIND: _ONE_PER_TRANSFER})


def prunable_transfers(cutoff: datetime) -> QuerySet[Job]:
    """The jobs of transfers started before the cutoff and no longer running: deleting one takes its runs
    and its transfer (the upload, the report, the exported file) along."""
    busy = Run.objects.filter(job=OuterRef("pk"), status__in=[*Run.ACTIVE, Run.Status.RETRYING])
    return Job.objects.filter(kind__in=[IMPORT_KIND, EXPORT_KIND], people_transfer__created_at__lt=cutoff).exclude(
        Exists(busy)
    )


retention.register("people_transfers", "VIGIA_RETAIN_TRANSFERS_DAYS", prunable_transfers)
