"""`python manage.py export_jobs [--output FILE]`: every job as JSON, in the shape import_jobs reads."""

import json
from datetime import datetime

from django.core.management.base import BaseCommand

from scheduler.forms import FIELDS
from scheduler.models import Job


def export_job(job):
    """The job's JobForm fields; datetimes as ISO 8601 (full precision, so a round trip is exact)."""
    values = {field: getattr(job, field) for field in FIELDS}
    values["params"] = _sorted_keys(values["params"])
    return {field: value.isoformat() if isinstance(value, datetime) else value for field, value in values.items()}


def _sorted_keys(value):
    # The stored key order depends on the database (PostgreSQL's jsonb reorders): sort it for stable diffs.
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


class Command(BaseCommand):
    help = "Export all jobs as a JSON list (ordered by name), to stdout or --output FILE."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")

    def handle(self, *args, **options):
        jobs = [export_job(job) for job in Job.objects.order_by("name")]
        text = json.dumps(jobs, indent=2, ensure_ascii=False)
        if not options["output"]:
            self.stdout.write(text)
            return
        with open(options["output"], "w", encoding="utf-8") as file:
            file.write(text + "\n")
        self.stdout.write(f"exported {len(jobs)} job(s) to {options['output']}")
