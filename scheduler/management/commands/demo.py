"""`python manage.py demo`: example jobs, created once (by name) so a newcomer sees the engine working.

`--addr` is where this host's web server listens (`up` passes its own): the demo's checks of Vigia itself
call that address, and a later run on another address moves them there. Only a demo job (by name) whose
URL is still a self-check of this host is moved: jobs an operator made, or pointed elsewhere, stay as they are.

`--site` is where the demo organizer site listens (`up` runs it, tests/loopback/demo_site.py): the apps' demo
data watch it (scrapers adds a source). `--remove` deletes the demo data instead: each app's, then the jobs.
`--pause` is for `up` with the demo off: the demo's checks of this host, which the outbound guard then refuses,
are paused with DEMO_OFF as their reason, and the next load resumes exactly those."""

import re
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from scheduler import endings, services
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
DEMO_OFF = endings.DEMO_OFF
DEFAULT_ADDR = "127.0.0.1:8000"
WILDCARDS = {"", "0", "0.0.0.0", "::", "localhost"}  # runserver's "every interface" spellings (and a name)
SELF_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def self_base(addr: str) -> str:
    """The base URL that reaches a web server started on `addr` ("8011", "0.0.0.0:8011", "[::1]:8011")
    from this host: "http://127.0.0.1:8011"."""
    host, sep, port = addr.strip().rpartition(":")
    if not sep:
        host, port = "", addr.strip()
    # ASCII digits only ("²" and "١٢" are digits to str.isdigit) and a host that is one plain name or address.
    plain = re.fullmatch(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{0,253}", host)
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536) or plain is None:
        raise CommandError(f"{addr[:80]!r} is not an address with a port (e.g. 127.0.0.1:8000).")
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
        parser.add_argument(
            "--site", default="", help="Where the demo organizer site listens (`up` runs it): a demo source watches it."
        )
        parser.add_argument(
            "--remove", action="store_true", help="Remove the demo data (jobs, source, outbox...) instead."
        )
        parser.add_argument(
            "--pause", action="store_true", help="Pause the demo's checks of this host (`up` with the demo off)."
        )

    @transaction.atomic
    def handle(
        self,
        *args: Any,
        addr: str = DEFAULT_ADDR,
        site: str = "",
        remove: bool = False,
        pause: bool = False,
        **options: Any,
    ) -> None:
        if remove:
            self._remove()
            return
        if pause:
            self._pause()
            return
        base = self_base(addr)
        site_base = self_base(site) if site else None
        # The demo calls this host's own web server (its http_request job) and the demo organizer site (its
        # source): exactly those host:port may be reached, here and in the processes `up` starts afterwards.
        outbound.allow(*(urlsplit(url).netloc for url in (base, site_base) if url))
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
        for module in _app_modules():
            module.load(self.stdout, site_base)
        resumed = services.resume(Job.objects.filter(enabled=False, paused_reason=DEMO_OFF))
        if resumed:
            self.stdout.write(f"demo: {resumed} demo job(s) resumed")

    def _pause(self) -> None:
        demo = Job.objects.filter(name__in=[entry["name"] for entry in DEMO_JOBS], enabled=True)
        jobs = [job for job in demo if _is_self_check((job.params or {}).get("url"))]
        jobs += [job for module in _app_modules() if hasattr(module, "jobs") for job in module.jobs() if job.enabled]
        if jobs:
            services.pause(jobs, reason=DEMO_OFF)
            self.stdout.write(
                f"demo: off, {len(jobs)} demo job(s) paused until it is on again (`manage.py demo --remove` "
                "removes the demo data)"
            )

    def _remove(self) -> None:
        for module in reversed(_app_modules()):  # what depends on other apps' data goes first
            module.remove(self.stdout)
        _count, deleted = services.delete(Job.objects.filter(name__in=[entry["name"] for entry in DEMO_JOBS]))
        self.stdout.write(
            f"demo: removed {deleted.get('scheduler.Job', 0)} job(s) and their {deleted.get('scheduler.Run', 0)} run(s)"
        )

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


def _app_modules() -> list[Any]:
    """Other apps' demo data: a `demo_data` module with `load(stdout, site)` (site: the demo organizer site's base
    URL, or None when none runs), `remove(stdout)` and optionally `jobs()` (its jobs that call the demo site, to
    pause while the demo is off). The engine knows none of them."""
    found = []
    for app in apps.get_app_configs():
        try:
            found.append(import_module(f"{app.name}.demo_data"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{app.name}.demo_data":
                raise
    return found
