"""`bench idle`: the whole system as `make up` starts it (web, one cluster, the scheduler, demo jobs), left
idle for 60 s (--quick: 20 s) after a warm-up: its CPU (sum over every process, in % of one core), its
memory (the sum of each process's proportional set size, so pages that forked workers share count once)
and its database queries per second (every process counts its own statements)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from scheduler.processes import MANAGE
from tests.bench import register
from tests.bench.memory import children_by_parent, cpu_seconds
from tests.bench.querycount import total

TARGETS = {"idle_cpu_pct": 2.0, "idle_rss_mb": 250}
PORT = 8765


def descendants(pid):
    tree, found, todo = children_by_parent(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def pss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def _healthy(url, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own loopback server
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


@register("idle")
def run(env, quick, say, log_dir):
    window, warm = (20, 10) if quick else (60, 20)
    counts = Path(tempfile.mkdtemp(prefix="vigia-queries-"))
    data = Path(tempfile.mkdtemp(prefix="vigia-idle-data-"))
    child_env = {**env, "DEBUG": "1", "VIGIA_COUNT_QUERIES_DIR": str(counts), "VIGIA_DATA_DIR": str(data)}
    log = open(log_dir / "bench-up.log", "wb")  # noqa: SIM115
    up = subprocess.Popen(
        [sys.executable, str(MANAGE), "up", "--addr", f"127.0.0.1:{PORT}"],
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if not _healthy(f"http://127.0.0.1:{PORT}/healthz", 120):
            raise RuntimeError(f"the system did not become healthy; see {log_dir / 'bench-up.log'}")
        say(f"healthy; warming up {warm} s, then measuring {window} s of idleness")
        time.sleep(warm)
        pids = descendants(up.pid)
        cpu_start, queries_start, started = cpu_seconds({"all": pids}), total(counts), time.monotonic()
        time.sleep(window)
        pids = descendants(up.pid)
        cpu_end, queries_end, elapsed = cpu_seconds({"all": pids}), total(counts), time.monotonic() - started
        used = sum(value - cpu_start["all"].get(pid, 0.0) for pid, value in cpu_end["all"].items())
        pss = {pid: pss_kb(pid) for pid in pids}
        rss = sum(_rss(pid) for pid in pids)
        names = {pid: _name(pid) for pid in pids}
    finally:
        os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
        log.close()
    per_process = {}
    for pid in pids:
        label = f"{names[pid]}[{pid}]"
        cpu = cpu_end["all"].get(pid, 0.0) - cpu_start["all"].get(pid, 0.0)
        per_process[label] = {"cpu_pct": round(cpu / elapsed * 100, 2), "pss_mb": round(pss[pid] / 1024, 1)}
    say("per process: " + json.dumps(per_process))
    return {
        "idle_cpu_pct": round(used / elapsed * 100, 2),
        "idle_rss_mb": round(sum(pss.values()) / 1024, 1),
        "idle_rss_sum_mb": round(rss / 1024, 1),
        "idle_db_queries_per_s": round((queries_end - queries_start) / elapsed, 1),
        "processes": len(pids),
        "window_s": window,
        "quick": quick,
        "targets": TARGETS,
    }


def _name(pid):
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return "?"
    words = [arg.decode(errors="replace") for arg in args if arg]
    return " ".join(word.rsplit("/", 1)[-1] for word in words[1:3]) or "?"


def _rss(pid):
    from tests.bench.memory import rss_kb

    return rss_kb(pid) or 0
