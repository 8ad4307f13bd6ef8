"""/healthz answers load balancers and probes: 200 when the system can work, 503 naming what cannot."""

import socket
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from scheduler import liveness, queue
from scheduler.models import Lease
from tests.support.factories import lead
from tests.support.processes import wait_for

URL = "/healthz"


def _healthy_engine():
    lead(ttl=10)
    liveness.beat("c1", "worker-host:1", "high,default,low")


def _get(path=URL):
    return Client().get(path)  # anonymous: probes have no session


@pytest.mark.django_db
def test_a_working_system_is_ok_without_a_login():
    _healthy_engine()
    reply = _get()
    assert reply.status_code == 200
    assert reply["Cache-Control"].startswith("max-age=0")
    body = reply.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["scheduler"]["leader"] is True and checks["scheduler"]["heartbeat_age_s"] < 5
    assert checks["clusters"] == {"ok": True, "alive": 1}
    assert checks["queue"] == {"ok": True, "oldest_waiting_s": None}


@pytest.mark.django_db
def test_no_scheduler_ever_started_is_a_failure():
    liveness.beat("c1", "worker-host:1")
    reply = _get()
    assert reply.status_code == 503
    assert reply.json()["status"] == "fail"
    assert reply.json()["checks"]["scheduler"] == {"ok": False, "leader": False, "heartbeat_age_s": None}


@pytest.mark.django_db
def test_a_stale_scheduler_heartbeat_fails_past_the_threshold(settings):
    _healthy_engine()
    Lease.objects.filter(name="scheduler").update(renewed_at=timezone.now() - timedelta(seconds=45))
    reply = _get()
    assert reply.status_code == 503
    scheduler = reply.json()["checks"]["scheduler"]
    assert scheduler["ok"] is False and 44 <= scheduler["heartbeat_age_s"] <= 50

    settings.VIGIA_HEALTH_MAX_HEARTBEAT_AGE = 60  # the operator allows more
    assert _get().status_code == 200


@pytest.mark.django_db
def test_no_live_cluster_fails():
    lead(ttl=10)
    liveness.beat("c1", "worker-host:1", now=timezone.now() - timedelta(minutes=5))  # stopped beating
    reply = _get()
    assert reply.status_code == 503
    assert reply.json()["checks"]["clusters"] == {"ok": False, "alive": 0}


@pytest.mark.django_db
def test_a_task_waiting_too_long_fails(settings):
    _healthy_engine()
    task = queue.package(1, "low", 60)
    task.lock = timezone.now() - timedelta(seconds=400)
    task.save()
    queue.package(2, "high", 60).save()  # a fresh one does not hide the old one
    reply = _get()
    assert reply.status_code == 503
    waiting = reply.json()["checks"]["queue"]
    assert waiting["ok"] is False and 399 <= waiting["oldest_waiting_s"] <= 410

    settings.VIGIA_HEALTH_MAX_QUEUE_AGE = 600
    assert _get().status_code == 200


@pytest.mark.django_db
def test_the_database_probe_ignores_the_engine_and_the_live_probe_answers_alone():
    reply = _get(f"{URL}?probe=db")  # no scheduler, no cluster: the dashboard can still serve
    assert reply.status_code == 200
    assert set(reply.json()["checks"]) == {"database"}
    reply = _get(f"{URL}?probe=live")
    assert reply.status_code == 200 and reply.json() == {"status": "ok", "checks": {}}


@pytest.mark.django_db
def test_it_only_answers_reads():
    assert Client().post(URL).status_code == 405
    assert Client(enforce_csrf_checks=True).post(URL).status_code == 403  # refused before the view anyway
    assert Client().head(URL).status_code in (200, 503)


def _unreachable(settings_dict):
    """Point the connection at a database that is not there: a closed port, or a file in no directory."""
    if connection.vendor == "sqlite":
        return {"NAME": "/nonexistent-dir/vigia.sqlite3"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens once the probe closes
    return {"HOST": "127.0.0.1", "PORT": str(port)}


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_a_503_naming_the_error_class_only():
    changes = _unreachable(connection.settings_dict)
    saved = {key: connection.settings_dict[key] for key in changes}
    connection.close()
    connection.settings_dict.update(changes)
    try:
        reply = _get()
        live = _get(f"{URL}?probe=live")
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert reply.status_code == 503
    assert reply.json() == {"status": "fail", "checks": {"database": {"ok": False, "error": "OperationalError"}}}
    for detail in changes.values():  # neither the address nor the file leaks
        assert detail not in reply.content.decode()
    assert live.status_code == 200  # the process itself is fine: no restart


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_real_processes_make_it_healthy_and_killing_them_makes_it_fail(processes, settings):
    settings.VIGIA_HEALTH_MAX_HEARTBEAT_AGE = 3
    fast = {"VIGIA_STALE_AFTER": 2, "VIGIA_HEARTBEAT_SECONDS": 0.5, "VIGIA_LEASE_TTL": 2}
    scheduler = processes.scheduler(**fast)
    cluster = processes.qcluster(VIGIA_WORKERS=1, **fast)
    wait_for(lambda: _get().status_code == 200, 60, message="healthz to turn ok")

    cluster.kill()
    reply = wait_for(lambda: (r := _get()).status_code == 503 and r, 30, message="a dead cluster to show")
    assert reply.json()["checks"]["clusters"] == {"ok": False, "alive": 0}
    assert reply.json()["checks"]["scheduler"]["ok"] is True

    scheduler.kill()
    wait_for(lambda: not _get().json()["checks"]["scheduler"]["ok"], 30, message="a dead scheduler to show")
