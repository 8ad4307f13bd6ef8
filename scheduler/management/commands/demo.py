"""`python manage.py demo`: example jobs, created once (by name) so a newcomer sees the engine working.

`--addr` is where this host's web server listens (`up` passes its own): the demo's checks of Vigia itself
call that address, and a later run on another address moves them there. Only a demo job (by name) whose
URL is still a self-check of this host is moved: jobs an operator made, or pointed elsewhere, stay as they are."""

from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
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
        "params": {"method": "GET", "url": "{self}/admin/login/"},  # {self}: this host's web server
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
SELF = "{self}"
DEFAULT_ADDR = "127.0.0.1:8000"
WILDCARDS = {"", "0", "0.0.0.0", "::", "localhost"}  # runserver's "every interface" spellings (and a name)
SELF_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def self_base(addr: str) -> str:
    """The base URL that reaches a web server started on `addr` ("8011", "0.0.0.0:8011", "[::1]:8011")
    from this host: "http://127.0.0.1:8011"."""
    host, sep, port = addr.strip().rpartition(":")
    if not sep:
        host, port = "", addr.strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"{addr!r} is not an address with a port (e.g. 127.0.0.1:8000).")
    if host.strip("[]") in WILDCARDS:
        host = "127.0.0.1"
    return f"http://{host}:{int(port)}"


def _is_self_check(url: object) -> bool:
    """Whether a demo job's URL still calls this host's own web server (any port): the demo's to move."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return parts.scheme == "http" and host in SELF_HOSTS and parts.path == "/admin/login/"


def _with_base(value: object, base: str) -> object:
    """`value` with every "{self}" replaced by `base` (in nested dicts and lists too)."""
    if isinstance(value, str):
        return value.replace(SELF, base)
    if isinstance(value, dict):
        return {key: _with_base(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_base(item, base) for item in value]
    return value


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
    help = (
        "Create the demo data (once; existing objects are left as they are, except that the demo's checks of "
        "this host's web server follow --addr): jobs, and each app's own."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addr", default=DEFAULT_ADDR, help="Where this host's web server listens (the demo checks it)."
        )

    @transaction.atomic
    def handle(self, *args: Any, addr: str = DEFAULT_ADDR, **options: Any) -> None:
        base = self_base(addr)
        # The demo's http_request job calls this host's own web server; `up` lets its processes reach it.
        outbound.allow(urlsplit(base).hostname or "127.0.0.1")
        created = moved = 0
        for entry in DEMO_JOBS:
            wanted = _with_base(entry, base)
            assert isinstance(wanted, dict)
            existing = Job.objects.filter(name=entry["name"]).first()
            if existing is not None:
                moved += self._follow(existing, wanted)
                continue
            form = JobForm(data={**DEFAULTS, **wanted})
            if not form.is_valid():  # a demo that no longer validates is a bug worth failing loudly on
                raise ValueError(f"demo job {entry['name']!r}: {form.errors.as_json()}")
            form.save()
            created += 1
        self.stdout.write(f"demo: {created} job(s) created")
        if moved:
            self.stdout.write(f"demo: {moved} job(s) now check {base}")
        # Other apps add theirs in a `demo_data` module with a `load(stdout)` function; the engine knows none.
        for app in apps.get_app_configs():
            try:
                module = import_module(f"{app.name}.demo_data")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app.name}.demo_data":
                    raise
                continue
            module.load(self.stdout)

    @staticmethod
    def _follow(job: Job, wanted: dict[str, Any]) -> int:
        """Point an existing demo job's self-check at this run's address (1 when it changed, else 0)."""
        url = (wanted.get("params") or {}).get("url")
        current = (job.params or {}).get("url") if isinstance(job.params, dict) else None
        if not _is_self_check(url) or not _is_self_check(current) or current == url:
            return 0
        job.params = {**job.params, "url": url}
        job.save(update_fields=["params"])
        return 1
