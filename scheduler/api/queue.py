"""The queue endpoint of the jobs API: what the dashboard's Queue page shows."""

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Status

from scheduler import liveness, progress
from scheduler.api.documents import QueueOut
from scheduler.api.routes import router
from scheduler.models import Run
from scheduler.shared.api import ErrorOut, iso, require


# --- Queue ------------------------------------------------------------------------------------------------
def _presence(found: liveness.Presence) -> dict[str, Any]:
    return {
        "name": found.name,
        "holder": found.holder,
        "alive": found.alive,
        "renewed_at": iso(found.renewed_at),
        "started_at": iso(found.started_at),
        "age_seconds": found.age.total_seconds() if found.age is not None else None,
    }


def _active(runs: Iterable[Run], times: Iterable[str]) -> list[dict[str, Any]]:
    names = tuple(times)
    return [
        {
            "id": run.pk,
            "job_id": run.job.pk,
            "job_name": run.job.name,
            "status": run.status,
            "attempt": run.attempt,
            **{name: iso(getattr(run, name)) for name in names},
        }
        for run in runs
    ]


def _bulk(found: progress.Bulk | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "run_id": found.run.pk,
        "job_name": found.run.job.name,
        "status": found.run.status,
        "total": found.total,
        "done": found.done,
        "queuing_done": found.queuing[0] if found.queuing else None,
        "rate_per_minute": found.rate_per_minute,
        "limit_per_minute": found.limit_per_minute,
        "eta_seconds": found.eta.total_seconds() if found.eta is not None else None,
    }


@router.get(
    "/queue",
    response={200: QueueOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut},
    summary="The queue",
    description=(
        "Scope queue:read. What the dashboard's Queue page shows: per named queue the tasks waiting, taken by a "
        "worker cluster (not started), running and queued for later, since when the oldest waits and the runs "
        "ended per minute; the tasks taken, the runs running and waiting, the latest bulk fan-out's progress "
        "and time left, the worker clusters and the scheduler leader."
    ),
    operation_id="get_queue",
    tags=["queue"],
)
def get_queue(request: HttpRequest) -> Status[dict[str, Any]]:
    require(request, "queue")
    now = timezone.now()
    leader = liveness.leader(now)
    state = liveness.queue_state(now)
    return Status(
        200,
        {
            "queues": [
                {
                    "name": q.name,
                    "waiting": q.waiting,
                    "taken": q.taken,
                    "running": q.running,
                    "later": q.later,
                    "oldest": iso(q.oldest),
                    "done_per_minute_5": q.rate_5,
                    "done_per_minute_15": q.rate_15,
                }
                for q in state.queues
            ],
            "taken": [
                {
                    "queue": task.queue,
                    "name": task.name,
                    "run_id": task.run.pk if task.run else None,
                    "job_id": task.run.job.pk if task.run else None,
                    "job_name": task.run.job.name if task.run else None,
                }
                for task in state.taken
            ],
            "bulk": _bulk(progress.bulk(now)),
            "running": _active(state.running, ("started_at", "heartbeat_at")),
            "waiting": _active(liveness.waiting_runs(now), ("queued_at", "due_at")),
            "clusters": [_presence(found) for found in liveness.clusters(now)],
            "leader": _presence(leader) if leader is not None else None,
        },
    )
