"""The Queue page as an operator reads it: per queue what waits, what a worker cluster has taken but not started
and what runs, each under the queue its task is on; runs ended per minute; and how far "Check all people now"
is, with the time left from its observed rate and DJEN's rate limit."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from channels_app import tokens
from scheduler import progress, queue, services
from scheduler.models import Budget, Job, Run
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db
URL = "/queue/"


def _take(run_ids, moment=None):
    """What the broker does when a cluster takes rows (scheduler.djq._take): the lock pushed Conf.RETRY ahead."""
    moment = moment or timezone.now()
    rows = [row for row in OrmQ.objects.all() if queue.djq.read_task(row.payload)["args"][0] in run_ids]
    OrmQ.objects.filter(pk__in=[row.pk for row in rows]).update(lock=moment + timedelta(seconds=Conf.RETRY))


def _cells(html, name):
    return {q: html.split(f'id="{name}-{q}">', 1)[1].split("<", 1)[0] for q in ("high", "default", "low")}


def test_waiting_taken_running_and_later_are_counted_apart_under_the_queue_they_are_on(viewer_client):
    now = timezone.now()
    waiting = services.run_now(make_job(name="Waits", queue="low"))
    forced = make_job(name="Forced check", queue="default")
    services.run_many([forced], queue_name="high")  # as the admin's "check now" does: on high, its job says default
    (taken,) = Run.objects.filter(job=forced)
    _take([taken.pk])
    busy = Run.objects.create(
        job=make_job(name="Busy", queue="default"),
        scheduled_for=now,
        due_at=now,
        queued_at=now,
        started_at=now - timedelta(seconds=20),
        heartbeat_at=now,
        status=Run.Status.RUNNING,
        worker="box:1",
    )
    queue.enqueue([(busy.pk, "high", 60)])
    _take([busy.pk])
    later_job = make_job(name="Later", queue="default")
    later = Run.objects.create(
        job=later_job, scheduled_for=now + timedelta(minutes=10), due_at=now + timedelta(minutes=10)
    )
    queue.enqueue([(later.pk, "default", 60)], not_before=now + timedelta(minutes=10))

    html = viewer_client.get(URL).content.decode()

    assert _cells(html, "waiting") == {"high": "0", "default": "0", "low": "1"}
    assert _cells(html, "taken") == {"high": "1", "default": "0", "low": "0"}
    assert _cells(html, "running") == {"high": "1", "default": "0", "low": "0"}
    assert _cells(html, "later") == {"high": "0", "default": "1", "low": "0"}
    taken_list = html.split('id="queue-taken"', 1)[1].split("</section>", 1)[0]
    assert f'href="/runs/{taken.pk}/"' in taken_list and "Forced check" in taken_list
    assert "<td>High</td>" in taken_list and "taken by a worker cluster" in taken_list
    assert f'href="/runs/{waiting.pk}/"' not in taken_list and f'href="/runs/{busy.pk}/"' not in taken_list
    running_row = html.split(f'href="/runs/{busy.pk}/"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="hide-sm">High</td>' in running_row  # the queue it is counted under, not its job's


def test_rates_per_minute_come_from_the_runs_that_ended(viewer_client):
    job, now = make_job(queue="default"), timezone.now()
    for i, minutes_ago in enumerate([1, 2, 3, 8, 9, 12, 20]):  # 3 in the last 5 min, 6 in the last 15
        ended = now - timedelta(minutes=minutes_ago)
        Run.objects.create(
            job=job,
            scheduled_for=ended - timedelta(seconds=i + 1),
            due_at=ended,
            started_at=ended,
            finished_at=ended,
            status=Run.Status.SUCCEEDED,
        )
    html = viewer_client.get(URL).content.decode()
    assert 'id="rate5-default">0.6<' in html and 'id="rate15-default">0.4<' in html
    assert 'id="rate5-all">0.6<' in html and 'id="rate5-low">0.0<' in html


def _sync(now, status=Run.Status.SUCCEEDED, result=None, children_done=10, children_left=20):
    parent = make_job(name="Check every monitored person now", schedule_type="manual")
    Job.objects.filter(pk=parent.pk).update(kind="sync_people")
    started = now - timedelta(minutes=6)
    run = Run.objects.create(
        job_id=parent.pk,
        scheduled_for=started,
        due_at=started,
        started_at=started,
        finished_at=None if status == Run.Status.RUNNING else started + timedelta(seconds=5),
        status=status,
        trigger=Run.Trigger.MANUAL,
        result=result if result is not None else {"queued": children_done + children_left},
    )
    child = make_job(name="check person", schedule_type="manual")
    Job.objects.filter(pk=child.pk).update(kind="check_person")
    first = now - timedelta(minutes=5)
    for i in range(children_done + children_left):
        over = i < children_done
        Run.objects.create(
            job_id=child.pk,
            scheduled_for=started + timedelta(seconds=1, microseconds=i),
            due_at=started,
            started_at=first if over else None,
            finished_at=first + timedelta(minutes=1) if over else None,
            status=Run.Status.SUCCEEDED if over else Run.Status.QUEUED,
            trigger=Run.Trigger.MANUAL,
        )
    return run


def test_a_bulk_sync_shows_its_progress_and_the_time_left_at_the_observed_rate(viewer_client, settings):
    settings.VIGIA_DJEN_URL, settings.VIGIA_HOST_RATE = "http://djen.test", 1.0  # 60 a minute: not the bound
    now = timezone.now()
    run = _sync(now)
    found = progress.bulk(now)
    assert (found.run, found.total, found.done, found.remaining) == (run, 30, 10, 20)
    assert found.rate_per_minute == pytest.approx(2.0)  # 10 done in the 5 minutes since the first began
    assert found.limit_per_minute == pytest.approx(60.0)
    assert found.eta == timedelta(minutes=10)  # 20 left at 2 a minute
    html = viewer_client.get(URL).content.decode()
    assert "10 of 30 runs done" in html and "about 10 min left" in html and f'href="/runs/{run.pk}/"' in html


def test_the_rate_limit_bounds_the_estimate_when_it_is_slower(settings):
    settings.VIGIA_DJEN_URL = "http://djen.test:8080/api"
    Budget.objects.create(name="host:djen.test:8080", per_second=0.01)  # 0.6 requests a minute
    now = timezone.now()
    _sync(now)
    found = progress.bulk(now)
    assert found.limit_per_minute == pytest.approx(0.6)
    assert found.eta == timedelta(minutes=20 / 0.6)
    assert progress.time_left(20, None, None) is None
    assert progress.time_left(20, None, 4.0) == timedelta(minutes=5)  # before any rate: the limit's bound


def test_while_queuing_the_whole_fan_out_counts(viewer_client):
    now = timezone.now()
    _sync(
        now, status=Run.Status.RUNNING, result={"done": 5, "total": 40, "queued": 5}, children_done=2, children_left=3
    )
    found = progress.bulk(now)
    assert (found.queuing, found.total, found.done) == ((5, 40), 40, 2)
    html = viewer_client.get(URL).content.decode()
    assert "Queuing: 5 of 40" in html and "2 of 40 runs done" in html


def test_no_bulk_section_without_a_bulk_run(viewer_client):
    assert progress.bulk() is None
    assert 'id="queue-bulk"' not in viewer_client.get(URL).content.decode()


def test_the_api_reports_the_same_figures(client):
    raw = tokens.create("ops", scopes=["queue:read"])[1]
    forced = make_job(name="Forced", queue="default")
    services.run_many([forced], queue_name="high")
    _take(list(Run.objects.filter(job=forced).values_list("pk", flat=True)))
    _sync(timezone.now())
    answer = client.get("/api/v1/queue", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    high = next(q for q in answer["queues"] if q["name"] == "high")
    assert (high["waiting"], high["taken"], high["running"], high["later"]) == (0, 1, 0, 0)
    assert [(t["queue"], t["job_name"]) for t in answer["taken"]] == [("high", "Forced")]
    assert answer["bulk"]["total"] == 30 and answer["bulk"]["done"] == 10
    assert answer["bulk"]["eta_seconds"] == pytest.approx(600, rel=0.05)
