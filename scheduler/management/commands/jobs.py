"""`python manage.py jobs`: list the jobs, their state and when they run next."""

import json
from datetime import tzinfo
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler import schedules
from scheduler.models import Job

COLUMNS = [("id", "ID"), ("name", "NAME"), ("kind", "KIND"), ("schedule", "SCHEDULE"), ("state", "STATE")]
COLUMNS += [("next_run", "NEXT RUN"), ("last_status", "LAST STATUS")]


def state(job: Job) -> str:
    if job.completed_at:
        return "completed"
    return "enabled" if job.enabled else "paused"


class Command(BaseCommand):
    help = "List jobs: schedule, state, next run (local time) and the last run's status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tz", default=settings.TIME_ZONE, help="Show times in this IANA zone.")
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            zone = schedules.get_zone(options["tz"])
        except schedules.ScheduleError as exc:
            raise CommandError(str(exc))
        rows = [self.row(job, zone) for job in Job.objects.with_last_status().order_by("name")]
        if options["json"]:
            for row in rows:
                row["next_run"] = row["next_run"].isoformat() if row["next_run"] else None
            self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))
            return
        for row in rows:
            row["next_run"] = f"{row['next_run']:%Y-%m-%d %H:%M:%S}" if row["next_run"] else "-"
            row["last_status"] = row["last_status"] or "-"
        self.stdout.write(self.table(rows))
        self.stdout.write(f"{len(rows)} job(s); times in {options['tz']}")

    def row(self, job: Job, zone: tzinfo) -> dict[str, Any]:
        return {
            "id": job.id,
            "name": job.name,
            "kind": job.kind,
            "schedule": job.schedule_display,
            "state": state(job),
            "next_run": job.next_run_at.astimezone(zone) if job.next_run_at else None,
            # annotated by Job.objects.with_last_status(), which the stubs cannot see through its `-> Self`
            "last_status": job.last_status,  # type: ignore[attr-defined]
        }

    def table(self, rows: list[dict[str, Any]]) -> str:
        cells = [[label for _, label in COLUMNS]] + [[str(row[key]) for key, _ in COLUMNS] for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
        lines = ("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells)
        return "\n".join(line.rstrip() for line in lines)
