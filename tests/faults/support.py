"""What the fault tests share: restarting PostgreSQL, a web server process, reading a process's memory,
and upstreams that misbehave on purpose (a slow loris, a 1 GB body generated as it is sent)."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

from django.conf import settings
from django.db import connection

from scheduler.processes import stop
from tests.loopback.server import LoopbackServer, Response
from tests.support.processes import Process, django_env

BASE_DIR = Path(settings.BASE_DIR)
GUNICORN_CONF = BASE_DIR / "deploy" / "gunicorn.conf.py"


def on_postgresql():
    return connection.vendor == "postgresql"


# --- PostgreSQL --------------------------------------------------------------------------------------


def restart_postgresql():
    """Restart the local PostgreSQL cluster (every connection is cut). Returns how long it took, in seconds."""
    version = sorted(os.listdir("/etc/postgresql"), key=float)[-1]
    began = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    connection.close()  # ours died with the others; the next query opens a fresh one
    return time.monotonic() - began


# --- processes ---------------------------------------------------------------------------------------


class Command(Process):
    """A process that is not a manage.py command (gunicorn); stopped with the others by the fixture."""

    def __init__(self, name, argv, env, log_dir):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, timeout=10):
        stop(self.popen, timeout)
        self._log.close()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_web(processes, **env):
    """gunicorn serving config.wsgi on a free loopback port, with DEBUG off (as in production)."""
    port = free_port()
    static = Path(processes.log_dir) / "static"
    environment = django_env(DEBUG="0", ALLOWED_HOSTS="127.0.0.1", VIGIA_STATIC_ROOT=static, **env)
    # With DEBUG off, pages name the collected (hashed) static files: collect them first, as `up` does.
    collect = [sys.executable, str(BASE_DIR / "manage.py"), "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(collect, cwd=BASE_DIR, env=environment, check=True, timeout=120)
    argv = [str(Path(sys.executable).with_name("gunicorn"))]
    if GUNICORN_CONF.exists():
        argv += ["-c", str(GUNICORN_CONF)]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "30", "config.wsgi"]
    web = Command("web", argv, environment, processes.log_dir)
    processes.started.append(web)
    web.url = f"http://127.0.0.1:{port}"
    return web


def group_pids(pgid):
    """Live processes of a process group (a qcluster and its workers share the cluster's group)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
    return pids


def memory_kb(pid, field="VmRSS"):
    """VmRSS (resident now) or VmHWM (the peak since start or the last reset_peak) of a process, in KB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def reset_peak(pid):
    """Make VmHWM start again from the current resident size (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- misbehaving upstreams ---------------------------------------------------------------------------

ONE_GB = 1 << 30
CHUNK = 64 * 1024


class AbusiveUpstream:
    """A loopback HTTP server whose paths misbehave:

    /slow-headers   the status line, then one header byte a second, forever
    /slow-body      full headers, then one body byte a second, forever
    /huge           1 GB of HTML, no Content-Length, generated as it is sent
    /huge-gzip      1 GB of HTML compressed on the fly (a few MB on the wire)
    /ok             a small page with one task (to show the worker is still serving)

    `sent[path]` counts the bytes written for each path, so a test can tell the client stopped reading.
    """

    def __init__(self):
        self.sent = {}
        # close-delimited bodies (HTTP/1.0): no length announced, nothing to refuse early
        self._server = LoopbackServer(self._answer, methods=("GET",), protocol="HTTP/1.0", record=False)
        self.stopping = self._server.stopping
        self._paths = {
            "slow_headers": self._slow_headers,
            "slow_body": self._slow_body,
            "huge": self._huge,
            "huge_gzip": self._huge_gzip,
            "ok": self._ok,
        }

    def __enter__(self):
        self._server.start()
        return self

    def __exit__(self, *exc):
        self._server.stop()

    @property
    def url(self):
        return self._server.url

    def _answer(self, request):
        produce = self._paths.get(request.target.strip("/").replace("-", "_"))
        if produce is None:
            return None  # no such path: the connection is dropped unanswered
        return Response(raw=self._counted(request.target, produce()))

    def _counted(self, path, chunks):
        for chunk in chunks:
            yield chunk  # the server writes it; a client that gave up ends this here
            self.sent[path] = self.sent.get(path, 0) + len(chunk)

    def _drip(self, data):
        for byte in data:
            if self.stopping.wait(1.0):
                return
            yield bytes([byte])

    def _slow_headers(self):
        yield b"HTTP/1.1 200 OK\r\n"
        while not self.stopping.is_set():
            yield from self._drip(b"X-Padding: " + b"a" * 50 + b"\r\n")

    def _slow_body(self):
        yield b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        while not self.stopping.is_set():
            yield from self._drip(b"<p>hello</p>")

    def _huge(self):
        yield b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        yield from _html_chunks()

    def _huge_gzip(self):
        head = b"Content-Type: text/html; charset=utf-8\r\nContent-Encoding: gzip\r\n\r\n"
        yield b"HTTP/1.1 200 OK\r\n" + head
        packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        for chunk in _html_chunks():
            packed = packer.compress(chunk)
            if packed:
                yield packed
        yield packer.flush()

    def _ok(self):
        page = b'<html><body><ul><li class="task" data-id="1"><h3>Tarefa</h3><p>ok</p></li></ul></body></html>'
        head = f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(page)}\r\n\r\n"
        yield b"HTTP/1.1 200 OK\r\n" + head.encode() + page


def _html_chunks():
    row = b'<li class="task" data-id="x"><h3>t</h3><p>' + b"a" * 200 + b"</p></li>\n"
    chunk = row * (CHUNK // len(row))
    for _ in range(ONE_GB // len(chunk)):
        yield chunk


# --- web clients -------------------------------------------------------------------------------------

# What an error page or probe never shows: a traceback, the driver's message (it names the database's
# address). /healthz names the failing check's exception class by design, so the class is no leak.
LEAKS = ("Traceback", 'File "/', "psycopg", "connection to server", "port 5432")


class Hammer:
    """Threads requesting `pages` ((path, cookies) pairs) over and over until stopped, keeping every answer
    as (path, status, leak): `leak` is the first of LEAKS found in the body, or ""; status 0 = no answer."""

    def __init__(self, base_url, pages, threads=3):
        self.answers = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(base_url, pages), daemon=True) for _ in range(threads)
        ]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _loop(self, base_url, pages):
        import httpx

        while not self._stop.is_set():
            for path, cookies in pages:
                try:
                    response = httpx.get(base_url + path, cookies=cookies, timeout=20)
                    status, body = response.status_code, response.text
                except httpx.HTTPError as exc:
                    status, body = 0, repr(exc)
                leak = next((word for word in LEAKS if word in body), "")
                self.answers.append((path, status, leak))
            time.sleep(0.02)
