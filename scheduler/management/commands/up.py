"""`python manage.py up`: migrate, make sure there is an admin login, load demo data, then run the web
server, one worker cluster and the scheduler together until Ctrl-C (which stops all three cleanly)."""

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from scheduler.processes import MANAGE
from scheduler.shared import outbound

SUPERVISOR = Path(__file__).resolve().parents[2] / "supervise.py"


class Command(BaseCommand):
    help = "Set up the database and run web + worker cluster + scheduler in the foreground."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where the web server listens.")
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo's job checks its own web server at 127.0.0.1 (on --addr's port): allowed here (the demo data
        # is validated in this process) and in the children; the outbound guard refuses loopback otherwise.
        outbound.allow("127.0.0.1")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)  # the login throttle's counts (config.login_throttle)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise serves the hashed copies
        password = ensure_admin()
        if not options["no_demo"]:
            call_command("demo", addr=options["addr"], stdout=self.stdout)  # its self-checks call this address
        self.stdout.write(
            self.style.SUCCESS(f"\nVigia: http://{options['addr']}/  —  log in as admin / {password}\n")
            + "Ctrl-C stops everything.\n"
        )
        children = {
            "web": ["runserver", options["addr"], "--noreload"],
            "worker": ["qcluster"],
            "scheduler": ["scheduler"],
        }
        # A newcomer's machine: one worker for any queue plus the one kept for `high` (VIGIA_RESERVED_WORKERS),
        # unless told otherwise; production units set their own.
        os.environ.setdefault("VIGIA_WORKERS", "1")
        self.stdout.flush()
        # Become the small supervisor (no Django in it): this process's memory goes back to the system.
        os.execv(sys.executable, [sys.executable, str(SUPERVISOR), str(MANAGE), json.dumps(children)])


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
