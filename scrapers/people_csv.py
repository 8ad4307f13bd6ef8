"""Monitored people as CSV: the import a law office feeds its spreadsheet to, and the export that writes one.

Every row goes through PersonForm (the admin's validation). A person is identified by normalized name +
CPF/CNPJ digits: a row naming someone already monitored updates them (only the columns the file has; the
rest of the person is kept), any other row creates one, whose first check is queued. Rows are saved one by
one, each in its own transaction, so a bad row is reported and skipped while the good ones are imported.
Files come from Excel as often as from scripts: UTF-8 with or without BOM, or Excel-Brazil's Windows-1252
separated by semicolons; the encoding and the separator are detected.
"""

import csv
import io
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from scrapers import brazil
from scrapers.models import MonitoredPerson
from scrapers.people import FIELDS, PersonForm

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


class CsvError(Exception):
    """The file itself cannot be used (encoding, header); no row was looked at."""


@dataclass
class Problem:
    line: int  # as a spreadsheet numbers it: the header is line 1
    column: str  # the file's own column name, or WHOLE_ROW
    message: str

    def __str__(self):
        where = "whole row" if self.column == WHOLE_ROW else f"column '{self.column}'"
        return f"line {self.line}, {where}: {self.message}"


@dataclass
class Report:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list = field(default_factory=list)

    @property
    def rejected(self):
        return len({problem.line for problem in self.problems})

    def summary(self):
        return (
            f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected} (of {self.rows} row(s))"
        )


# --- reading -------------------------------------------------------------------------------------


def decode(data):
    """Text from bytes: BOM → UTF-8; valid UTF-8 → UTF-8; anything else is an Excel file in Windows-1252."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:  # guessing would store mangled names
            line = data[: exc.start + 3].count(b"\n") + 1
            message = _("The file starts as UTF-8 (a BOM) but its line %(line)s is not UTF-8: save it again.") % {
                "line": line
            }
            raise CsvError(message) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; Latin-1 decodes those rather than failing the whole file.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def delimiter(text):
    header = (text.splitlines() or [""])[0]  # splitlines: old Mac Excel ends lines with a lone \r
    counts = {mark: header.count(mark) for mark in ";,\t"}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","  # a single-column file


def parse(data):
    """(columns, rows): `columns` holds the canonical column name (or None) per position, with the file's
    own names; `rows` are (line, cells) for the non-blank data rows. Raises CsvError."""
    if isinstance(data, bytes) and data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CsvError(_("This is a spreadsheet workbook (.xlsx/.xls), not CSV: save it as CSV first."))
    text = decode(data)
    # skipinitialspace: hand-written files put a space after the separator, before a quoted cell too.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text), skipinitialspace=True)
    try:
        records = list(reader)
    except csv.Error as exc:
        message = _("Not a readable CSV file (record %(record)s): %(error)s.")
        raise CsvError(message % {"record": reader.line_num, "error": exc}) from None
    if not records or not any(cell.strip() for cell in records[0]):
        message = _("The file is empty: it needs a header row naming its columns (%(columns)s).")
        raise CsvError(message % {"columns": ", ".join(COLUMNS)})
    columns, unknown = [], []
    for cell in records[0]:
        label = cell.strip()
        canonical = ALIASES.get(brazil.normalize_name(label)) if label else None
        if label and canonical is None:
            unknown.append(label)
        columns.append((canonical, label))
    if unknown:
        message = _("Unknown column(s): %(unknown)s. Expected: %(columns)s (header row first).")
        raise CsvError(message % {"unknown": ", ".join(unknown), "columns": ", ".join(COLUMNS)})
    names = [canonical for canonical, _label in columns if canonical]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CsvError(_("Column(s) given twice: %(columns)s.") % {"columns": ", ".join(repeated)})
    if "name" not in names:
        raise CsvError(
            _("No 'name' column. Expected: %(columns)s (header row first).") % {"columns": ", ".join(COLUMNS)}
        )
    # A spreadsheet numbers records, not physical lines (a quoted cell may hold line breaks).
    rows = [(line, cells) for line, cells in enumerate(records[1:], 2) if any(cell.strip() for cell in cells)]
    return columns, rows


# --- importing -----------------------------------------------------------------------------------


def import_people(data, dry_run=False, progress=None, every=100):
    """Import the CSV `data` (bytes or text). Returns a Report. `progress(done, total)` is called every
    `every` rows and at the end. Raises CsvError when the file cannot be read at all."""
    columns, rows = parse(data)
    report = Report(rows=len(rows))
    present = {canonical: label for canonical, label in columns if canonical}
    seen = {}  # identity → the line that first gave it
    for done, (line, cells) in enumerate(rows, 1):
        import_row(line, cells, columns, present, seen, report, dry_run)
        if progress and (done % every == 0 or done == len(rows)):
            progress(done, len(rows))
    return report


def import_row(line, cells, columns, present, seen, report, dry_run):
    values, stray = {}, False
    for position, cell in enumerate(cells):
        canonical = columns[position][0] if position < len(columns) else None
        if canonical:
            values[canonical] = _undefused(cell.strip())
        elif cell.strip():
            stray = True
    if stray:  # a value nobody named: refusing beats guessing which column it belongs to
        report.problems.append(Problem(line, WHOLE_ROW, _("A value in a column without a header.")))
        return
    values = {name: values.get(name, "") for name in present}  # a short row: its missing cells are empty

    identity = (brazil.normalize_name(values["name"]), brazil.digits(values.get("cpf_cnpj", "")))
    if identity[0] and identity in seen:
        report.problems.append(
            Problem(line, present["name"], _("Duplicates line %(line)s.") % {"line": seen[identity]})
        )
        return
    seen.setdefault(identity, line)

    existing, ambiguity = find_existing(identity, "cpf_cnpj" in present)
    if ambiguity:
        report.problems.append(Problem(line, present["name"], ambiguity))
        return
    if values.get("active", "") and brazil.normalize_name(values["active"]) not in YES | NO:
        report.problems.append(Problem(line, present["active"], _("Write yes or no (sim/não).")))
        return
    form, before = build_form(values, existing)
    if not form.is_valid():
        report.problems.extend(form_problems(line, form, present))
        return
    if before is not None and {name: getattr(form.instance, name) for name in FIELDS} == before:
        report.unchanged += 1
        return
    if not dry_run:
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:  # someone saved the same person between the check and the write
            report.problems.append(Problem(line, present["name"], _("Already monitored (saved meanwhile).")))
            return
    if before is None:
        report.created += 1
    else:
        report.updated += 1


def find_existing(identity, has_document):
    """The person a row names, or (None, a reason) when it is ambiguous."""
    name, document = identity
    if not name:
        return None, None
    people = MonitoredPerson.objects.filter(normalized_name=name)
    if has_document:
        return people.filter(document=document).first(), None
    # Without a CPF/CNPJ column the name alone identifies the person, when only one has it.
    found = list(people[:2])
    if len(found) > 1:
        return None, _("Several monitored people have this name: add a cpf_cnpj column to tell them apart.")
    return (found[0] if found else None), None


def build_form(values, existing):
    """A bound PersonForm and the person's values before it (None for a new person). Fields the file has no
    column for keep the person's values (or the defaults for a new one)."""
    if existing is None:
        base = {name: MonitoredPerson._meta.get_field(name).get_default() for name in FIELDS}
        before = None
    else:
        base = {name: getattr(existing, name) for name in FIELDS}
        before = dict(base)
    for column, value in values.items():
        if column == "recipients":
            value = value.replace("|", ",")  # PersonForm splits addresses on , ; and line breaks
        if column == "active":  # empty: active, as a new person is
            value = brazil.normalize_name(value) not in NO
        base[FORM_FIELD.get(column, column)] = value
    return PersonForm(data=base, instance=existing), before


def form_problems(line, form, present):
    columns = {FORM_FIELD.get(column, column): column for column in COLUMNS}
    found = []
    for name, messages in form.errors.items():
        column = columns.get(name)
        # The file's own header when it has the column; the canonical name when it lacks it (the OAB's UF
        # is required by an oab column alone); WHOLE_ROW for errors of no single field.
        label = WHOLE_ROW if column is None else present.get(column, column)
        found.extend(Problem(line, label, message) for message in messages)
    return found


# --- exporting -----------------------------------------------------------------------------------


def export_rows(people):
    yield COLUMNS
    for person in people:
        yield [
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


def _defused(cell):
    return f"'{cell}" if cell.startswith(FORMULA) else cell


def _undefused(cell):
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA) else cell


def export_people(people=None, excel=False):
    """The people (default: all, by name) as CSV bytes: UTF-8 with a BOM (so Excel shows accents), or with
    `excel` Excel-Brazil's dialect (';' and Windows-1252). Raises CsvError for a name Windows-1252 lacks."""
    people = MonitoredPerson.objects.order_by("name", "pk") if people is None else people
    text = io.StringIO()
    writer = csv.writer(text, delimiter=EXCEL_DIALECT["delimiter"] if excel else ",", lineterminator="\r\n")
    for row in export_rows(people):
        writer.writerow([_defused(cell) for cell in row])
    if not excel:
        return text.getvalue().encode("utf-8-sig")
    try:
        return text.getvalue().encode(EXCEL_DIALECT["encoding"])
    except UnicodeEncodeError as exc:
        bad = text.getvalue()[exc.start : exc.end]
        message = _("%(text)s cannot be written in Windows-1252: export without the Excel dialect.")
        raise CsvError(message % {"text": repr(bad)}) from None
