"""Starting and stopping our own `manage.py` processes (used by `up`, the benchmarks and the tests)."""

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from django.conf import settings

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def database_url(db: Mapping[str, Any], name: str | None = None) -> str:
    """A DATABASE_URL for a Django database settings dict, optionally naming another database."""
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name or db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name or db['NAME']}"


def spawn(
    args: Sequence[str], env: Mapping[str, str] | None = None, stdout: int | IO[Any] | None = None
) -> subprocess.Popen[bytes]:
    """A manage.py child in a session of its own, so it and its children can be stopped as a group."""
    return subprocess.Popen(
        [sys.executable, str(MANAGE), *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM to the leader, wait, then SIGKILL the whole group (qcluster leaves worker processes behind
    otherwise). Only the leader gets SIGTERM, as systemd's KillMode=mixed does: django-q2's sentinel dies at
    once on SIGTERM (SIG_DFL), and a cluster whose sentinel died that way never finishes its own stop."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(5)
    _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
