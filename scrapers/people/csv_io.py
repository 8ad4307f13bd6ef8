"""Monitored people as CSV: the import a law office feeds its spreadsheet to, and the export that writes one.

Every row gets PersonForm's validation (people.validate_person: the admin's, without building a form per
row). A person is identified by normalized name + CPF/CNPJ: a row naming someone already monitored updates
them (only the columns the file has; the rest of the person is kept), any other row creates one, whose first
check is queued. A bad row is reported (line, column, reason) and skipped while the good ones are imported.
Rows are validated one by one and written in batches (the people of a batch looked up in one query, created
or updated in bulk, their jobs, subscriptions and first checks too): ~10x faster than a save per row. A batch
that meets someone saved meanwhile is written again row by row, so only that row is refused.
Files come from Excel as often as from scripts: UTF-8 with or without BOM, UTF-16 with its BOM (Excel's
"Unicode text"), or Excel-Brazil's Windows-1252 separated by semicolons; the encoding and the separator are
detected. A quote left open would swallow the rest of the file into one cell: the file is refused instead,
naming the line.
"""

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from scheduler import services
from scheduler.models import Job, Run
from scheduler.shared import audit, rawsql
from scrapers.models import MonitoredPerson
from scrapers.people import brazil
from scrapers.people import services as people
from scrapers.people.services import FIELDS

COLUMNS = ["name", "cpf_cnpj", "oab", "uf", "tribunals", "monitor_until", "recipients", "notes", "active"]
YES, NO = {"yes", "y", "sim", "s", "true", "1", "x"}, {"no", "n", "nao", "false", "0"}
# A cell starting with one of these is a formula to a spreadsheet: the export defuses it with a leading
# apostrophe (as OWASP advises), and the import takes that apostrophe off again.
FORMULA = ("=", "+", "-", "@", "\t", "\r")
FORM_FIELD = {"cpf_cnpj": "document", "oab": "oab_number", "uf": "oab_uf"}  # the others share their name
# Header cells are compared after brazil.normalize_name: case, accents, "_" and "/" do not matter.
ALIASES = {
    "name": "name",
    "nome": "name",
    "cpf cnpj": "cpf_cnpj",
    "cpf": "cpf_cnpj",
    "cnpj": "cpf_cnpj",
    "documento": "cpf_cnpj",
    "document": "cpf_cnpj",
    "oab": "oab",
    "uf": "uf",
    "tribunals": "tribunals",
    "tribunais": "tribunals",
    "monitor until": "monitor_until",
    "monitorar ate": "monitor_until",
    "recipients": "recipients",
    "destinatarios": "recipients",
    "notes": "notes",
    "observacoes": "notes",
    "notas": "notes",
    "active": "active",
    "ativo": "active",
}
WHOLE_ROW = "(whole row)"  # where a problem not tied to one column is reported
EXCEL_DIALECT = {"delimiter": ";", "encoding": "cp1252"}  # what Excel writes and reads in Brazil
# Byte order marks, UTF-32's before UTF-16's (FF FE 00 00 starts with UTF-16 LE's FF FE). Excel's "Unicode
# text" is UTF-16 LE with its BOM, tab-separated.
BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
]
BATCH = 500  # rows validated, then written together
# PostgreSQL plans a batch's look-ups with the statistics of the table before the import: grown from a few
# people to 50,000 meanwhile, the look-up by name became a sequential scan (54 ms a batch, and growing). The
# import refreshes them (ANALYZE, ~50 ms) every this many people created, as PostgreSQL advises after a bulk load.
ANALYZE_EVERY = 10_000
LINE_BREAK = re.compile(r"\r\n|\r|\n")
QUOTED_REST = re.compile(r'[^"]*(?:""[^"]*)*"')  # the rest of a quoted cell, up to its closing quote
Column = tuple[str | None, str]  # (canonical name or None, the file's own name)
Row = tuple[int, list[str]]  # (line, cells)


NAME_SHOWN = 200  # of a row's name in the report: a cell may be a whole pasted paragraph


class CsvError(Exception):
    """The file itself cannot be used (encoding, header); no row was looked at."""


@dataclass
class Problem:
    line: int  # as a spreadsheet numbers it: the header is line 1
    column: str  # the file's own column name, or WHOLE_ROW
    message: str
    name: str = ""  # the row's name cell, so the report says whose row it is, not only its line

    def __str__(self) -> str:
        where = "whole row" if self.column == WHOLE_ROW else f"column '{self.column}'"
        return f"line {self.line}, {where}: {self.message}"


@dataclass
class Report:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({problem.line for problem in self.problems})

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected} (of {self.rows} row(s))"
        )


# --- reading -------------------------------------------------------------------------------------


def decode(data: bytes | str) -> str:
    """Text from bytes: a BOM names the encoding (UTF-8, UTF-16, UTF-32); valid UTF-8 → UTF-8; anything else
    is an Excel file in Windows-1252."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    for bom, encoding, label in BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            try:
                return body.decode(encoding)
            except UnicodeDecodeError as exc:  # guessing would store mangled names
                line = body[: exc.start].decode(encoding, errors="replace").count("\n") + 1
                message = _(
                    "The file starts as %(encoding)s (a BOM) but its line %(line)s is not %(encoding)s: save it again."
                )
                raise CsvError(message % {"encoding": label, "line": line}) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; Latin-1 decodes those rather than failing the whole file.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def line_of(text: str, position: int) -> int:
    return len(LINE_BREAK.findall(text, 0, position)) + 1


def check_quotes(text: str, separator: str) -> None:
    """Refuse a file whose quotes the CSV reader would silently misread: a quoted cell never closed (it
    would swallow every line after it into one cell) or text after a cell's closing quote (a quote that
    should have been doubled: the rows after it merge). Spaces after a closing quote are allowed, as
    hand-written files have them. Raises CsvError naming the line. A regular expression finds each quoted
    cell, so a large file costs little."""
    opening = re.compile(rf'(?:^|(?<=[{re.escape(separator)}\r\n])) *"')
    after = re.compile(rf"[ \t]*(?:{re.escape(separator)}|\r|\n|$)")
    position = 0
    while found := opening.search(text, position):
        rest = QUOTED_REST.match(text, found.end())
        if rest is None:
            message = _(
                "Line %(line)s opens a quoted cell that is never closed, so the rest of the file would be read "
                "into that one cell: nothing was imported. Close its quote (a quote inside a cell is written "
                'twice: "").'
            )
            raise CsvError(message % {"line": line_of(text, found.start())})
        if not after.match(text, rest.end()):
            message = _(
                "Line %(line)s: text follows the closing quote of a cell opened on line %(opened)s, so rows would "
                'merge: nothing was imported. A quote inside a cell is written twice ("") and the cell quoted.'
            )
            raise CsvError(message % {"line": line_of(text, rest.end()), "opened": line_of(text, found.start())})
        position = rest.end()


def delimiter(text: str) -> str:
    header = (text.splitlines() or [""])[0]  # splitlines: old Mac Excel ends lines with a lone \r
    counts = {mark: header.count(mark) for mark in ";,\t"}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","  # a single-column file


def parse(data: bytes | str) -> tuple[list[Column], list[Row]]:
    """(columns, rows): `columns` holds the canonical column name (or None) per position, with the file's
    own names; `rows` are (line, cells) for the non-blank data rows. Raises CsvError."""
    if isinstance(data, bytes) and data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CsvError(_("This is a spreadsheet workbook (.xlsx/.xls), not CSV: save it as CSV first."))
    text = decode(data)
    if "\x00" in text.split("\n", 1)[0]:
        raise CsvError(_("The header holds NUL characters: a UTF-16 file without its BOM? Save it as CSV UTF-8."))
    separator = delimiter(text)
    check_quotes(text, separator)
    # skipinitialspace: hand-written files put a space after the separator, before a quoted cell too.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, skipinitialspace=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        message = _("Not a readable CSV file (record %(record)s): %(error)s.")
        raise CsvError(message % {"record": reader.line_num, "error": exc}) from None
    if not records or not any(cell.strip() for cell in records[0]):
        message = _("The file is empty: it needs a header row naming its columns (%(columns)s).")
        raise CsvError(message % {"columns": ", ".join(COLUMNS)})
    columns: list[Column] = []
    unknown: list[str] = []
    for cell in records[0]:
        label = cell.strip()
        canonical = ALIASES.get(brazil.normalize_name(label)) if label else None
        if label and canonical is None:
            unknown.append(label)
        columns.append((canonical, label))
    if unknown:
        message = ngettext(  # one English wording; the plural form lets other languages agree with the count
            "Unknown column(s): %(unknown)s. Expected: %(columns)s (header row first).",
            "Unknown column(s): %(unknown)s. Expected: %(columns)s (header row first).",
            len(unknown),
        )
        raise CsvError(message % {"unknown": ", ".join(unknown), "columns": ", ".join(COLUMNS)})
    names = [canonical for canonical, _label in columns if canonical]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        twice = ngettext("Column(s) given twice: %(columns)s.", "Column(s) given twice: %(columns)s.", len(repeated))
        raise CsvError(twice % {"columns": ", ".join(repeated)})
    if "name" not in names:
        raise CsvError(
            _("No 'name' column. Expected: %(columns)s (header row first).") % {"columns": ", ".join(COLUMNS)}
        )
    # A spreadsheet numbers records, not physical lines (a quoted cell may hold line breaks).
    rows = [(line, cells) for line, cells in enumerate(records[1:], 2) if any(cell.strip() for cell in cells)]
    return columns, rows


# --- importing -----------------------------------------------------------------------------------


def import_people(
    data: bytes | str,
    dry_run: bool = False,
    progress: Callable[[int, int], object] | None = None,
    every: int = 100,
) -> Report:
    """Import the CSV `data` (bytes or text). Returns a Report. `progress(done, total)` is called every
    `every` rows and at the end. Raises CsvError when the file cannot be read at all."""
    columns, rows = parse(data)
    run = Import(columns, Report(rows=len(rows)), dry_run)
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        run.look_up(batch)
        for done, (line, cells) in enumerate(batch, start + 1):
            run.check_row(line, cells)
            if progress and done % every == 0 and done < len(rows):
                progress(done, len(rows))
        run.write()
    if progress and rows:
        progress(len(rows), len(rows))
    if not dry_run:
        record_import(run.report)  # when a person runs it (the command); a transfer records as its user
    return run.report


def record_import(report: "Report") -> None:
    """One audit entry for an import (rows are written in bulk, past the per-object signals): its counts."""
    if report.created or report.updated:
        audit.record(
            None,
            "import",
            {"created": [None, report.created], "updated": [None, report.updated]},
            object_type=MonitoredPerson._meta.label_lower,
        )


class Import:
    """One import: the rows of a batch are checked one by one (validate_person: PersonForm's validation),
    then the batch is written together."""

    def __init__(self, columns: list[Column], report: Report, dry_run: bool) -> None:
        self.columns, self.report, self.dry_run = columns, report, dry_run
        self.present = {canonical: label for canonical, label in columns if canonical}
        self.seen: dict[tuple[str, str], int] = {}  # identity → the line that first gave it
        # normalized name → the people monitored under it (this batch's names)
        self.known: dict[str, list[MonitoredPerson]] = {}
        # (line, person) to create; (line, person, its recipients before)
        self.new: list[tuple[int, MonitoredPerson]] = []
        self.changed: list[tuple[int, MonitoredPerson, list[str]]] = []
        self.created_since_analyze = 0

    def look_up(self, batch: list[Row]) -> None:
        """Everyone monitored under the batch's names, in one query."""
        position = next(i for i, (canonical, _label) in enumerate(self.columns) if canonical == "name")
        names = {brazil.normalize_name(cells[position]) for _line, cells in batch if position < len(cells)}
        self.known = {}
        for person in MonitoredPerson.objects.filter(normalized_name__in=names - {""}).select_related("job"):
            self.known.setdefault(person.normalized_name, []).append(person)

    def twin(self, normalized_name: str, document: str, exclude_pk: int | None) -> MonitoredPerson | None:
        for person in self.known.get(normalized_name, []):
            if person.document == document and person.pk != exclude_pk:
                return person
        return None

    def problem(self, line: int, column: str, message: str, name: str = "") -> None:
        self.report.problems.append(Problem(line, column, message, name))

    def check_row(self, line: int, cells: list[str]) -> None:
        values: dict[str, str]
        present, values, stray = self.present, {}, False
        for position, cell in enumerate(cells):
            canonical = self.columns[position][0] if position < len(self.columns) else None
            if canonical:
                values[canonical] = _undefused(cell.strip())
            elif cell.strip():
                stray = True
        who = values.get("name", "")[:NAME_SHOWN]
        if stray:  # a value nobody named: refusing beats guessing which column it belongs to
            return self.problem(line, WHOLE_ROW, _("A value in a column without a header."), who)
        values = {name: values.get(name, "") for name in present}  # a short row: its missing cells are empty

        identity = (brazil.normalize_name(values["name"]), document_key(values.get("cpf_cnpj", "")))
        if identity[0] and identity in self.seen:
            message = _("Duplicates line %(line)s.") % {"line": self.seen[identity]}
            return self.problem(line, present["name"], message, who)
        self.seen.setdefault(identity, line)

        existing, ambiguity = self.find_existing(identity)
        if ambiguity:
            return self.problem(line, present["name"], ambiguity, who)
        if values.get("active", "") and brazil.normalize_name(values["active"]) not in YES | NO:
            return self.problem(line, present["active"], _("Write yes or no (sim/não)."), who)
        data, before = form_data(values, existing)
        person = existing or MonitoredPerson()
        cleaned, errors = people.validate_person(data, person, twin=self.twin)
        if errors:
            self.report.problems.extend(form_problems(line, errors, present, who))
            return None
        if before is not None and {name: cleaned[name] for name in FIELDS} == before:
            self.report.unchanged += 1
            return None
        for name in FIELDS:
            setattr(person, name, cleaned[name])
        if before is None:
            self.new.append((line, person))
        else:
            self.changed.append((line, person, before["recipients"]))
        return None

    def find_existing(self, identity: tuple[str, str]) -> tuple[MonitoredPerson | None, str | None]:
        """The person a row names, or (None, a reason) when it is ambiguous."""
        name, document = identity
        found = self.known.get(name, []) if name else []
        if "cpf_cnpj" in self.present:
            return next((person for person in found if person.document == document), None), None
        # Without a CPF/CNPJ column the name alone identifies the person, when only one has it.
        if len(found) > 1:
            return None, _("Several monitored people have this name: add a cpf_cnpj column to tell them apart.")
        return (found[0] if found else None), None

    def write(self) -> None:
        new, changed, self.new, self.changed = self.new, self.changed, [], []
        if not self.dry_run and (new or changed):
            try:
                with transaction.atomic():
                    create_people([person for _line, person in new])
                    update_people([(person, before) for _line, person, before in changed])
            except IntegrityError:  # someone saved one of these people meanwhile: find out which row, alone
                new, changed = self.write_one_by_one(new, changed)
        self.report.created += len(new)
        self.report.updated += len(changed)
        self.created_since_analyze += 0 if self.dry_run else len(new)
        if self.created_since_analyze >= ANALYZE_EVERY and connection.vendor == "postgresql":
            tables = [model._meta.db_table for model in (MonitoredPerson, Job, Run)]
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {', '.join(connection.ops.quote_name(table) for table in tables)}")
            self.created_since_analyze = 0

    def write_one_by_one(
        self, new: list[tuple[int, MonitoredPerson]], changed: list[tuple[int, MonitoredPerson, list[str]]]
    ) -> tuple[list[tuple[int, MonitoredPerson]], list[tuple[int, MonitoredPerson, list[str]]]]:
        written_new: list[tuple[int, MonitoredPerson]] = []
        written_changed: list[tuple[int, MonitoredPerson, list[str]]] = []
        for line, person, before in [(line, person, None) for line, person in new] + changed:
            try:
                with transaction.atomic():
                    if before is None:
                        person.pk = person.job = None  # the batch's rolled-back attempt set them
                        person._state.adding = True
                        create_people([person])
                        written_new.append((line, person))
                    else:
                        update_people([(person, before)])
                        written_changed.append((line, person, before))
            except IntegrityError:
                self.problem(line, self.present["name"], _("Already monitored (saved meanwhile)."), person.name)
        return written_new, written_changed


def document_key(value: str) -> str:
    """A row's CPF/CNPJ as stored, to tell people apart before the row is validated (an invalid one is kept
    as typed: the row will be refused for it)."""
    try:
        return brazil.document_characters(value)
    except ValidationError:
        return value


def create_people(new: list[MonitoredPerson]) -> None:
    """Save new people with their jobs and subscriptions, and queue the active ones' first checks (on the high
    queue, ahead of the routine cycle), in bulk: what save_person does for one."""
    if not new:
        return
    now = timezone.now()
    for person in new:
        person.normalized_name = brazil.normalize_name(person.name)  # save() sets it; bulk_create does not
        person.next_check_at = now + timedelta(minutes=person.check_interval_minutes)
    insert(MonitoredPerson, new)
    jobs = [services.refresh_schedule(people.job_for(person), now) for person in new]
    insert(Job, jobs)
    for person, job in zip(new, jobs, strict=True):
        person.job = job
    set_jobs(new)
    people.sync_many_subscriptions([(person, []) for person in new])
    # (each person got its job just above)
    services.run_many([cast(Job, person.job) for person in new if person.active], Run.Trigger.MANUAL, Job.Queue.HIGH)


def insert(model: type[Model], objs: Sequence[Model]) -> None:
    """bulk_create without its per-call SQL compilation (rawsql): most of an import's CPU otherwise."""
    statement = rawsql.statement(f"import-insert-{model._meta.label}", lambda c: rawsql.InsertArrays(c, model, BATCH))
    with connection.cursor() as cursor:
        statement.insert(cursor, objs)


def set_jobs(new: list[MonitoredPerson]) -> None:
    """Each new person's job_id, in one statement (bulk_update's CASE costs ~10x the CPU): PostgreSQL joins
    the pairs as arrays; SQLite runs one small UPDATE per person, in C."""
    table = connection.ops.quote_name(MonitoredPerson._meta.db_table)
    pairs = [(person.job_id, person.pk) for person in new]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            jobs, ids = zip(*pairs, strict=True)
            cursor.execute(
                f"UPDATE {table} SET job_id = pairs.job FROM unnest(%s::bigint[], %s::bigint[]) AS pairs (job, id) "
                f"WHERE {table}.id = pairs.id",
                [list(jobs), list(ids)],
            )
        else:
            cursor.executemany(f"UPDATE {table} SET job_id = %s WHERE id = %s", pairs)


def update_people(changed: Sequence[tuple[MonitoredPerson, list[str]]]) -> None:
    """Write the changed people (every field the form has, as PersonForm.save does), in bulk; a job whose
    person was renamed, (de)activated or has none follows (sync_job), and the subscriptions their recipients."""
    if not changed:
        return
    now = timezone.now()
    for person, _before in changed:
        person.normalized_name = brazil.normalize_name(person.name)
        person.updated_at = now
    MonitoredPerson.objects.bulk_update([person for person, _ in changed], [*FIELDS, "normalized_name", "updated_at"])
    for person, _before in changed:
        job = person.job
        if job is None or (job.name, job.enabled) != (people.job_for(person).name, person.active):
            people.sync_job(person)
    people.sync_many_subscriptions(changed)


def form_data(
    values: Mapping[str, str], existing: MonitoredPerson | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The data PersonForm would be bound to and the person's values before it (None for a new person).
    Fields the file has no column for keep the person's values (or the defaults for a new one)."""
    if existing is None:
        # Concrete fields (get_field's type covers relations too).
        base = {name: cast("Field[Any, Any]", MonitoredPerson._meta.get_field(name)).get_default() for name in FIELDS}
        before = None
    else:
        base = {name: getattr(existing, name) for name in FIELDS}
        before = dict(base)
    value: str | bool  # a cell; the active column's becomes a bool
    for column, value in values.items():
        if column == "recipients":
            value = value.replace("|", ",")  # PersonForm splits addresses on , ; and line breaks
        if column == "active":  # empty: active, as a new person is
            value = brazil.normalize_name(value) not in NO
        base[FORM_FIELD.get(column, column)] = value
    return base, before


def form_problems(
    line: int, errors: Mapping[str, list[str]], present: Mapping[str, str], who: str = ""
) -> list[Problem]:
    columns = {FORM_FIELD.get(column, column): column for column in COLUMNS}
    found: list[Problem] = []
    for name, messages in errors.items():
        column = columns.get(name)
        # The file's own header when it has the column; the canonical name when it lacks it (the OAB's UF
        # is required by an oab column alone); WHOLE_ROW for errors of no single field.
        label = WHOLE_ROW if column is None else present.get(column, column)
        found.extend(Problem(line, label, message, who) for message in messages)
    return found


# --- exporting -----------------------------------------------------------------------------------


def export_row(person: MonitoredPerson) -> list[str]:
    return [
        person.name,
        brazil.format_document(person.document),
        person.oab_number,
        person.oab_uf,
        ", ".join(person.tribunal_list),
        person.monitor_until.isoformat() if person.monitor_until else "",
        ", ".join(person.recipients or []),
        person.notes,
        "yes" if person.active else "no",
    ]


def _defused(cell: str) -> str:
    return f"'{cell}" if cell.startswith(FORMULA) else cell


def _undefused(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA) else cell


def export_people(people: Iterable[MonitoredPerson] | None = None, excel: bool = False) -> bytes:
    """The people (default: all, by name) as CSV bytes: UTF-8 with a BOM (so Excel shows accents), or with
    `excel` Excel-Brazil's dialect (';' and Windows-1252). In that dialect invisible characters (a zero-width
    space pasted with a name, direction marks) are left out: Windows-1252 has none of them and a spreadsheet
    shows none. Visible letters it lacks (Nguyễn) raise a CsvError naming every such person: written as
    something else, the names would change, and a re-import would rename those people."""
    people = MonitoredPerson.objects.order_by("name", "pk") if people is None else people
    text = io.StringIO()
    writer = csv.writer(text, delimiter=EXCEL_DIALECT["delimiter"] if excel else ",", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    unwritable: list[str] = []
    for person in people:
        cells = export_row(person)
        if excel:
            cells = [brazil.without_invisible(cell) for cell in cells]  # first: "\u200b=1" is a formula after
            if letters := _unwritable("".join(cells)):
                unwritable.append(f"{person.name} (#{person.pk}: {letters})")
        writer.writerow([_defused(cell) for cell in cells])
    if not excel:
        return text.getvalue().encode("utf-8-sig")
    if unwritable:
        named = "; ".join(unwritable[:10])
        if len(unwritable) > 10:
            named += " " + _("and %(count)s more") % {"count": len(unwritable) - 10}
        message = _("Windows-1252 cannot write the names or notes of %(people)s: export without the Excel dialect.")
        raise CsvError(message % {"people": named})
    return text.getvalue().encode(EXCEL_DIALECT["encoding"])


def _unwritable(text: str) -> str:
    """The characters of `text` Windows-1252 lacks, each once, in order ('' when it has them all)."""
    try:
        text.encode(EXCEL_DIALECT["encoding"])
    except UnicodeEncodeError:
        missing = [char for char in text if not _in_excel_encoding(char)]
        return " ".join(brazil.shown(char) for char in dict.fromkeys(missing))
    return ""


def _in_excel_encoding(char: str) -> bool:
    try:
        char.encode(EXCEL_DIALECT["encoding"])
    except UnicodeEncodeError:
        return False
    return True
