"""`python manage.py import_jobs FILE`: create or update jobs from JSON (as written by export_jobs).

All or nothing: every entry is validated with JobForm (the admin's validation) before anything is
written, and the writes share one transaction. Jobs are matched by name, so importing twice is a no-op.
An entry describes the whole job: fields it leaves out take the model's defaults, also on update.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from scheduler.forms import FIELDS, JobForm
from scheduler.models import Job

# Keys that must not repeat within one file (the database would refuse the second at save time).
UNIQUE = [("name",), ("external_service", "external_key")]


def defaults():
    return {field: Job._meta.get_field(field).get_default() for field in FIELDS}


def read_entries(path, stdin):
    try:
        if path == "-":
            text = stdin.read()
        else:
            with open(path, encoding="utf-8") as file:
                text = file.read()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}")
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{'Standard input' if path == '-' else path} is not valid JSON: {exc}")
    if not isinstance(entries, list):
        raise CommandError(f"{path} must hold a JSON list of jobs (as written by export_jobs).")
    return entries


def build_form(entry, existing):
    """A bound JobForm for the entry, and the job's values before it (None for a new job)."""
    name = entry.get("name")
    instance = existing.get(name) if isinstance(name, str) else None
    before = {field: getattr(instance, field) for field in FIELDS} if instance else None
    # JSON values go in as they are: JobForm's fields accept them (booleans, numbers, objects, ISO dates).
    return JobForm(data={**defaults(), **entry}, instance=instance), before


def entry_errors(entry, form):
    if not isinstance(entry, dict):
        return ["expected a JSON object"]
    unknown = sorted(set(entry) - set(FIELDS))
    errors = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    return errors + [
        f"{field}: {message}" if field != "__all__" else message
        for field, messages in form.errors.items()
        for message in messages
    ]


def duplicate_errors(entries):
    """Entries that repeat a name (or external id) of an earlier entry in the same file."""
    errors, seen = {}, {}
    for number, entry in enumerate(entries, 1):
        for key in UNIQUE:
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


class Command(BaseCommand):
    help = "Create or update jobs (matched by name) from a JSON file written by export_jobs; '-' reads stdin."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON file, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Validate only; change nothing.")

    def handle(self, *args, **options):
        entries = read_entries(options["file"], options.get("stdin") or sys.stdin)
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

    def validate(self, entries):
        names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
        existing = Job.objects.in_bulk([name for name in names if isinstance(name, str)], field_name="name")
        errors = duplicate_errors([entry if isinstance(entry, dict) else {} for entry in entries])
        forms = []
        for number, entry in enumerate(entries, 1):
            form, before = build_form(entry, existing) if isinstance(entry, dict) else (None, None)
            problems = entry_errors(entry, form) + errors.get(number, [])
            for problem in problems:
                self.stderr.write(f"{describe(number, entry)}: {problem}")
            forms.append((form, before))
            if problems:
                errors.setdefault(number, problems)
        if errors:
            raise CommandError(f"{len(errors)} of {len(entries)} entries are invalid; nothing was imported.")
        return forms

    @staticmethod
    def outcome(form, before):
        if before is None:
            return "created"
        # Compared on the cleaned values: form.has_changed() would flag any datetime with microseconds.
        after = {field: getattr(form.instance, field) for field in FIELDS}
        return "unchanged" if after == before else "updated"
