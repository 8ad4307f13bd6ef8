"""A run that has not started says why on its page: no worker cluster, none serving its queue, tasks ahead of it
(with the time left at the recent pace), a busy pool, or its start time still to come."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduler import liveness, services
from scheduler.models import Run
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db


def _reason(client, run):
    html = client.get(f"/runs/{run.pk}/").content.decode()
    if 'data-testid="run-waiting">' not in html:
        return ""
    return html.split('data-testid="run-waiting">', 1)[1].split("</p>", 1)[0]


def _cluster(queues="", alive=True):
    now = timezone.now()
    liveness.beat(f"c-{queues or 'all'}", "box:1", queues, now, stopped=not alive, now=now)


def _age(run, seconds):
    Run.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(seconds=seconds))


def test_no_cluster_running_is_said_at_once(viewer_client):
    run = services.run_now(make_job(name="Nobody home"))
    assert "No worker cluster is running" in _reason(viewer_client, run)
    _cluster(alive=False)  # a cluster that stopped does not count
    assert "No worker cluster is running" in _reason(viewer_client, run)


def test_no_cluster_serving_its_queue(viewer_client):
    run = services.run_now(make_job(name="Low one", queue="low"))
    _cluster("high,default")
    reason = _reason(viewer_client, run)
    assert "serves the “low” queue" in reason and "high, default" in reason


def test_tasks_ahead_with_the_time_left_at_the_recent_pace(viewer_client):
    _cluster()
    now = timezone.now()
    job = make_job(name="Busy queue", queue="default")
    for minute in range(10):  # 10 runs ended in the last 5 minutes: 2 a minute
        at = now - timedelta(seconds=20 * minute + 5)
        Run.objects.create(job=job, scheduled_for=at, due_at=at, status="succeeded", finished_at=at)
    first = [services.run_now(make_job(name=f"Ahead {n}", queue="default")) for n in range(4)]
    run = services.run_now(make_job(name="Mine", queue="default"))
    _age(run, 60)
    reason = _reason(viewer_client, run)
    assert "4 tasks are waiting ahead of it on the “default” queue" in reason
    assert "2.0 a minute" in reason and "about 2 min" in reason
    assert len(first) == 4


def test_a_free_worker_is_awaited_when_nothing_is_ahead(viewer_client):
    _cluster()
    run = services.run_now(make_job(name="Next in line"))
    assert _reason(viewer_client, run) == ""  # just queued: being picked up, nothing to explain
    _age(run, 90)
    assert "for a free worker: 0 runs of the “default” queue are running" in _reason(viewer_client, run)


def test_a_retry_waits_for_its_start_time(viewer_client, settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    _cluster()
    job = make_job(name="Retrying")
    later = timezone.now() + timedelta(minutes=3)
    run = Run.objects.create(job=job, scheduled_for=later, due_at=later, status="retrying", attempt=2)
    reason = _reason(viewer_client, run)
    assert reason.startswith("An attempt failed; the next one starts at ")
    assert timezone.localtime(later).strftime("%Y-%m-%d %H:%M") in reason


def test_a_final_run_explains_nothing(viewer_client):
    run = services.run_now(make_job(name="Done"))
    Run.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    assert _reason(viewer_client, run) == ""


def test_the_reason_is_in_portuguese(viewer_client):
    run = services.run_now(make_job(name="Ninguém"))
    viewer_client.cookies["django_language"] = "pt-br"
    reason = _reason(viewer_client, run)
    assert reason and "No worker" not in reason
