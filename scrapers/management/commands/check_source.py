"""`python manage.py check_source <id|name> [--dry-run] [--queue]`: check a source now and show what it
extracted.

Like "check now" on the dashboard and in the admin, a check is a recorded manual run of the source's job
(scheduler.services.run_now): here it runs in the foreground (as `run_job` does) and the command reports
it; `--queue` leaves it to the workers. `--dry-run` fetches and parses in this process and saves nothing,
not even a run.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from scheduler import services
from scheduler.errors import JobError
from scheduler.execution import execute_run
from scheduler.importing import find_by_id_or_name
from scheduler.models import Run
from scrapers.models import Item, Source
from scrapers.sources import checks
from scrapers.sources.kinds.base import ParsedItem
from scrapers.sources.services import job_of

COLUMNS = ["KEY", "TITLE", "URL", "PUBLISHED"]
WIDTH = 60  # longest cell shown; the rest is cut with "…"


def cut(text: object) -> str:
    text = " ".join(str(text).split())  # one line per item
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def published(item: Item | ParsedItem) -> str:
    moment = item.published_at
    if moment is None:
        return "-"
    return f"{timezone.localtime(moment) if timezone.is_aware(moment) else moment:%Y-%m-%d %H:%M}"


def table(rows: Iterable[Sequence[object]]) -> str:
    cells = [COLUMNS, *([cut(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells)
    return "\n".join(line.rstrip() for line in lines)


class Command(BaseCommand):
    help = (
        "Check a source now as a recorded manual run of its job, in the foreground, and print the items it "
        "found. --queue leaves the run to the workers. --dry-run fetches and parses here (even outside the "
        "active window) and saves nothing: no run, no items, no health, no conditional-request state."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="The source's id or name.")
        parser.add_argument("--dry-run", action="store_true", help="Fetch and parse only; save nothing.")
        parser.add_argument("--queue", action="store_true", help="Queue the run for the workers and return.")

    def handle(self, *args: Any, **options: Any) -> None:
        source = find_by_id_or_name(Source, options["source"], "source")
        self.stdout.write(f"Checking source {source.pk} '{source.name}' ({source.kind}): {source.url}")
        if options["dry_run"]:
            return self.dry_run(source)
        run = services.run_now(job_of(source), trigger=Run.Trigger.MANUAL, enqueue=options["queue"])
        if options["queue"]:
            self.stdout.write(f"Queued as run {run.id}; the workers will pick it up.")
            return
        self.stdout.write(f"Run {run.id} (manual)")
        if execute_run(run.id) == "not claimed":  # e.g. an operator cancelled it meanwhile
            raise CommandError(f"Run {run.id} could not be started; see it in the admin.")
        run.refresh_from_db()
        if run.status != Run.Status.SUCCEEDED:
            raise CommandError(f"Check of source '{source.name}' failed: {run.error or run.get_status_display()}")
        self.report(source, run)

    def report(self, source: Source, run: Run) -> None:
        result = run.result or {}
        if result.get("status") == "inactive":
            self.stdout.write("Outside the source's active window: nothing fetched.")
            return
        if result.get("status") == "unchanged":
            self.stdout.write(f"Not modified since the last check (HTTP {result.get('http_status')}).")
            return
        # What this check saw: every item it stored or touched (their last_seen is the check's time).
        seen = Item.objects.filter(source=source, last_seen__gte=run.started_at).order_by("pk")
        self.stdout.write(table([item.key, item.title, item.url, published(item)] for item in seen))
        found = f"{result.get('found')} item(s) found (HTTP {result.get('http_status')}, {result.get('elapsed_ms')} ms)"
        baseline = " (first check: the baseline, not announced)" if result.get("baseline") else ""
        self.stdout.write(f"{found}: {result.get('new')} new, {result.get('updated')} updated{baseline}")

    def dry_run(self, source: Source) -> None:
        try:
            outcome = checks.check_source(source, dry_run=True, respect_window=False)
        except JobError as exc:
            raise CommandError(f"Check of source '{source.name}' failed: {exc}")
        if outcome.status == "unchanged":
            self.stdout.write(f"Not modified since the last check (HTTP {outcome.http_status}).")
            return
        self.stdout.write(table([item.key, item.title, item.url, published(item)] for item in outcome.items))
        found = f"{len(outcome.items)} item(s) found (HTTP {outcome.http_status}, {outcome.elapsed_ms} ms)"
        self.stdout.write(f"{found}; dry run: nothing saved")
