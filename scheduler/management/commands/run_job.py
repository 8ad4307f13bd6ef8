"""`python manage.py run_job <id|name>`: run a job once, right here, and show the outcome."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from scheduler import services
from scheduler.execution import execute_run
from scheduler.importing import find_by_id_or_name
from scheduler.models import Job, Run


class Command(BaseCommand):
    help = "Run one attempt of a job in the foreground (a manual run) and print its outcome."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job", help="The job's id or name.")

    def handle(self, *args: Any, **options: Any) -> None:
        job = find_by_id_or_name(Job, options["job"], "job")
        run = services.run_now(job, trigger=Run.Trigger.MANUAL, enqueue=False)
        self.stdout.write(f"Run {run.id} of job {job.id} '{job.name}' ({job.kind})")
        if execute_run(run.id) == "not claimed":  # e.g. an operator cancelled it meanwhile
            raise CommandError(f"Run {run.id} could not be started; see it in the admin.")
        run.refresh_from_db()
        self.report(run)
        if run.status != Run.Status.SUCCEEDED:
            raise CommandError(f"Run {run.id} {run.get_status_display().lower()}: {run.error}")

    def report(self, run: Run) -> None:
        duration = f"{run.duration_ms / 1000:.3f} s" if run.duration_ms is not None else "-"
        self.stdout.write(f"Status:   {run.status}")
        self.stdout.write(f"Duration: {duration}")
        self.stdout.write(f"Result:   {json.dumps(run.result, sort_keys=True, default=str)}")
        if run.error:
            self.stdout.write(f"Error:    {run.error}")
        if run.traceback:
            self.stdout.write(run.traceback)
        retry = Run.objects.filter(job=run.job_id, scheduled_for=run.scheduled_for, attempt=run.attempt + 1).first()
        if retry:  # the dispatcher starts it when its backoff is over
            due = timezone.localtime(retry.due_at)
            self.stdout.write(f"Retry:    attempt {retry.attempt} (run {retry.id}) due at {due:%Y-%m-%d %H:%M:%S %Z}")
