"""One bad row never stops the rest, with a real scheduler and cluster: jobs whose zone does not exist,
whose kind is no longer installed and whose params their kind rejects sit beside a healthy job every 2 s.
The healthy job keeps its schedule; the bad ones are paused with their reason; /healthz tells the truth.
A poison pill (a run that kills its worker every time) is given up after VIGIA_MAX_DELIVERIES deaths."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from channels_app.models import Event
from config import health
from scheduler.models import Job, Run
from tests.support.factories import make_job
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_bad_jobs_are_paused_with_their_reason_and_the_healthy_one_keeps_its_schedule(processes):
    processes.scheduler()
    processes.qcluster(VIGIA_WORKERS=2)
    start = timezone.now().replace(microsecond=0) + timedelta(seconds=4)
    start += timedelta(seconds=start.second % 2)  # an even second: the healthy job's first occurrence
    healthy = make_job(name="healthy", schedule_type="cron", cron="*/2 * * * * *", timezone="UTC", start_at=start)
    zone = make_job(name="zone gone", schedule_type="cron", cron="* * * * * *", timezone="UTC", start_at=start)
    Job.objects.filter(pk=zone.pk).update(timezone="Atlantis/Capital")
    kind = make_job(name="kind gone", schedule_type="interval", interval_seconds=1, start_at=start)
    Job.objects.filter(pk=kind.pk).update(kind="uninstalled")
    # Its params are checked by the worker when the run starts: a 3 s interval leaves a loaded machine the time
    # to end that run (and pause the job) before the next occurrence is due.
    params = make_job(
        name="params rejected", kind="test_sleep", params={"seconds": 0}, interval_seconds=3, start_at=start
    )
    Job.objects.filter(pk=params.pk).update(params={"seconds": "a while"})

    time.sleep(max(0.0, (start - timezone.now()).total_seconds()) + 12)

    for job, reason in (
        (zone, "Unknown time zone 'Atlantis/Capital'"),
        (kind, "Unknown kind 'uninstalled'"),
        (params, "params.seconds"),
    ):
        job.refresh_from_db()
        assert not job.enabled and reason in job.paused_reason, (job.name, job.paused_reason)
        assert Event.objects.filter(topic=f"job:{job.pk}:failed").count() == 1, job.name
        assert Run.objects.filter(job=job).count() == 1, job.name

    moments = sorted(Run.objects.filter(job=healthy).values_list("scheduled_for", flat=True))
    assert len(moments) >= 5 and moments[0] == start
    assert all(b - a == timedelta(seconds=2) for a, b in zip(moments, moments[1:], strict=False)), moments
    # The healthy job keeps firing while we look: judge the runs seen so far, not the ones queued since.
    seen = Run.objects.filter(job=healthy, scheduled_for__lte=moments[-1])
    wait_for(lambda: not seen.filter(status__in=Run.ACTIVE).exists(), 10, message="runs end")
    assert set(seen.values_list("status", flat=True)) == {"succeeded"}

    response = Client().get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["dispatch"]["ok"] and body["checks"]["dispatch"]["most_overdue_s"] < 5


def test_healthz_fails_when_dispatch_does_not_advance(settings):
    """No scheduler is running: the job's due time passes and stays passed; health says so."""
    settings.VIGIA_HEALTH_MAX_OVERDUE = 1
    job = make_job(name="waiting", next_run_at=timezone.now() - timedelta(seconds=5))
    healthy, checks = health.report()
    assert not healthy and not checks["dispatch"]["ok"]
    assert checks["dispatch"]["most_overdue_job"] == job.pk and checks["dispatch"]["most_overdue_s"] >= 5


def test_a_run_that_kills_its_worker_every_time_is_given_up_and_others_still_run(processes):
    processes.scheduler(VIGIA_STALE_AFTER=2, VIGIA_HEARTBEAT_SECONDS=0.5)
    processes.qcluster(VIGIA_WORKERS=2, VIGIA_STALE_AFTER=2, VIGIA_HEARTBEAT_SECONDS=0.5)
    pill = make_job(
        name="poison pill", kind="test_suicide", schedule_type="once", run_at=timezone.now() + timedelta(seconds=3)
    )
    steady = make_job(name="steady", interval_seconds=1)
    run = wait_for(
        lambda: Run.objects.filter(job=pill, status="failed").first(), 90, message="the poison pill to be given up"
    )
    assert run.losses == 3 and run.pickups == 3 and "Giving up" in run.error
    assert Event.objects.filter(topic=f"job:{pill.pk}:failed").count() == 1
    assert Run.objects.filter(job=steady, status="succeeded").count() >= 5
