"""Is the engine alive? The scheduler leader, the worker clusters and the queues, read from the database.

There is no shared cache (each process has its own LocMem), so django-q2's cluster Stat cannot be seen
from the web process. Instead each cluster's guard loop, which saves its Stat every guard cycle, also
writes its presence row (a ClusterPresence) whose expiry it pushes forward (`beat`, called by our broker's
stat hook in scheduler.djq). A cluster that dies stops renewing it, so "alive" is "its row has not
expired". The scheduler leader is read from its lease (scheduler.lease), the one thing that is elected.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduler import djq, lease
from scheduler.models import ClusterPresence, Lease, Run

FORGET_AFTER = timedelta(days=1)  # presence rows of clusters gone longer than this are deleted


def beat(
    cluster_id: str,
    host: str,
    queues: str = "",
    started: datetime | None = None,
    stopped: bool = False,
    now: datetime | None = None,
) -> None:
    """Write one cluster's presence row (`host`: "host:pid" of its main process): alive for VIGIA_STALE_AFTER
    seconds more, or ended now."""
    now = now or timezone.now()
    cluster_id = cluster_id[:50]
    expires = now if stopped else now + timedelta(seconds=settings.VIGIA_STALE_AFTER)
    seen = {"host": host[:200], "queues": queues[:100], "expires_at": expires, "renewed_at": now}
    if not ClusterPresence.objects.filter(cluster_id=cluster_id).update(**seen):
        # a cluster's first beat: also forget clusters long gone
        ClusterPresence.objects.filter(expires_at__lt=now - FORGET_AFTER).delete()
        ClusterPresence.objects.update_or_create(cluster_id=cluster_id, defaults={**seen, "started_at": started or now})


def short_age(delta: timedelta | None) -> str:
    """A duration as an operator reads it at a glance: "42 s", "5 min", "3 h", "2 d" (None: "-")."""
    if delta is None:
        return "-"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return _("%(n)d s") % {"n": seconds}
    if seconds < 2 * 3600:
        return _("%(n)d min") % {"n": seconds // 60}
    if seconds < 2 * 86400:
        return _("%(n)d h") % {"n": seconds // 3600}
    return _("%(n)d d") % {"n": seconds // 86400}


@dataclass
class Presence:
    """The scheduler leader or one worker cluster, as its lease row says."""

    name: str
    holder: str
    renewed_at: datetime | None
    started_at: datetime | None
    alive: bool
    age: timedelta | None  # since the last heartbeat

    @property
    def age_text(self) -> str:
        return short_age(self.age)


def _presence(row: Lease, now: datetime) -> Presence:
    alive = bool(row.holder and row.expires_at and row.expires_at > now)
    age = now - row.renewed_at if row.renewed_at else None
    return Presence(row.name, row.holder, row.renewed_at, row.acquired_at, alive, age)


def leader(now: datetime | None = None) -> Presence | None:
    """The scheduler lease: who leads and how long ago it renewed; None when no scheduler ever ran."""
    row = lease.current()
    return _presence(row, now or timezone.now()) if row else None


def clusters(now: datetime | None = None, seen_within: timedelta = timedelta(hours=1)) -> list[Presence]:
    """Worker clusters that beat within `seen_within`, alive ones first."""
    now = now or timezone.now()
    rows = ClusterPresence.objects.filter(renewed_at__gte=now - seen_within)
    found = [
        Presence(
            name=row.cluster_id[:8],
            holder=f"{row.host} [{row.queues}]" if row.queues else row.host,
            renewed_at=row.renewed_at,
            started_at=row.started_at,
            alive=row.expires_at > now,
            age=now - row.renewed_at,
        )
        for row in rows
    ]
    return sorted(found, key=lambda p: (not p.alive, p.holder))


@dataclass
class QueueDepth:
    name: str
    waiting: int = 0  # on django-q2's queue, not yet taken
    taken: int = 0  # taken by a cluster, not yet acknowledged (running or about to)
    oldest: datetime | None = None  # when the oldest waiting task was queued
    oldest_age: str = "-"


def queue_depths(now: datetime | None = None) -> list[QueueDepth]:
    """Per named queue (in priority order), from django-q2's queue in one GROUP BY (scheduler.djq).

    A waiting task's lock is the time it was queued (or its `not_before`), or, when a lost worker's task
    came back, the time it came back; a taken task's lock lies in the future (the broker's retry deadline,
    or a `not_before` still to come).
    """
    now = now or timezone.now()
    depths = {name: QueueDepth(name) for name in settings.VIGIA_QUEUES}
    for key, (waiting, taken, oldest) in djq.queue_counts(now).items():
        age = short_age(now - oldest) if oldest else "-"
        depths[key] = QueueDepth(key, waiting, taken, oldest, age)
    return list(depths.values())


def running_runs(now: datetime | None = None, limit: int = 50) -> list[Run]:
    """Runs a worker is executing now, longest-running first (the run_running partial index); each with
    `running_for` and `heartbeat_age` texts."""
    now = now or timezone.now()
    fields = ("id", "status", "started_at", "heartbeat_at", "worker", "attempt", "cancel_requested")
    runs: list[Any] = list(  # Runs, each given display texts below
        Run.objects.filter(status=Run.Status.RUNNING)
        .select_related("job")
        .only(*fields, "job__id", "job__name", "job__kind", "job__queue")
        .order_by("started_at", "id")[:limit]
    )
    for run in runs:
        run.running_for = short_age(now - run.started_at if run.started_at else None)
        run.heartbeat_age = short_age(now - run.heartbeat_at if run.heartbeat_at else None)
    return runs


def waiting_runs(now: datetime | None = None, limit: int = 50) -> list[Run]:
    """Runs queued (or waiting out a retry backoff), the oldest first; each with a `waiting_for` text."""
    now = now or timezone.now()
    fields = ("id", "status", "queued_at", "due_at", "attempt", "trigger")
    runs: list[Any] = list(  # Runs, each given a display text below
        Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.RETRYING])
        .select_related("job")
        .only(*fields, "job__id", "job__name", "job__kind", "job__queue")
        .order_by("due_at", "id")[:limit]
    )
    for run in runs:
        since = run.queued_at or run.due_at
        run.waiting_for = short_age(now - since) if since and since <= now else "-"
    return runs
