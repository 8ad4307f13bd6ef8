"""Start real `manage.py` processes (scheduler, qcluster) against the test database, and always clean up."""

import os
import signal
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from scheduler.processes import database_url, spawn, stop


def django_env(**extra):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(connection.settings_dict),  # the test database, once created
        SECRET_KEY=settings.SECRET_KEY,  # queued tasks are signed with it
        VIGIA_EXTRA_JOB_KINDS="tests.support.kinds",
        VIGIA_DATA_DIR=str(settings.DATA_DIR),
        PYTHONUNBUFFERED="1",
        # The outbound allow-list in force here (the loopback stand-ins, or a test's override), not a default.
        VIGIA_OUTBOUND_ALLOW=",".join(settings.VIGIA_OUTBOUND_ALLOW),
        # The system watchdog would open alerts of its own in other tests' database (no leader...); its tests
        # turn it on.
        VIGIA_WATCHDOG_ENABLED="0",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Process:
    def __init__(self, name, args, env, log_dir):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = spawn(args, env=env, stdout=self._log)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL, group=True):
        if self.alive():
            try:
                if group:
                    os.killpg(self.popen.pid, sig)
                else:
                    os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10):
        stop(self.popen, timeout)
        self._log.close()

    def output(self):
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


class Processes:
    """A pytest fixture's worth of processes; stop_all() runs at teardown whatever happened."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.started = []

    def start(self, name, *args, **env):
        process = Process(name, args, django_env(**env), self.log_dir)
        self.started.append(process)
        return process

    def scheduler(self, name="scheduler", **env):
        return self.start(name, "scheduler", **env)

    def qcluster(self, name="qcluster", **env):
        env.setdefault("VIGIA_WORKERS", 2)
        return self.start(name, "qcluster", **env)

    def stop_all(self):
        for process in self.started:
            process.stop()


def wait_for(predicate, timeout, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
