"""`python manage.py check_source <id|name> [--dry-run]`: check a source now and show what it extracted."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduler.errors import JobError
from scheduler.importing import find_by_id_or_name
from scrapers import checks
from scrapers.models import Source

COLUMNS = ["KEY", "TITLE", "URL", "PUBLISHED"]
WIDTH = 60  # longest cell shown; the rest is cut with "…"


def cut(text):
    text = " ".join(str(text).split())  # one line per item
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def published(item):
    moment = item.published_at
    if moment is None:
        return "-"
    return f"{timezone.localtime(moment) if timezone.is_aware(moment) else moment:%Y-%m-%d %H:%M}"


def table(rows):
    cells = [COLUMNS, *([cut(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells)
    return "\n".join(line.rstrip() for line in lines)


class Command(BaseCommand):
    help = (
        "Check a source now (even outside its active window) and print the items it extracted. "
        "--dry-run saves nothing: no items, no health, no conditional-request state."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="The source's id or name.")
        parser.add_argument("--dry-run", action="store_true", help="Fetch and parse only; save nothing.")

    def handle(self, *args, **options):
        source = find_by_id_or_name(Source, options["source"], "source")
        dry_run = options["dry_run"]
        self.stdout.write(f"Checking source {source.pk} '{source.name}' ({source.kind}): {source.url}")
        try:
            outcome = checks.check_source(source, dry_run=dry_run, respect_window=False)
        except JobError as exc:
            raise CommandError(f"Check of source '{source.name}' failed: {exc}")
        if outcome.status == "unchanged":
            self.stdout.write(f"Not modified since the last check (HTTP {outcome.http_status}).")
            return
        self.stdout.write(table([item.key, item.title, item.url, published(item)] for item in outcome.items))
        found = f"{len(outcome.items)} item(s) found (HTTP {outcome.http_status}, {outcome.elapsed_ms} ms)"
        if dry_run:
            self.stdout.write(f"{found}; dry run: nothing saved")
        else:
            baseline = " (first check: the baseline, not announced)" if outcome.baseline else ""
            self.stdout.write(f"{found}: {len(outcome.new)} new, {len(outcome.updated)} updated{baseline}")
