"""The API as SmartMEi's scheduler used its own: a service declares an event (a cron pattern in a time zone, a
maximum of occurrences, a webhook action) by its (service, key), declares it again without making a second one,
forces a run, and is told the outcome by a signed callback. Real scheduler and cluster processes; the webhook
receiver and the callback receiver are a real HTTP server on 127.0.0.1."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from channels_app import tokens
from scheduler.models import Job
from tests.channels_app.support import process_env
from tests.loopback.server import LoopbackServer
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
READY = "running."


def declare(client, raw, receiver):
    event = {
        "service": "xulamps",
        "key": "unique-event-key",
        "name": "Title that describe event",
        "kind": "http_request",
        "params": {"url": f"{receiver.url}/webhook/do/something/42", "method": "GET"},
        "schedule_type": "cron",
        "cron": "0 1 15 8 *",
        "timezone": "America/Sao_Paulo",
        "max_occurrences": 12,
        "callback_url": f"{receiver.url}/callback",
    }
    return client.post(
        "/api/v1/jobs", json.dumps(event), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )


def test_an_event_declared_twice_runs_once_when_forced_and_calls_back_signed(client, processes):
    token, raw = tokens.create("smartmei", scopes=["jobs:read", "jobs:write"])
    secret = token.callback_secret["secret"]
    with LoopbackServer() as receiver:
        receiver.respond("/webhook/do/something/42", status=200, body={"ok": True})
        receiver.respond("/callback", status=204)

        created = declare(client, raw, receiver)
        assert created.status_code == 201, created.content
        job = created.json()
        # 01:00 on 15 August in São Paulo (UTC-3, no daylight saving since 2019) is 04:00 UTC.
        year = timezone.now().year + (timezone.now() >= datetime(timezone.now().year, 8, 15, 4, tzinfo=UTC))
        first = job["next_occurrences"][0]
        assert first["utc"].replace("+00:00", "Z") == f"{year}-08-15T04:00:00Z"
        assert first["local"] == f"{year}-08-15T01:00:00-03:00"
        assert len(job["next_occurrences"]) == 5

        again = declare(client, raw, receiver)
        assert again.status_code == 200 and again.json()["id"] == job["id"]
        assert Job.objects.filter(external_service="xulamps").count() == 1

        processes.scheduler(**process_env())
        cluster = processes.qcluster("qcluster", VIGIA_QUEUE_LOG_LEVEL="INFO", **process_env())
        wait_for(lambda: READY in cluster.output() or not cluster.alive(), 30, message="the cluster to start")

        forced = client.post(f"/api/v1/jobs/{job['id']}/run", HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert forced.status_code == 202, forced.content
        run_id = forced.json()["id"]

        wait_for(lambda: any(r.path == "/callback" for r in receiver.requests), 30, message="the callback")
        paths = [r.path for r in receiver.requests]
        assert paths == ["/webhook/do/something/42", "/callback"], paths
        webhook, callback = receiver.requests
        assert webhook.method == "GET"

        stamp, signature = callback.header("X-Vigia-Timestamp"), callback.header("X-Vigia-Signature")
        expected = hmac.new(secret.encode(), f"{stamp}.".encode() + callback.body, hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}"
        document = callback.json()
        assert document["run"]["id"] == run_id and document["run"]["status"] == "succeeded"
        assert document["job"]["service"] == "xulamps" and document["job"]["key"] == "unique-event-key"

        run = client.get(f"/api/v1/runs/{run_id}", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
        assert run["status"] == "succeeded"
        # A forced run is outside the schedule: the 12 occurrences are all still to come.
        assert Job.objects.get(pk=job["id"]).occurrences == 0
