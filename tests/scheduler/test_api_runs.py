"""Runs and the queue through the API: a run forced now shows in the job's runs and on its own, runs page newest
first, a queued run is cancelled (a finished one is 409), and /queue shows what the dashboard's Queue page does."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app import tokens
from scheduler import liveness, services
from scheduler.models import ClusterPresence, Job, Lease, Run

pytestmark = pytest.mark.django_db

JOBS, RUNS = "/api/v1/jobs", "/api/v1/runs"


@pytest.fixture
def raw():
    return tokens.create("ops", scopes=["jobs:write", "queue:read"])[1]


@pytest.fixture
def job():
    return services.save_job(Job(name="ping", kind="noop", schedule_type="manual"))


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_a_run_forced_now_shows_in_the_jobs_runs_and_on_its_own(client, raw, job):
    forced = client.post(f"{JOBS}/{job.pk}/run", **auth(raw))
    assert forced.status_code == 202, forced.content
    run = forced.json()
    assert run["job_id"] == job.pk and run["status"] == "queued" and run["trigger"] == "api"
    assert run["attempt"] == 1 and run["finished_at"] is None and run["result"] is None

    listed = client.get(f"{JOBS}/{job.pk}/runs", **auth(raw)).json()
    assert [r["id"] for r in listed["items"]] == [run["id"]] and listed["next_cursor"] is None
    assert client.get(f"{RUNS}/{run['id']}", **auth(raw)).json() == run
    assert client.get(f"{JOBS}/{job.pk}", **auth(raw)).json()["last_run"]["id"] == run["id"]
    assert Job.objects.get(pk=job.pk).occurrences == 0  # outside the schedule


def test_a_finished_run_shows_its_outcome(client, raw, job):
    now = timezone.now()
    run = Run.objects.create(
        job=job,
        scheduled_for=now - timedelta(seconds=5),
        due_at=now - timedelta(seconds=5),
        started_at=now - timedelta(seconds=4),
        finished_at=now,
        duration_ms=4000,
        status=Run.Status.FAILED,
        attempt=2,
        trigger=Run.Trigger.RETRY,
        result={"status": 503},
        error="HTTP 503 from a.example",
    )
    shown = client.get(f"{RUNS}/{run.pk}", **auth(raw)).json()
    assert shown["status"] == "failed" and shown["attempt"] == 2 and shown["trigger"] == "retry"
    assert shown["duration_ms"] == 4000 and shown["result"] == {"status": 503}
    assert shown["error"] == "HTTP 503 from a.example" and shown["finished_at"] == now.isoformat()


def test_runs_page_newest_first(client, raw, job):
    start = timezone.now() - timedelta(days=1)
    made = [
        Run.objects.create(job=job, scheduled_for=start + timedelta(minutes=n), due_at=start, status="succeeded")
        for n in range(7)
    ]
    # a retry of the oldest made last: shown by when it was scheduled for, next to its first attempt
    retry = Run.objects.create(job=job, scheduled_for=made[0].scheduled_for, attempt=2, due_at=start)
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{JOBS}/{job.pk}/runs", query, **auth(raw)).json()
        seen += [run["id"] for run in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [run.pk for run in reversed(made[1:])] + [retry.pk, made[0].pk]
    other = services.save_job(Job(name="other", kind="noop", schedule_type="manual"))
    assert client.get(f"{JOBS}/{other.pk}/runs", **auth(raw)).json() == {"items": [], "next_cursor": None}
    bad = client.get(f"{JOBS}/{job.pk}/runs", {"cursor": "zz!"}, **auth(raw))
    assert bad.status_code == 422 and list(bad.json()["errors"]) == ["cursor"]
    assert client.get(f"{JOBS}/{job.pk}/runs", {"limit": 501}, **auth(raw)).status_code == 422
    assert client.get(f"{JOBS}/999999/runs", **auth(raw)).status_code == 404


def test_cancelling_a_queued_run_and_then_again(client, raw, job):
    run = services.run_now(job)
    cancelled = client.post(f"{RUNS}/{run.pk}/cancel", **auth(raw))
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"]
    again = client.post(f"{RUNS}/{run.pk}/cancel", **auth(raw))
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_a_running_run_is_asked_to_stop(client, raw, job):
    now = timezone.now()
    run = Run.objects.create(job=job, scheduled_for=now, due_at=now, started_at=now, status=Run.Status.RUNNING)
    answer = client.post(f"{RUNS}/{run.pk}/cancel", **auth(raw))
    assert answer.status_code == 200
    assert answer.json()["status"] == "running" and answer.json()["cancel_requested"] is True


@pytest.mark.parametrize("run_id", ["0", "9223372036854775808", "1e3", "-5"])
def test_ids_no_run_can_have_are_404(client, raw, run_id):
    assert client.get(f"{RUNS}/{run_id}", **auth(raw)).status_code == 404
    assert client.post(f"{RUNS}/{run_id}/cancel", **auth(raw)).status_code == 404


def test_the_queue_shows_what_the_queue_page_shows(client, raw, job):
    now = timezone.now()
    waiting = services.run_now(job)
    running = Run.objects.create(job=job, scheduled_for=now, due_at=now, started_at=now, status=Run.Status.RUNNING)
    liveness.beat("c1" * 10, "worker-host:42", queues="high,default", now=now)
    Lease.objects.update_or_create(
        name="scheduler",
        defaults={"holder": "sched-host:7", "expires_at": now + timedelta(seconds=30), "renewed_at": now},
    )
    answer = client.get("/api/v1/queue", **auth(raw))
    assert answer.status_code == 200, answer.content
    queue = answer.json()
    depths = {depth.name: depth for depth in liveness.queue_depths()}
    assert {q["name"]: (q["waiting"], q["taken"]) for q in queue["queues"]} == {
        name: (depth.waiting, depth.taken) for name, depth in depths.items()
    }
    assert next(q for q in queue["queues"] if q["name"] == job.queue)["waiting"] == 1
    assert [r["id"] for r in queue["waiting"]] == [waiting.pk] and queue["waiting"][0]["job_name"] == "ping"
    assert [r["id"] for r in queue["running"]] == [running.pk]
    assert queue["clusters"][0]["holder"] == "worker-host:42 [high,default]" and queue["clusters"][0]["alive"]
    assert ClusterPresence.objects.count() == 1
    assert queue["leader"]["holder"] == "sched-host:7" and queue["leader"]["alive"] is True


def test_the_queue_needs_its_scope(client, job):
    jobs_only = tokens.create("jobs only", scopes=["jobs:write"])[1]
    refused = client.get("/api/v1/queue", **auth(jobs_only))
    assert refused.status_code == 403 and "queue:read" in refused.json()["detail"]
    reader = tokens.create("reader", scopes=["jobs:read"])[1]
    run = services.run_now(job)
    for url in (f"{JOBS}/{job.pk}/run", f"{RUNS}/{run.pk}/cancel"):
        answer = client.post(url, json.dumps({}), content_type="application/json", **auth(reader))
        assert answer.status_code == 403 and "jobs:write" in answer.json()["detail"]
    assert Run.objects.get().status == Run.Status.QUEUED
    assert client.get(f"{RUNS}/{run.pk}", **auth(reader)).status_code == 200
