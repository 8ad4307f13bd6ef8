"""`python manage.py demo`: example jobs, created once (by name) so a newcomer sees the engine working."""

from importlib import import_module
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from scheduler.forms import JobForm
from scheduler.models import Job
from scheduler.shared import outbound

DEMO_JOBS: list[dict[str, object]] = [
    {
        "name": "Demo: heartbeat every 10 seconds",
        "kind": "noop",
        "schedule_type": "interval",
        "interval_seconds": 10,
        "queue": "high",
    },
    {
        "name": "Demo: check the web server every minute",
        "kind": "http_request",
        "params": {"method": "GET", "url": "http://127.0.0.1:8000/admin/login/"},
        "schedule_type": "cron",
        "cron": "* * * * *",
        "timezone": "America/Sao_Paulo",
        "timeout_seconds": 20,
        "max_attempts": 3,
        "backoff_base_seconds": 5,
    },
    {
        "name": "Demo: prune run history older than 30 days",
        "kind": "prune_runs",
        "params": {"days": 30},
        "schedule_type": "cron",
        "cron": "30 3 * * *",
        "timezone": "America/Sao_Paulo",
        "queue": "low",
    },
]
DEFAULTS: dict[str, object] = {
    "timezone": "America/Sao_Paulo",
    "queue": "default",
    "timeout_seconds": 300,
    "max_attempts": 1,
    "backoff_base_seconds": 10,
    "backoff_cap_seconds": 600,
    "backoff_jitter": 0.1,
    "overlap_policy": "forbid",
    "misfire_policy": "coalesce",
    "misfire_grace_seconds": 3600,
    "enabled": True,
}


class Command(BaseCommand):
    help = "Create the demo data (once; existing objects are left as they are): jobs, and each app's own."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        # The demo's http_request job calls this host's own web server; `up` lets its processes reach it.
        outbound.allow("127.0.0.1")
        created = 0
        for entry in DEMO_JOBS:
            if Job.objects.filter(name=entry["name"]).exists():
                continue
            form = JobForm(data={**DEFAULTS, **entry})
            if not form.is_valid():  # a demo that no longer validates is a bug worth failing loudly on
                raise ValueError(f"demo job {entry['name']!r}: {form.errors.as_json()}")
            form.save()
            created += 1
        self.stdout.write(f"demo: {created} job(s) created")
        # Other apps add theirs in a `demo_data` module with a `load(stdout)` function; the engine knows none.
        for app in apps.get_app_configs():
            try:
                module = import_module(f"{app.name}.demo_data")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app.name}.demo_data":
                    raise
                continue
            module.load(self.stdout)
