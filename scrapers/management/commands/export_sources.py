"""`python manage.py export_sources [--output FILE]`: every source as JSON, in the shape import_sources reads.

Header values and login fields are secrets: written as "********", which import_sources reads back as "keep the
stored value" (for a source of that name already there; a new source needs the values typed in)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scheduler.importing import export_values, write_export
from scheduler.shared.bounds import SECRET_MASK
from scrapers.models import Source
from scrapers.sources.services import FIELDS


class Command(BaseCommand):
    help = "Export all sources (their SourceForm fields) as a JSON list ordered by name, to stdout or --output FILE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        sources = [_masked(export_values(source, FIELDS)) for source in Source.objects.order_by("name")]
        write_export(self, sources, options["output"], "source")


def _masked(values: dict[str, object]) -> dict[str, object]:
    masked = dict(values)
    for name in ("headers", "login_fields"):
        found = values.get(name)
        masked[name] = {key: SECRET_MASK for key in found} if isinstance(found, dict) else {}
    return masked
