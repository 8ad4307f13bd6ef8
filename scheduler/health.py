"""Engine health: the figures that say whether the engine can do its work, computed once for every reader.

/healthz (config.health) answers probes with them; the system watchdog (channels_app.watchdog) turns the same
figures into alerts, in every live process. Each check takes `now` and returns a small JSON-able dict whose
"ok" says whether it passes; each is one or two indexed queries.

- check_scheduler: a leader whose lease renewal is at most VIGIA_HEALTH_MAX_HEARTBEAT_AGE old.
- check_clusters: at least one worker cluster alive (its presence row not expired).
- check_queue: the oldest task waiting on any queue, at most VIGIA_HEALTH_MAX_QUEUE_AGE old.
- check_dispatch: no enabled job overdue by more than VIGIA_HEALTH_MAX_OVERDUE (dispatch advances).
- queues(): per named queue, its waiting tasks, the oldest, and whether a live cluster serves it.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from scheduler import dispatch, djq, liveness
from scheduler.models import ClusterPresence


def check_scheduler(now: datetime) -> dict[str, Any]:
    """A leader whose lease renewal is recent. Between two leaders (the lease expired, the standby has
    not yet taken it) the age grows for a few seconds only, well under the threshold."""
    leader = liveness.leader(now)
    age = leader.age.total_seconds() if leader and leader.age is not None else None
    ok = age is not None and age <= settings.VIGIA_HEALTH_MAX_HEARTBEAT_AGE
    return {"ok": ok, "leader": bool(leader and leader.alive), "heartbeat_age_s": rounded(age)}


def check_clusters(now: datetime) -> dict[str, Any]:
    alive = sum(1 for cluster in liveness.clusters(now) if cluster.alive)
    return {"ok": alive > 0, "alive": alive}


def check_queue(now: datetime) -> dict[str, Any]:
    """The oldest task waiting on any queue: workers exist but do not keep up (or do not serve a queue)."""
    oldest = min((q.oldest for q in liveness.queue_depths(now) if q.oldest), default=None)
    age = (now - oldest).total_seconds() if oldest else None
    ok = age is None or age <= settings.VIGIA_HEALTH_MAX_QUEUE_AGE
    return {"ok": ok, "oldest_waiting_s": rounded(age)}


def check_dispatch(now: datetime) -> dict[str, Any]:
    """Dispatch advances: no enabled job is overdue by more than VIGIA_HEALTH_MAX_OVERDUE (a leader that
    renews its lease but cannot dispatch fails here)."""
    overdue, job_id = dispatch.most_overdue(now)
    ok = overdue <= settings.VIGIA_HEALTH_MAX_OVERDUE
    return {"ok": ok, "most_overdue_s": rounded(overdue), "most_overdue_job": job_id}


def rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(max(0.0, seconds), 1)


@dataclass(frozen=True)
class QueueHealth:
    name: str
    waiting: int  # tasks ready to start that no cluster has taken
    oldest: datetime | None  # since when the oldest of them could have started
    served: bool  # a live cluster serves this queue

    def oldest_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


def served_queues(now: datetime) -> set[str]:
    """The queues some live worker cluster serves (a presence row without queues serves them all)."""
    served: set[str] = set()
    for queues in ClusterPresence.objects.filter(expires_at__gt=now).values_list("queues", flat=True):
        names = [name.strip() for name in queues.split(",") if name.strip()]
        served.update(names or settings.VIGIA_QUEUES)
    return served


def queues(now: datetime) -> list[QueueHealth]:
    """Each named queue (priority order, then any other key found on the queue table): its waiting tasks, the
    oldest and whether a live cluster serves it. Two queries: the queue's GROUP BY and the live clusters."""
    counts = djq.queue_counts(now)
    served = served_queues(now)
    names = [*settings.VIGIA_QUEUES, *sorted(set(counts) - set(settings.VIGIA_QUEUES))]
    found = []
    for name in names:
        waiting, _taken, oldest = counts.get(name, (0, 0, None))
        found.append(QueueHealth(name, waiting, oldest, name in served))
    return found
