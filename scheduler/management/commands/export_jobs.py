"""`python manage.py export_jobs [--output FILE]`: every job as JSON, in the shape import_jobs reads."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scheduler.forms import FIELDS
from scheduler.importing import export_values, write_export
from scheduler.models import Job


class Command(BaseCommand):
    help = "Export all jobs as a JSON list (ordered by name), to stdout or --output FILE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = [export_values(job, FIELDS) for job in Job.objects.order_by("name")]
        write_export(self, jobs, options["output"], "job")
