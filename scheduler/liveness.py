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
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduler import djq, lease, queue
from scheduler.models import ClusterPresence, Lease, Run

FORGET_AFTER = timedelta(days=1)  # presence rows of clusters gone longer than this are deleted
JOB_NAME = ("job__external_service", "job__external_key")  # with job__name: its name in the reader's language


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
        .only(*fields, "job__id", "job__name", "job__kind", "job__queue", *JOB_NAME)
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
        .only(*fields, "job__id", "job__name", "job__kind", "job__queue", *JOB_NAME)
        .order_by("due_at", "id")[:limit]
    )
    for run in runs:
        since = run.queued_at or run.due_at
        run.waiting_for = short_age(now - since) if since and since <= now else "-"
    return runs


# --- the Queue page: waiting, taken and running per queue, the rates, the taken tasks ---------------------

IN_HAND_ROWS = 500  # queue rows with a lock ahead read and sorted out per look (more are counted as taken)
WAITING_ROWS = 50  # per queue, the first waiting rows read to know which queue a waiting run is under


@dataclass
class QueueLoad:
    """One named queue as the Queue page shows it; each task is counted once.

    waiting: on the queue, ready, no cluster has taken it. taken: a cluster pulled it (its lock lies ahead,
    Conf.RETRY seconds after it took it) but its run has not started: it waits in the cluster's internal
    queue for a free worker. running: its run is running. later: queued to start later (a `not_before`: a
    run queued ahead of its time or put back for its rate-limit slot), not takeable until then.
    """

    name: str
    waiting: int = 0
    taken: int = 0
    running: int = 0
    later: int = 0
    oldest: datetime | None = None  # since when the oldest waiting task could have started
    oldest_age: str = "-"
    done_5: int = 0  # runs of this queue's jobs that ended in the last 5 minutes
    done_15: int = 0

    @property
    def rate_5(self) -> float:
        return self.done_5 / 5

    @property
    def rate_15(self) -> float:
        return self.done_15 / 15


@dataclass
class TakenTask:
    """A task a cluster took and has not started: its run (None for a task that is no run), its queue."""

    queue: str
    name: str
    run: Run | None


@dataclass
class QueueState:
    queues: list[QueueLoad]
    running: list[Any]  # Runs executing now, each with `queue` (the one it is counted under) and display texts
    taken: list[TakenTask]
    queue_of: dict[int, str]  # run id -> the queue its task is on, for the runs whose row was read

    @property
    def total(self) -> QueueLoad:
        found = QueueLoad("")
        for q in self.queues:
            found.waiting, found.taken, found.running = (
                found.waiting + q.waiting,
                found.taken + q.taken,
                found.running + q.running,
            )
            found.later, found.done_5, found.done_15 = (
                found.later + q.later,
                found.done_5 + q.done_5,
                found.done_15 + q.done_15,
            )
        return found


def _queue_rows(now: datetime) -> list[tuple[int, str, bool, bool, str]]:
    """(id, queue, waiting, within_retry, payload): each queue's first WAITING_ROWS ready rows (the
    vigia_ormq_key_id index) and up to IN_HAND_ROWS rows whose lock lies ahead, in one statement."""
    quote, adapt = connection.ops.quote_name, connection.ops.adapt_datetimefield_value
    table, key, lock = quote(djq.OrmQ._meta.db_table), quote("key"), quote("lock")
    names = list(settings.VIGIA_QUEUES)
    parts = [
        f"w{i} AS (SELECT id, {key} AS k, 1 AS w, 0 AS r, payload FROM {table} "
        f"WHERE {key} = %s AND {lock} <= %s ORDER BY id LIMIT %s)"
        for i in range(len(names))
    ]
    parts.append(
        f"h AS (SELECT id, {key} AS k, 0 AS w, CASE WHEN {lock} <= %s THEN 1 ELSE 0 END AS r, payload "
        f"FROM {table} WHERE {lock} > %s LIMIT %s)"
    )
    pick = " UNION ALL ".join(
        [*(f"SELECT id, k, w, r, payload FROM w{i}" for i in range(len(names))), "SELECT id, k, w, r, payload FROM h"]
    )
    at = adapt(now)
    params: list[Any] = [value for name in names for value in (name, at, WAITING_ROWS)]
    params += [adapt(now + timedelta(seconds=djq.Conf.RETRY)), at, IN_HAND_ROWS]
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {pick}", params)
        return [(row[0], row[1], bool(row[2]), bool(row[3]), row[4]) for row in cursor.fetchall()]


def _run_of(payload: str) -> tuple[int | None, str, bool]:
    """(run id or None, task name, put back for later) of a queue row's task."""
    try:
        task = djq.read_task(payload)
    except Exception:  # noqa: BLE001 - a row we cannot read is still counted, as a task without a run
        return None, "?", False
    args: list[Any] = list(task.get("args") or [])
    run_id = args[0] if task.get("func") == queue.EXECUTE and args and isinstance(args[0], int) else None
    return run_id, str(task.get("name", "")), bool((task.get("kwargs") or {}).get("held"))


def _rates(now: datetime) -> dict[str, tuple[int, int]]:
    """{job queue: (ended in the last 5 min, in the last 15)} from Run.finished_at, in one GROUP BY."""
    rows = (
        Run.objects.filter(finished_at__gte=now - timedelta(minutes=15), finished_at__lte=now)
        .values("job__queue")
        .annotate(
            last5=Count("id", filter=Q(finished_at__gte=now - timedelta(minutes=5))),
            last15=Count("id"),
        )
        .order_by()
    )
    return {row["job__queue"]: (row["last5"], row["last15"]) for row in rows}


def queue_state(now: datetime | None = None, limit: int = 50) -> QueueState:
    """Per named queue (priority order) its waiting, taken, running and later tasks, the oldest waiting, and
    the runs ended per minute; the runs running and the tasks taken, each under the queue it is on.

    Four statements: the queue's GROUP BY (scheduler.djq), the rows read to sort out (_queue_rows), the runs
    running or behind those rows, the completions (_rates). A running run whose task row was read is under
    that row's queue (a check forced onto `high` whose job says `default` counts under high); one whose row
    was not read (running longer than Conf.RETRY: its row came back) under its job's queue."""
    now = now or timezone.now()
    loads = {name: QueueLoad(name) for name in settings.VIGIA_QUEUES}
    ahead: dict[str, int] = {}
    for key, (waiting, held, oldest) in djq.queue_counts(now).items():
        load = loads.setdefault(key, QueueLoad(key))
        load.waiting, load.oldest = waiting, oldest
        load.oldest_age = short_age(now - oldest) if oldest else "-"
        ahead[key] = held  # every row with its lock ahead: sorted out below
    rows = _queue_rows(now) if any(ahead.values()) or any(q.waiting for q in loads.values()) else []
    queue_of: dict[int, str] = {}
    in_hand: list[tuple[str, int | None, str, bool]] = []  # (queue, run id, name, may be taken)
    for _id, key, waiting, within_retry, payload in rows:
        run_id, name, held = _run_of(payload)
        if run_id is not None:
            queue_of[run_id] = key
        if not waiting:
            in_hand.append((key, run_id, name, within_retry and not held))
    ids = [run_id for _key, run_id, _name, _ok in in_hand if run_id is not None]
    fields = ("id", "status", "started_at", "heartbeat_at", "worker", "attempt", "cancel_requested", "due_at")
    runs: dict[int, Any] = {
        run.pk: run
        for run in Run.objects.filter(Q(status=Run.Status.RUNNING) | Q(pk__in=ids))
        .select_related("job")
        .only(*fields, "job__id", "job__name", "job__kind", "job__queue", *JOB_NAME)
        .order_by("started_at", "id")[: limit + len(ids)]
    }
    taken: list[TakenTask] = []
    for key, run_id, name, may_be_taken in in_hand:
        load = loads.setdefault(key, QueueLoad(key))
        ahead[key] -= 1
        run = runs.get(run_id) if run_id is not None else None
        if run is not None and run.status == Run.Status.RUNNING:
            continue  # counted with the running runs below
        if may_be_taken and (run is None or (run.due_at <= now and run.status == Run.Status.QUEUED)):
            load.taken += 1
            taken.append(TakenTask(key, name, run))
        else:
            load.later += 1
    for key, left in ahead.items():  # rows beyond IN_HAND_ROWS: taken, as far as we know
        loads[key].taken += max(0, left)
    running = sorted(
        (run for run in runs.values() if run.status == Run.Status.RUNNING),
        key=lambda run: (run.started_at or now, run.pk),
    )
    for run in running:
        run.queue = queue_of.get(run.pk, run.job.queue)
        loads.setdefault(run.queue, QueueLoad(run.queue)).running += 1
        run.running_for = short_age(now - run.started_at if run.started_at else None)
        run.heartbeat_age = short_age(now - run.heartbeat_at if run.heartbeat_at else None)
    for key, (last5, last15) in _rates(now).items():
        load = loads.setdefault(key, QueueLoad(key))
        load.done_5, load.done_15 = last5, last15
    return QueueState(list(loads.values()), running[:limit], taken[:limit], queue_of)
