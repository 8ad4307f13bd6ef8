"""Shared by the commands of named models (jobs, sources): finding one by id or name, JSON export, and
all-or-nothing import.

Export writes each object's form fields, datetimes as ISO 8601 (full precision, so a round trip is exact).
Import validates every entry with the model's form (the admin's validation) before anything is written,
and the writes share one transaction. Entries are matched by name, so importing twice is a no-op. An entry
describes the whole object: fields it leaves out take the model's defaults, also on update.
"""

import json
import sys
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from scheduler.shared import bounds


def sorted_keys(value):
    # The stored key order depends on the database (PostgreSQL's jsonb reorders): sort it for stable diffs.
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def export_values(obj, fields):
    """The object's form fields as JSON values."""
    values = {field: sorted_keys(getattr(obj, field)) for field in fields}
    return {field: value.isoformat() if isinstance(value, datetime) else value for field, value in values.items()}


def write_export(command, rows, output, noun):
    """Print the rows as a JSON list, or write them to the file `output` and say so."""
    text = json.dumps(rows, indent=2, ensure_ascii=False)
    if not output:
        command.stdout.write(text)
        return
    with open(output, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    command.stdout.write(f"exported {len(rows)} {noun}(s) to {output}")


def read_entries(path, stdin, noun, exporter):
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


def entry_errors(entry, form, fields):
    if not isinstance(entry, dict):
        return ["expected a JSON object"]
    unknown = sorted(set(entry) - set(fields))
    errors = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    return errors + [
        f"{field}: {message}" if field != "__all__" else message
        for field, messages in form.errors.items()
        for message in messages
    ]


def duplicate_errors(entries, unique):
    """Entries that repeat a unique key (e.g. the name) of an earlier entry in the same file."""
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


def describe(number, entry):
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"entry {number} (name {name!r})" if name else f"entry {number}"


class ImportCommand(BaseCommand):
    """`import_<things> FILE|- [--dry-run]`. Subclasses set the model, its form and fields, and the nouns."""

    model = None
    form_class = None
    fields: list[str] = []
    unique = [("name",)]  # keys that must not repeat within one file (the database would refuse at save time)
    noun = ""  # "job"
    exporter = ""  # the command that writes these files
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON file, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Validate only; change nothing.")

    def handle(self, *args, **options):
        entries = read_entries(options["file"], options.get("stdin") or sys.stdin, self.noun, self.exporter)
        with transaction.atomic():
            forms = self.validate(entries)
            counts = {"created": 0, "updated": 0, "unchanged": 0}
            for form, before in forms:
                outcome = self.outcome(form, before)
                counts[outcome] += 1
                if outcome != "unchanged" and not options["dry_run"]:
                    form.save()
        summary = f"created {counts['created']}, updated {counts['updated']}, unchanged {counts['unchanged']}"
        self.stdout.write(f"dry run (nothing saved): would have {summary}" if options["dry_run"] else summary)

    def defaults(self):
        return {field: self.model._meta.get_field(field).get_default() for field in self.fields}

    def build_form(self, entry, existing):
        """A bound form for the entry, and the object's values before it (None for a new object)."""
        name = entry.get("name")
        instance = existing.get(name) if isinstance(name, str) else None
        before = {field: getattr(instance, field) for field in self.fields} if instance else None
        # JSON values go in as they are: the form fields accept them (booleans, numbers, objects, ISO dates).
        return self.form_class(data={**self.defaults(), **entry}, instance=instance), before

    def validate(self, entries):
        names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
        existing = self.model.objects.in_bulk([name for name in names if isinstance(name, str)], field_name="name")
        errors = duplicate_errors([entry if isinstance(entry, dict) else {} for entry in entries], self.unique)
        forms = []
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

    def outcome(self, form, before):
        if before is None:
            return "created"
        # Compared on the cleaned values: form.has_changed() would flag any datetime with microseconds.
        after = {field: getattr(form.instance, field) for field in self.fields}
        return "unchanged" if after == before else "updated"


def find_by_id_or_name(model, ref, noun):
    """One object by id (when `ref` is a number) or by name, or a CommandError naming what was looked for."""
    found = model.objects.filter(pk=int(ref)).first() if str(ref).isdigit() else None
    found = found or model.objects.filter(name=ref).first()
    if found is None:
        raise CommandError(f"No {noun} with id or name '{ref}'")
    return found
