"""Shared by the commands of named models (jobs, sources): finding one by id or name, JSON export, and
all-or-nothing import.

Export writes each object's form fields, datetimes as ISO 8601 (full precision, so a round trip is exact).
Import validates every entry with the model's form (the admin's validation) before anything is written,
and the writes share one transaction. Entries are matched by name, so importing twice is a no-op. An entry
describes the whole object: fields it leaves out take the model's defaults, also on update.
"""

import json
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Model
from django.forms import BaseForm, ModelForm

from scheduler.shared import bounds


def sorted_keys(value: object) -> object:
    # The stored key order depends on the database (PostgreSQL's jsonb reorders): sort it for stable diffs.
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def export_values(obj: Model, fields: Iterable[str]) -> dict[str, object]:
    """The object's form fields as JSON values."""
    values = {field: sorted_keys(getattr(obj, field)) for field in fields}
    return {field: value.isoformat() if isinstance(value, datetime) else value for field, value in values.items()}


def write_export(command: BaseCommand, rows: Sequence[Mapping[str, object]], output: str | None, noun: str) -> None:
    """Print the rows as a JSON list, or write them to the file `output` and say so."""
    text = json.dumps(rows, indent=2, ensure_ascii=False)
    if not output:
        command.stdout.write(text)
        return
    with open(output, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    command.stdout.write(f"exported {len(rows)} {noun}(s) to {output}")


def read_entries(path: str, stdin: TextIO, noun: str, exporter: str) -> list[object]:
    """The JSON list in the file `path` ('-': stdin)."""
    try:
        if path == "-":
            text = stdin.read()
        else:
            with open(path, encoding="utf-8") as file:
                text = file.read()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}")
    except UnicodeDecodeError as exc:  # JSON is UTF-8 (RFC 8259); a BOM is tolerated below
        raise CommandError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8 and import it again.")
    text = text.removeprefix("\ufeff")
    try:
        entries = bounds.load_json(text)
    except ValueError as exc:
        raise CommandError(f"{'Standard input' if path == '-' else path} is not valid JSON: {exc}")
    if not isinstance(entries, list):
        raise CommandError(f"{path} must hold a JSON list of {noun}s (as written by {exporter}).")
    return entries


def entry_errors(entry: object, form: BaseForm | None, fields: Collection[str]) -> list[str]:
    if not isinstance(entry, dict):
        return ["expected a JSON object"]
    assert form is not None  # an object's form (ImportCommand.validate)
    unknown = sorted(set(entry) - set(fields))
    errors = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    # (an ErrorList gives its messages as text; the stubs type the items it stores)
    return errors + [
        f"{field}: {message}" if field != "__all__" else message  # type: ignore[misc]
        for field, messages in form.errors.items()
        for message in messages
    ]


def duplicate_errors(
    entries: Sequence[Mapping[str, object]], unique: Iterable[tuple[str, ...]]
) -> dict[int, list[str]]:
    """Entries that repeat a unique key (e.g. the name) of an earlier entry in the same file."""
    errors: dict[int, list[str]]
    seen: dict[tuple[tuple[str, ...], tuple[object, ...]], int]
    errors, seen = {}, {}
    for number, entry in enumerate(entries, 1):
        for key in unique:
            value = tuple(entry.get(field) for field in key)
            if not all(isinstance(part, str) and part for part in value):
                continue
            label = "/".join(key)
            if (key, value) in seen:
                errors.setdefault(number, []).append(f"{label}: repeats entry {seen[key, value]}")
            seen.setdefault((key, value), number)
    return errors


def describe(number: int, entry: object) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"entry {number} (name {name!r})" if name else f"entry {number}"


class ImportCommand(BaseCommand):
    """`import_<things> FILE|- [--dry-run]`. Subclasses set the model, its form and fields, and the nouns."""

    model: type[Model] | None = None
    form_class: type[ModelForm] | None = None
    fields: list[str] = []
    # keys that must not repeat within one file (the database would refuse at save time)
    unique: list[tuple[str, ...]] = [("name",)]
    noun = ""  # "job"
    exporter = ""  # the command that writes these files
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON file, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Validate only; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        entries = read_entries(options["file"], options.get("stdin") or sys.stdin, self.noun, self.exporter)
        with transaction.atomic():
            forms = self.validate(entries)
            counts = {"created": 0, "updated": 0, "unchanged": 0}
            for form, before in forms:
                assert form is not None  # validate() raised if an entry was not an object
                outcome = self.outcome(form, before)
                counts[outcome] += 1
                if outcome != "unchanged" and not options["dry_run"]:
                    form.save()
        summary = f"created {counts['created']}, updated {counts['updated']}, unchanged {counts['unchanged']}"
        self.stdout.write(f"dry run (nothing saved): would have {summary}" if options["dry_run"] else summary)

    def defaults(self) -> dict[str, Any]:
        assert self.model is not None  # set by the subclass
        # (the plugin types get_field() only for a literal name: these are the form's model fields)
        return {field: self.model._meta.get_field(field).get_default() for field in self.fields}  # type: ignore[union-attr]

    def build_form(
        self, entry: Mapping[str, Any], existing: Mapping[Any, Model]
    ) -> tuple[ModelForm, dict[str, Any] | None]:
        """A bound form for the entry, and the object's values before it (None for a new object)."""
        name = entry.get("name")
        instance = existing.get(name) if isinstance(name, str) else None
        before = {field: getattr(instance, field) for field in self.fields} if instance else None
        # JSON values go in as they are: the form fields accept them (booleans, numbers, objects, ISO dates).
        assert self.form_class is not None  # set by the subclass
        return self.form_class(data={**self.defaults(), **entry}, instance=instance), before

    def validate(self, entries: list[object]) -> list[tuple[ModelForm | None, dict[str, Any] | None]]:
        assert self.model is not None  # set by the subclass
        names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
        # (the plugin gives a plain type[Model] no `objects`; every model imported here has it)
        existing = self.model.objects.in_bulk(  # type: ignore[attr-defined]
            [name for name in names if isinstance(name, str)], field_name="name"
        )
        errors = duplicate_errors([entry if isinstance(entry, dict) else {} for entry in entries], self.unique)
        forms: list[tuple[ModelForm | None, dict[str, Any] | None]] = []
        for number, entry in enumerate(entries, 1):
            form, before = self.build_form(entry, existing) if isinstance(entry, dict) else (None, None)
            problems = entry_errors(entry, form, self.fields) + errors.get(number, [])
            for problem in problems:
                self.stderr.write(f"{describe(number, entry)}: {problem}")
            forms.append((form, before))
            if problems:
                errors.setdefault(number, problems)
        if errors:
            raise CommandError(f"{len(errors)} of {len(entries)} entries are invalid; nothing was imported.")
        return forms

    def outcome(self, form: ModelForm, before: dict[str, Any] | None) -> str:
        if before is None:
            return "created"
        # Compared on the cleaned values: form.has_changed() would flag any datetime with microseconds.
        after = {field: getattr(form.instance, field) for field in self.fields}
        return "unchanged" if after == before else "updated"


def find_by_id_or_name[M: Model](model: type[M], ref: str, noun: str) -> M:
    """One object by id (when `ref` is a number) or by name, or a CommandError naming what was looked for."""
    # (the plugin gives a plain type[Model] no `objects`; every model looked up here has it)
    found = model.objects.filter(pk=int(ref)).first() if str(ref).isdigit() else None  # type: ignore[attr-defined]
    found = found or model.objects.filter(name=ref).first()  # type: ignore[attr-defined]
    if found is None:
        raise CommandError(f"No {noun} with id or name '{ref}'")
    return found
