"""The queue endpoint of the jobs API: what the dashboard's Queue page shows."""

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Status

from scheduler import liveness
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


@router.get(
    "/queue",
    response={200: QueueOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut},
    summary="The queue",
    description=(
        "Scope queue:read. What the dashboard's Queue page shows: per named queue the tasks waiting and taken "
        "and since when the oldest waits, the runs running and waiting, the worker clusters and the scheduler "
        "leader."
    ),
    operation_id="get_queue",
    tags=["queue"],
)
def get_queue(request: HttpRequest) -> Status[dict[str, Any]]:
    require(request, "queue")
    now = timezone.now()
    leader = liveness.leader(now)
    return Status(
        200,
        {
            "queues": [
                {"name": q.name, "waiting": q.waiting, "taken": q.taken, "oldest": iso(q.oldest)}
                for q in liveness.queue_depths(now)
            ],
            "running": _active(liveness.running_runs(now), ("started_at", "heartbeat_at")),
            "waiting": _active(liveness.waiting_runs(now), ("queued_at", "due_at")),
            "clusters": [_presence(found) for found in liveness.clusters(now)],
            "leader": _presence(leader) if leader is not None else None,
        },
    )
