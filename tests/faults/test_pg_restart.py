"""PostgreSQL restarted in the middle of a monitoring cycle, under a scheduler, two clusters and the web.

Nothing is told about the restart: every process must notice its connection died and open a new one.
One restart serves both halves (the work and the web pages), so the shared server is restarted once.
"""

import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from channels_app.models import Event
from scheduler.models import Run
from scrapers import ratelimit
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import services as people
from tests.bench.cycle_bench import make_people
from tests.faults.support import Hammer, group_pids, restart_postgresql, start_web
from tests.loopback.djen import FakeDjen
from tests.support.factories import make_job
from tests.support.processes import wait_for

pytestmark = [
    pytest.mark.process,
    pytest.mark.fault,
    pytest.mark.alone,  # it restarts the server every other test's connections go to
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="restarts the PostgreSQL server; SQLite is a file, with no server or connections to lose",
    ),
]
FAST = {"VIGIA_STALE_AFTER": 4, "VIGIA_HEARTBEAT_SECONDS": 1, "VIGIA_LEASE_TTL": 5}
PEOPLE = 400


def log_in(base_url):
    # Hashed as the web process hashes (the test settings' fast MD5 hasher is not among its hashers).
    password = PBKDF2PasswordHasher().encode("fault-test-pass", "faultsalt")
    get_user_model().objects.create(username="operator", password=password, is_staff=True)
    with httpx.Client(base_url=base_url, timeout=20) as client:
        client.get("/accounts/login/")
        form = {
            "username": "operator",
            "password": "fault-test-pass",
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        }
        answer = client.post("/accounts/login/", data=form)
        assert answer.status_code == 302, answer.text[:500]
        return dict(client.cookies)


def pages(cookies):
    """The login page (anonymous), the health probe, and the overview for a logged-in operator."""
    return [("/accounts/login/", None), ("/healthz", None), ("/", cookies)]


def all_ok(base_url, cookies):
    answers = {path: httpx.get(base_url + path, cookies=jar, timeout=10) for path, jar in pages(cookies)}
    if all(answer.status_code == 200 for answer in answers.values()):
        return True
    last_answers[:] = [(path, answer.status_code, answer.text[:300]) for path, answer in answers.items()]
    return False


def pages_answer_200(base_url, cookies, timeout):
    try:
        wait_for(lambda: all_ok(base_url, cookies), timeout, interval=0.5)
    except AssertionError:
        raise AssertionError(f"pages not all 200 after {timeout} s: {last_answers}") from None


last_answers = []  # the last answers all_ok() did not like, for the failure message


def test_a_postgresql_restart_mid_cycle_loses_and_doubles_nothing_and_pages_stay_friendly(processes):
    with FakeDjen(latency=0.05) as djen:
        ratelimit.set_rate(ratelimit.host_key(djen.url), 1000)  # the workers run with production settings
        persons = make_people(PEOPLE, djen)
        scheduler = processes.scheduler(**FAST)
        clusters = [
            processes.qcluster(f"qcluster-{i}", VIGIA_WORKERS=2, VIGIA_DJEN_URL=djen.url, **FAST) for i in (1, 2)
        ]
        began = time.monotonic()
        web = start_web(processes)
        wait_for(lambda: _answers(web.url), 60, message="the web server")
        print(f"web server up after {time.monotonic() - began:.1f} s")
        cookies = log_in(web.url)
        pages_answer_200(web.url, cookies, 60)

        start = timezone.now().replace(microsecond=0) + timedelta(seconds=2)
        end = start + timedelta(seconds=30)
        every_second = make_job(
            schedule_type="cron", cron="* * * * * *", start_at=start, end_at=end, overlap_policy="allow"
        )
        since = timezone.now()
        MonitoredPerson.objects.update(next_check_at=since)
        assert people.fan_out() == PEOPLE
        checks = Run.objects.filter(job__person__in=persons, scheduled_for__gte=since)

        wait_for(lambda: checks.filter(status="succeeded").count() >= PEOPLE // 5, 60, message="the cycle under way")
        with Hammer(web.url, pages(cookies)) as hammer:
            time.sleep(1)
            outage = restart_postgresql()
            restarted_at = timezone.now()
            done_before = checks.filter(status="succeeded").count()
            pages_answer_200(web.url, cookies, 60)
        print(f"restart took {outage:.1f} s; {done_before}/{PEOPLE} checks done at the restart")

        all_final(checks, 120, "every check to end")
        wait_for(lambda: _job_done(every_second), 60, message="the per-second job to complete")
        all_final(Run.objects.all(), 60, "every run to end")
        print(f"cycle and schedule complete {(timezone.now() - restarted_at).total_seconds():.1f} s after the restart")

    # The web: while the database was away, friendly pages only; afterwards, everything answers again.
    statuses = {status for _, status, _ in hammer.answers}
    assert statuses <= {200, 302, 500, 503}, statuses
    assert statuses & {500, 503}, "no request saw the database away: the restart was not observed"
    leaks = {(path, status, leak) for path, status, leak in hammer.answers if leak}
    assert not leaks, leaks
    assert not {status for path, status, _ in hammer.answers if path == "/" and status not in (200, 503)}

    # The work: each person checked once, each publication stored and announced once.
    assert done_before < PEOPLE, "the cycle ended before the restart: nothing was tested"
    assert MonitoredPerson.objects.filter(last_success_at__gte=since).count() == PEOPLE
    assert Publication.objects.count() == PEOPLE
    assert PublicationMatch.objects.count() == PEOPLE
    assert Event.objects.filter(type="publication.new").count() == PEOPLE
    assert not checks.filter(attempt=1).values("job").annotate(n=Count("id")).filter(n__gt=1).exists()

    # The schedule: every second of the window dispatched once, none lost in the outage.
    moments = sorted(Run.objects.filter(job=every_second, attempt=1).values_list("scheduled_for", flat=True))
    assert moments == [start + timedelta(seconds=i) for i in range(31)]
    assert set(Run.objects.filter(job=every_second).values_list("status", flat=True)) == {"succeeded"}

    # Nobody died and nobody was restarted by hand; both clusters took work after the restart.
    for process in [scheduler, *clusters, web]:
        assert process.alive(), f"{process.name} died:\n{process.output()[-3000:]}"
    workers_after = {
        int(worker.rsplit(":", 1)[1])
        for worker in Run.objects.filter(started_at__gt=restarted_at).values_list("worker", flat=True)
    }
    serving = [cluster for cluster in clusters if workers_after & set(group_pids(cluster.pid))]
    assert len(serving) == 2, f"clusters that ran work after the restart: {[c.name for c in serving]}"


def all_final(runs, timeout, what):
    try:
        wait_for(lambda: not runs.exclude(status__in=Run.FINAL).exists(), timeout, interval=0.5)
    except AssertionError:
        left = Counter(runs.exclude(status__in=Run.FINAL).values_list("status", flat=True))
        raise AssertionError(f"timed out after {timeout} s waiting for {what}: still {dict(left)}") from None


def _answers(base_url):
    try:
        return httpx.get(base_url + "/healthz?probe=live", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _job_done(job):
    job.refresh_from_db()
    return job.completed_at is not None
