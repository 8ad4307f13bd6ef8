"""`manage.py up` (the README's first command) runs web + worker + scheduler (+ the demo organizer site) and
Ctrl-C stops them all."""

import os
import re
import signal
import socket
import subprocess

import httpx
import pytest

from scheduler.models import Job, Run
from scrapers.models import Source
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status_of(url):
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout
    return bool(state.strip()) and not state.startswith("Z")


def environment_of(pid):
    entries = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")  # noqa: SIM115 - read at once
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


def test_up_serves_runs_jobs_and_stops_cleanly_on_ctrl_c(processes, tmp_path):
    base = f"http://127.0.0.1:{free_port()}"
    # Nothing of loopback allowed beforehand: `up` allows its own web server and demo site, and only those.
    up = processes.start(
        "up", "up", "--addr", base.removeprefix("http://"), VIGIA_DATA_DIR=tmp_path, VIGIA_OUTBOUND_ALLOW=""
    )

    wait_for(lambda: status_of(f"{base}/admin/login/") == 200, 60, message="the web server")
    assert status_of(f"{base}/admin/") == 302  # every page needs a login
    heartbeat = Run.objects.filter(job__name__startswith="Demo: heartbeat", status="succeeded")
    wait_for(heartbeat.exists, 40, message="the demo heartbeat job to run through the worker")
    # The demo's check of the web server calls the address `up` serves on, not the default port.
    assert Job.objects.get(name__startswith="Demo: check the web server").params["url"] == f"{base}/admin/login/"

    password = (tmp_path / "admin_password").read_text().strip()
    assert re.search(rf"log in as admin / {re.escape(password)}", up.output())
    with httpx.Client(base_url=base) as browser:
        browser.get("/admin/login/")
        reply = browser.post(
            "/admin/login/?next=/admin/",
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": f"{base}/admin/login/"},
        )
        assert reply.status_code == 302 and reply.headers["location"] == "/admin/"
        assert browser.get("/admin/scheduler/job/").status_code == 200

    site = Source.objects.get(name__startswith="Demo:").url  # the demo organizer site, watched by the demo source
    assert status_of(site) == 200 and "Demonstração do Vigia" in httpx.get(site).text
    children = children_of(up.pid)
    assert len(children) == 4  # web, worker, scheduler, demo site
    allowed = {environment_of(pid)["VIGIA_OUTBOUND_ALLOW"] for pid in children}
    assert allowed == {f"{base.removeprefix('http://')},{site.removeprefix('http://').removesuffix('/tarefas')}"}
    up.kill(signal.SIGINT, group=False)  # what Ctrl-C delivers to the foreground process
    assert up.popen.wait(30) == 0
    assert "[up] stopped." in up.output()
    assert not [pid for pid in children if alive(pid)]
