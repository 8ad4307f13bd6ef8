"""The process supervisor `manage.py up` becomes once the database is ready (it execs this file).

It imports nothing from Django, so the parent of web + worker + scheduler costs a few MB instead of a
whole Django process. It runs each child in a session of its own, prefixes their output, stops them all
when one dies or on Ctrl-C/SIGTERM, and exits 0 after a requested stop (1 when a child died).

    python scheduler/supervise.py MANAGE_PY '{"web": ["runserver", ...], "worker": ["qcluster"], ...}'

A child whose arguments start with "-m" is a plain Python module run from the project's folder (`up`'s demo
organizer site: ["-m", "tests.loopback.demo_site", "--port", "8001"]), not a manage.py command.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TextIO


def main(manage: str, children: Mapping[str, Sequence[str]]) -> int:
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    out = sys.stdout
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, args in children.items():
        module = bool(args) and args[0] == "-m"
        processes[name] = subprocess.Popen(
            [sys.executable, *args] if module else [sys.executable, manage, *args],
            cwd=os.path.dirname(os.path.abspath(manage)) if module else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
    out.flush()
    for process in processes.values():
        if process.poll() is None:
            # All at once, then wait for each. The leader only (as systemd's KillMode=mixed): django-q2's
            # sentinel dies at once on SIGTERM, and a cluster whose sentinel died that way never stops.
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            pass
        _group(process, signal.SIGKILL)  # qcluster leaves worker processes behind otherwise
        process.wait()
    out.write("[up] stopped.\n")
    out.flush()
    return code


def _group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _relay(name: str, process: subprocess.Popen[bytes], out: TextIO) -> None:
    assert process.stdout is not None  # started with stdout=PIPE
    for line in iter(process.stdout.readline, b""):
        out.write(f"{name:>9} | {line.decode(errors='replace').rstrip()}\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], json.loads(sys.argv[2])))
