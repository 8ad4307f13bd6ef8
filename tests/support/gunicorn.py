"""A real gunicorn web server (deploy/gunicorn.conf.py) on a free loopback port, for serving tests."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings

from scheduler.processes import MANAGE, stop
from tests.support.processes import django_env


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def collectstatic(env):
    subprocess.run([sys.executable, str(MANAGE), "collectstatic", "--noinput", "-v0"], env=env, check=True, timeout=120)


class Gunicorn:
    """`with Gunicorn(tmp_path, DEBUG=0, ...) as web: httpx.get(web.url + "/")`; always stopped afterwards."""

    def __init__(self, log_dir, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = django_env(**{"WEB_CONCURRENCY": 2, "DEBUG": 0, **env, "VIGIA_BIND": f"127.0.0.1:{self.port}"})
        self.log_path = Path(log_dir) / f"gunicorn-{self.port}.log"

    def __enter__(self):
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in __exit__
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi"],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.popen.poll() is None, f"gunicorn exited:\n{self.output()}"
            try:
                httpx.get(self.url + "/static/favicon.svg", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer within 30 s:\n{self.output()}")

    def __exit__(self, *exc):
        stop(self.popen)
        self._log.close()

    def output(self):
        return self.log_path.read_text(errors="replace")
