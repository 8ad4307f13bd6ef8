"""`python manage.py up`: migrate, make sure there is an admin login, load demo data, then run the web
server, one worker cluster and the scheduler together until Ctrl-C (which stops all three cleanly)."""

import secrets
import signal
import subprocess
import threading
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from scheduler import outbound
from scheduler.processes import spawn, stop


class Command(BaseCommand):
    help = "Set up the database and run web + worker cluster + scheduler in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where the web server listens.")
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")

    def handle(self, *args, **options):
        # The demo's job checks its own web server at 127.0.0.1: allowed here (the demo data is validated in
        # this process) and in the children; the outbound guard refuses loopback addresses otherwise.
        outbound.allow("127.0.0.1")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)  # the login throttle's counts (config.login_throttle)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise serves the hashed copies
        password = ensure_admin()
        if not options["no_demo"]:
            call_command("demo", stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"\nVigia: http://{options['addr']}/  —  log in as admin / {password}\n")
            + "Ctrl-C stops everything.\n"
        )
        children = {
            "web": ["runserver", options["addr"], "--noreload"],
            "worker": ["qcluster"],
            "scheduler": ["scheduler"],
        }
        raise SystemExit(supervise(children, self.stdout))


def ensure_admin():
    """Create the `admin` superuser once; its generated password is kept in the data folder."""
    path = Path(settings.DATA_DIR) / "admin_password"
    user_model = get_user_model()
    if not user_model.objects.filter(username="admin").exists():
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@localhost", password)
        path.write_text(password)
        path.chmod(0o600)
    return path.read_text().strip() if path.exists() else "(set earlier: manage.py changepassword admin)"


def supervise(children, out):
    """Run the children until one dies or we are asked to stop; returns the exit code."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    processes = {}
    for name, args in children.items():
        # A session of their own: Ctrl-C reaches only us, and we stop them in order.
        processes[name] = spawn(args, stdout=subprocess.PIPE)
        threading.Thread(target=_relay, args=(name, processes[name], out), daemon=True).start()
    code = 0
    while not stopping.is_set():
        for name, process in processes.items():
            if process.poll() is not None:
                out.write(f"[up] {name} exited with {process.returncode}; stopping the others\n")
                code = 1
                stopping.set()
        stopping.wait(0.5)
    out.write("[up] stopping...\n")
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # all at once, then wait for each
    for process in processes.values():
        stop(process)
    out.write("[up] stopped.\n")
    return code


def _relay(name, process, out):
    for line in iter(process.stdout.readline, b""):
        out.write(f"{name:>9} | {line.decode(errors='replace').rstrip()}\n")
        out.flush()
