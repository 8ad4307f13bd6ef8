"""`python manage.py up`: migrate, make sure there is an admin login, load demo data, then run the web
server, one worker cluster and the scheduler together until Ctrl-C (which stops all three cleanly).

With the demo on (the default; `--no-demo` or VIGIA_DEMO=0 turn it off), the demo organizer site runs beside
them on 127.0.0.1 (the web port + 1 when free), watched by a demo source: only when its file exists
(tests/loopback/demo_site.py, development code an image built without tests/ does not have)."""

import json
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from scheduler.management.commands.demo import self_base
from scheduler.processes import MANAGE
from scheduler.shared import outbound

SUPERVISOR = Path(__file__).resolve().parents[2] / "supervise.py"
DEMO_SITE = "tests.loopback.demo_site"  # run as `python -m` from the project's folder


class Command(BaseCommand):
    help = "Set up the database and run web + worker cluster + scheduler in the foreground."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where the web server listens.")
        parser.add_argument(
            "--no-demo",
            action="store_true",
            help="Do not load the demo data nor run the demo organizer site (as VIGIA_DEMO=0).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        demo = settings.VIGIA_DEMO and not options["no_demo"]
        web = self_base(options["addr"])
        site = demo_site(web) if demo else None
        if demo:
            # The demo calls the web server (its self-check job) and the demo site (its source), both on loopback:
            # exactly those host:port are allowed, here (the demo data is validated in this process) and in the
            # children (VIGIA_OUTBOUND_ALLOW in their environment). Any other loopback port stays refused.
            outbound.allow(*(urlsplit(url).netloc for url in (web, site) if url))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)  # the login throttle's counts (config.login_throttle)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise serves the hashed copies
        password = ensure_admin()
        if demo:
            # Its self-checks call this address; its source watches the demo site.
            call_command("demo", addr=options["addr"], site=urlsplit(site).netloc if site else "", stdout=self.stdout)
        else:  # demo data from an earlier run: its checks of this host would be refused, so they wait
            call_command("demo", pause=True, stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"\nVigia: http://{options['addr']}/  —  log in as admin / {password}\n")
            + "Ctrl-C stops everything.\n"
        )
        children = {
            "web": ["runserver", options["addr"], "--noreload"],
            "worker": ["qcluster"],
            "scheduler": ["scheduler"],
        }
        if site:
            children["demo-site"] = ["-m", DEMO_SITE, "--port", str(urlsplit(site).port)]
        # A newcomer's machine: one worker for any queue plus the one kept for `high` (VIGIA_RESERVED_WORKERS),
        # unless told otherwise; production units set their own.
        os.environ.setdefault("VIGIA_WORKERS", "1")
        self.stdout.flush()
        # Become the small supervisor (no Django in it): this process's memory goes back to the system.
        os.execv(sys.executable, [sys.executable, str(SUPERVISOR), str(MANAGE), json.dumps(children)])


def demo_site(web: str) -> str | None:
    """The demo organizer site's base URL: on 127.0.0.1, the web server's port + 1 when free (the same at every
    `up`), else any free port; None when this checkout has no demo site."""
    if not (Path(settings.BASE_DIR) / (DEMO_SITE.replace(".", "/") + ".py")).is_file():
        return None
    port = urlsplit(web).port or 8000
    for candidate in ([port + 1] if port < 65535 else []) + [0]:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the site's server will
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return f"http://127.0.0.1:{probe.getsockname()[1]}"
    return None


def ensure_admin() -> str:
    """Create the `admin` superuser once; its generated password is kept in the data folder."""
    path = Path(settings.DATA_DIR) / "admin_password"
    user_model = get_user_model()
    if not user_model.objects.filter(username="admin").exists():
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@localhost", password)
        path.write_text(password)
        path.chmod(0o600)
    return path.read_text().strip() if path.exists() else "(set earlier: manage.py changepassword admin)"
