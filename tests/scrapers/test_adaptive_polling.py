"""Adaptive polling: fast right after a find, backing off while nothing changes, within the source's floor and
ceiling and never beyond its host's budget; every poll a conditional GET."""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_app import tokens
from scheduler.models import Job
from scrapers import ratelimit
from scrapers.models import Item, Source
from scrapers.sources import checks
from scrapers.sources.services import SourceForm
from tests.loopback.organizer import CONFIG, make_source, page
from tests.loopback.server import LoopbackServer, Response
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db
TASKS = [(1, "Tarefa 1", "Traga um guarda-chuva"), (2, "Tarefa 2", "Cante o hino")]


class Page:
    """An organizer page with an ETag: a conditional request for what did not change gets a 304."""

    def __init__(self, server, tasks):
        self.tasks, self.times, self.conditional = list(tasks), [], 0
        server.respond("/tarefas", handler=self.answer)

    def answer(self, request):
        self.times.append(time.monotonic())
        etag = f'"{len(self.tasks)}"'
        if request.header("If-None-Match") == etag:
            self.conditional += 1
            return Response(304, b"", {"ETag": etag})
        return Response(200, page(*self.tasks).encode(), {"Content-Type": "text/html; charset=utf-8", "ETag": etag})


def adaptive_source(site, floor=2, ceiling=10, **fields):
    ratelimit.set_rate(ratelimit.host_key(site.url), 10)
    return make_source(site.url + "/tarefas", poll_floor_seconds=floor, poll_ceiling_seconds=ceiling, **fields)


def check(source):
    source.refresh_from_db()
    return checks.check_source(source)


def test_quiet_checks_back_off_to_the_ceiling_and_a_find_brings_the_floor_back(site, settings):
    settings.VIGIA_POLL_BURST_SECONDS = 0  # no burst window: each quiet check is a step slower
    served = Page(site, TASKS)
    source = adaptive_source(site, floor=2, ceiling=10)
    assert source.job.interval_seconds == 2  # a new adaptive source starts fast

    intervals = []
    for _ in range(6):
        check(source)
        source.refresh_from_db()
        intervals.append(source.current_interval_seconds)
    assert intervals == [3, 5, 8, 10, 10, 10]  # × 1.5 per quiet check, up to the ceiling
    assert Job.objects.get(pk=source.job_id).interval_seconds == 10
    assert served.conditional == 5  # every poll after the first was a conditional GET answered 304

    served.tasks.insert(0, (3, "Tarefa 3", "Nova"))
    before = timezone.now()
    outcome = check(source)
    source.refresh_from_db()
    job = Job.objects.get(pk=source.job_id)
    assert len(outcome.new) == 1 and source.current_interval_seconds == 2 and job.interval_seconds == 2
    assert job.next_run_at <= before + timedelta(seconds=2.5)  # the next poll comes at the floor, not in 10 s


def test_the_source_stays_at_its_floor_for_the_burst_window_after_a_find(site, settings):
    settings.VIGIA_POLL_BURST_SECONDS = 60
    served = Page(site, TASKS)
    source = adaptive_source(site, floor=2, ceiling=10)
    check(source)
    served.tasks.insert(0, (3, "Tarefa 3", "Nova"))
    check(source)
    for _ in range(3):  # quiet, but within a minute of the find: tasks come in bursts
        check(source)
    source.refresh_from_db()
    assert source.current_interval_seconds == 2

    Source.objects.filter(pk=source.pk).update(last_found_at=timezone.now() - timedelta(seconds=61))
    check(source)
    source.refresh_from_db()
    assert source.current_interval_seconds == 3  # the burst is over: backing off


def test_a_fixed_interval_source_is_left_alone(site):
    Page(site, TASKS)
    source = make_source(site.url + "/tarefas", interval_seconds=30)
    for _ in range(3):
        check(source)
    source.refresh_from_db()
    assert source.current_interval_seconds is None and Job.objects.get(pk=source.job_id).interval_seconds == 30


def test_the_floor_never_passes_the_host_budget_even_when_the_budget_is_lowered_later(site, settings):
    settings.VIGIA_POLL_BURST_SECONDS = 60
    served = Page(site, TASKS)
    source = adaptive_source(site, floor=1, ceiling=10)
    ratelimit.set_rate(ratelimit.host_key(site.url), 0.25)  # an operator slowed the host down afterwards
    check(source)
    served.tasks.insert(0, (3, "Tarefa 3", "Nova"))
    check(source)
    source.refresh_from_db()
    assert source.current_interval_seconds == 4  # right after a find, yet 1 request every 4 s is all it may


# --- the form (the dashboard, the admin, the API and the import share it) ------------------------------------------
def form_for(site, **fields):
    data = {"name": "Organizer", "kind": "html", "url": site.url + "/tarefas", "config": CONFIG}
    data.update(timeout_seconds=5, timezone="UTC", enabled=True, method="GET", headers={}, interval_seconds=30)
    return SourceForm(data={**data, **fields})


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"poll_floor_seconds": 2}, "poll_ceiling_seconds", "both"),
        ({"poll_ceiling_seconds": 20}, "poll_floor_seconds", "both"),
        ({"poll_floor_seconds": 20, "poll_ceiling_seconds": 5}, "poll_ceiling_seconds", "must not be faster"),
        ({"poll_floor_seconds": 0, "poll_ceiling_seconds": 5}, "poll_floor_seconds", "Between 1"),
        ({"poll_floor_seconds": 2, "poll_ceiling_seconds": 90_000}, "poll_ceiling_seconds", "Between 1"),
        ({"poll_floor_seconds": 2, "poll_ceiling_seconds": 5, "cron": "* * * * *"}, "cron", "interval"),
        ({"poll_floor_seconds": -1, "poll_ceiling_seconds": 5}, "poll_floor_seconds", "greater than or equal to 0"),
        ({"poll_floor_seconds": 2, "poll_ceiling_seconds": 10**23}, "poll_ceiling_seconds", "Between 1"),
    ],
)
def test_bad_adaptive_settings_are_field_errors_that_change_nothing(site, fields, field, words):
    ratelimit.set_rate(ratelimit.host_key(site.url), 10)
    form = form_for(site, **fields)
    assert not form.is_valid()
    assert words in " ".join(form.errors[field])

    # The same through the API, which saves what its form accepts: refused, naming the field, nothing stored.
    raw = tokens.create("bot", scopes=["sources:read", "sources:write"])[1]
    body = {"name": "Organizer", "kind": "html", "url": site.url + "/tarefas", "config": CONFIG, **fields}
    if "cron" not in fields:
        body["interval_seconds"] = 30
    answer = Client().post(
        "/api/v1/sources", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert answer.status_code == 422 and field in answer.json()["errors"], answer.content
    assert not Source.objects.exists()


def test_a_floor_faster_than_the_host_budget_says_the_largest_rate_it_permits(site):
    ratelimit.set_rate(ratelimit.host_key(site.url), 1.5)
    make_source(site.url + "/outra", name="Other", interval_seconds=1)  # already uses 1 of the 1.5 requests/s
    form = form_for(site, poll_floor_seconds=1, poll_ceiling_seconds=10)
    assert not form.is_valid()
    [message] = form.errors["poll_floor_seconds"]
    assert "allows 1.5 requests per second, 0.5 of them left after its other sources" in message
    assert "the fastest poll it permits is every 2 s" in message
    assert not Source.objects.filter(poll_floor_seconds__isnull=False).exists()

    ok = form_for(site, poll_floor_seconds=2, poll_ceiling_seconds=10)
    assert ok.is_valid(), ok.errors


def test_a_host_whose_budget_is_used_up_refuses_any_floor(site):
    ratelimit.set_rate(ratelimit.host_key(site.url), 1)
    make_source(site.url + "/outra", name="Other", interval_seconds=1)
    form = form_for(site, poll_floor_seconds=5, poll_ceiling_seconds=10)
    assert not form.is_valid()
    assert "already use all of it" in form.errors["poll_floor_seconds"][0]


def test_changing_the_bounds_starts_again_from_the_floor(site, settings):
    settings.VIGIA_POLL_BURST_SECONDS = 0
    Page(site, TASKS)
    source = adaptive_source(site, floor=2, ceiling=10)
    check(source)
    check(source)
    source.refresh_from_db()
    assert source.current_interval_seconds == 5
    data = {**form_for(site).data, "poll_floor_seconds": 3, "poll_ceiling_seconds": 30}
    form = SourceForm(data=data, instance=source)
    assert form.is_valid(), form.errors
    form.save()
    source.refresh_from_db()
    assert source.current_interval_seconds is None and Job.objects.get(pk=source.job_id).interval_seconds == 3


def test_the_source_page_and_the_api_show_the_interval_in_force(site, settings, admin_client):
    settings.VIGIA_POLL_BURST_SECONDS = 0
    Page(site, TASKS)
    source = adaptive_source(site, floor=2, ceiling=10)
    check(source)
    html = admin_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()
    assert "every 3 s now (between 2 s after a find and 10 s while nothing changes)" in " ".join(html.split())

    token = tokens.create("adaptive", scopes=["sources:read"])[1]
    answer = Client().get(f"/api/v1/sources/{source.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")
    body = json.loads(answer.content)
    assert (body["poll_floor_seconds"], body["poll_ceiling_seconds"], body["current_interval_seconds"]) == (2, 10, 3)


# --- on real processes ----------------------------------------------------------------------------------------
@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_real_workers_poll_slower_while_quiet_and_fast_again_after_a_find(processes):
    with LoopbackServer() as server:
        served = Page(server, TASKS)
        source = adaptive_source(server, floor=1, ceiling=4)
        processes.scheduler(VIGIA_POLL_BURST_SECONDS="6")
        processes.qcluster(VIGIA_WORKERS=2, VIGIA_POLL_BURST_SECONDS="6")
        wait_for(lambda: Source.objects.get(pk=source.pk).current_interval_seconds == 4, 30, message="backing off")
        time.sleep(9)
        quiet = [b - a for a, b in zip(served.times[-3:], served.times[-2:], strict=False)]
        assert min(quiet) > 2.5  # polled every 4 s while nothing changed (one late start allowed), each a 304
        assert served.conditional >= 3

        served.tasks.insert(0, (3, "Tarefa 3", "Nova"))
        found_at = time.monotonic()
        wait_for(lambda: Item.objects.filter(source=source, key="3").exists(), 10, message="the new task")
        # Back to the floor by the end of the check that stored it (its items commit first).
        wait_for(lambda: Source.objects.get(pk=source.pk).current_interval_seconds == 1, 5, message="the floor")
        wait_for(lambda: len([t for t in served.times if t > found_at]) >= 4, 10, message="fast polls")
        fast = [t for t in served.times if t > found_at][:4]
        assert fast[-1] - fast[0] < 5.5  # every second for the burst window (6 s) after the find, not every 4 s
        wait_for(lambda: Source.objects.get(pk=source.pk).current_interval_seconds == 4, 30, message="quiet again")
