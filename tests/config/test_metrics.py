"""/metrics: Prometheus text from real rows, behind a bearer token."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from channels_app.models import Channel, Delivery, Event, Recipient
from scheduler import liveness, queue
from scheduler.models import Lease, Run
from scrapers.models import Source
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db

URL = "/metrics"
TOKEN = "s3cret-scrape-token"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): float} and {name: type}, checking every line is well formed."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"malformed line: {line!r}"
        name, labels, value = match.groups()
        pairs = LABEL.findall(labels or "")
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == (labels or ""), f"malformed labels: {line!r}"
        unescaped = tuple((k, re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), v)) for k, v in pairs)
        samples[(name, unescaped)] = float(value)
    return samples, types


def scrape(settings):
    settings.VIGIA_METRICS_TOKEN = TOKEN
    reply = Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    assert reply["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(reply.content.decode())


def _run(job, status, *, ago, duration=None, lag=0.0, **fields):
    now = timezone.now()
    scheduled = now - timedelta(seconds=ago)
    started = scheduled + timedelta(seconds=lag)
    finished = started + timedelta(seconds=duration) if duration is not None else None
    return Run.objects.create(
        job=job,
        scheduled_for=scheduled,
        due_at=scheduled,
        status=status,
        started_at=started if status != Run.Status.QUEUED else None,
        finished_at=finished,
        duration_ms=int(duration * 1000) if duration is not None else None,
        **fields,
    )


def test_without_a_configured_token_there_is_no_such_page(settings):
    settings.VIGIA_METRICS_TOKEN = ""
    assert Client().get(URL, headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
def test_a_missing_or_wrong_token_is_refused(settings, header):
    settings.VIGIA_METRICS_TOKEN = TOKEN
    headers = {"Authorization": header} if header else {}
    reply = Client().get(URL, headers=headers)
    assert reply.status_code == 401
    assert reply["WWW-Authenticate"].startswith("Bearer")
    assert b"vigia_" not in reply.content


def test_runs_by_kind_and_status_count_the_last_day_only(settings):
    noop, sleeper = make_job(kind="noop"), make_job(kind="test_sleep")
    for ago in (10, 20, 30):
        _run(noop, Run.Status.SUCCEEDED, ago=ago, duration=0.05)
    _run(noop, Run.Status.FAILED, ago=40, duration=2)
    _run(sleeper, Run.Status.TIMED_OUT, ago=50, duration=7)
    _run(noop, Run.Status.SUCCEEDED, ago=25 * 3600, duration=1)  # older than the window
    samples, types = scrape(settings)
    assert types["vigia_runs_last_24h"] == "gauge"
    runs = {
        dict(labels)["kind"] + "/" + dict(labels)["status"]: n
        for (name, labels), n in samples.items()
        if name == "vigia_runs_last_24h"
    }
    assert runs == {"noop/succeeded": 3, "noop/failed": 1, "test_sleep/timed_out": 1}


def test_run_duration_and_dispatch_lag_histograms(settings):
    job = make_job()
    _run(job, Run.Status.SUCCEEDED, ago=100, duration=0.05, lag=0.02)
    _run(job, Run.Status.SUCCEEDED, ago=200, duration=0.7, lag=0.3)
    _run(job, Run.Status.FAILED, ago=300, duration=4, lag=2)
    _run(job, Run.Status.SUCCEEDED, ago=400, duration=400, lag=45)  # beyond the last finite bucket
    _run(job, Run.Status.RUNNING, ago=20, lag=1.5)  # started, not finished: a lag but no duration
    _run(job, Run.Status.QUEUED, ago=5)  # neither
    _run(job, Run.Status.SUCCEEDED, ago=3 * 3600, duration=0.05, lag=0.01)  # finished hours ago
    samples, types = scrape(settings)

    assert types["vigia_run_duration_seconds"] == "histogram"
    durations = _buckets(samples, "vigia_run_duration_seconds")
    assert durations == {"0.1": 1, "0.5": 1, "1": 2, "5": 3, "10": 3, "30": 3, "60": 3, "300": 3, "+Inf": 4}
    assert samples[("vigia_run_duration_seconds_count", ())] == 4
    assert samples[("vigia_run_duration_seconds_sum", ())] == pytest.approx(0.05 + 0.7 + 4 + 400)

    lags = _buckets(samples, "vigia_dispatch_lag_seconds")
    assert lags == {"0.1": 1, "0.5": 2, "1": 2, "5": 4, "10": 4, "30": 4, "60": 5, "300": 5, "+Inf": 5}
    assert samples[("vigia_dispatch_lag_seconds_sum", ())] == pytest.approx(0.02 + 0.3 + 2 + 45 + 1.5, abs=0.01)


def _buckets(samples, name):
    return {dict(labels)["le"]: n for (metric, labels), n in samples.items() if metric == f"{name}_bucket"}


def test_queues_scheduler_and_clusters(settings):
    lead(ttl=10)
    liveness.beat("c1", "host-a:1")
    liveness.beat("c2", "host-b:2", now=timezone.now() - timedelta(minutes=10))  # gone
    old = queue.package(1, "low", 60)
    old.lock = timezone.now() - timedelta(seconds=90)
    old.save()
    queue.package(2, "low", 60).save()
    taken = queue.package(3, "high", 60)
    taken.lock = timezone.now() + timedelta(seconds=50)  # a worker holds it
    taken.save()
    Lease.objects.filter(name="scheduler").update(renewed_at=timezone.now() - timedelta(seconds=7))
    samples, _ = scrape(settings)

    depth = {dict(labels)["queue"]: n for (name, labels), n in samples.items() if name == "vigia_queue_depth"}
    assert depth == {"high": 0, "default": 0, "low": 2}
    assert samples[("vigia_queue_taken", (("queue", "high"),))] == 1
    assert 89 <= samples[("vigia_queue_oldest_waiting_seconds", (("queue", "low"),))] <= 95
    assert samples[("vigia_queue_oldest_waiting_seconds", (("queue", "high"),))] == 0
    assert samples[("vigia_scheduler_leader", ())] == 1
    assert 7 <= samples[("vigia_scheduler_heartbeat_age_seconds", ())] <= 12
    assert samples[("vigia_clusters_alive", ())] == 1


def test_without_a_scheduler_the_heartbeat_age_is_absent(settings):
    samples, types = scrape(settings)
    assert samples[("vigia_scheduler_leader", ())] == 0
    assert "vigia_scheduler_heartbeat_age_seconds" in types
    assert not [key for key in samples if key[0] == "vigia_scheduler_heartbeat_age_seconds"]


def test_deliveries_by_channel_with_awkward_names_escaped(settings):
    awkward = 'Ops "on call" \\ team\nnight'
    plain = Channel.objects.create(name="mail", kind="outbox")
    odd = Channel.objects.create(name=awkward, kind="outbox")
    event = Event.objects.create(topic="source:1", type="item.new")
    statuses = [(plain, "sent"), (plain, "sent"), (plain, "dead"), (odd, "sent"), (odd, "retrying")]
    for i, (channel, status) in enumerate(statuses):
        recipient = Recipient.objects.create(channel=channel, address=f"r{i}")
        Delivery.objects.create(event=event, recipient=recipient, status=status, body="x")
    stale = Delivery.objects.create(
        event=event, recipient=Recipient.objects.create(channel=plain, address="old"), status="sent", body="x"
    )
    Delivery.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=2))
    samples, _ = scrape(settings)
    deliveries = {
        (dict(labels)["channel"], dict(labels)["status"]): n
        for (name, labels), n in samples.items()
        if name == "vigia_deliveries_last_24h"
    }
    assert deliveries == {("mail", "sent"): 2, ("mail", "dead"): 1, (awkward, "sent"): 1, (awkward, "retrying"): 1}


def test_failing_sources(settings):
    Source.objects.create(name="Fine", kind="html", url="https://a.example/")
    Source.objects.create(name="Flaky", kind="html", url="https://b.example/", consecutive_failures=2)
    Source.objects.create(
        name='Down "hard"', kind="html", url="https://c.example/", consecutive_failures=9, broken=True
    )
    samples, _ = scrape(settings)
    failures = {dict(labels)["source"]: n for (name, labels), n in samples.items() if name == "vigia_source_failures"}
    assert failures == {"Flaky": 2, 'Down "hard"': 9}
    assert samples[("vigia_sources_failing", ())] == 2
    assert samples[("vigia_sources_broken", ())] == 1
