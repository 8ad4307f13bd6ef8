"""The one place that knows django-q2's internals.

Every import from `django_q` made by production code is here; the rest of Vigia calls these functions.
What we rely on, each pinned by tests/scheduler/test_djq_contract.py so a django-q2 upgrade that changes
it fails a test instead of dispatch:

- The queue is the ORM broker's `OrmQ` table (key, payload, lock) in our own database. A row is one task:
  `key` is the named queue, `payload` the task dict signed by `SignedPackage`, `lock` the moment before
  which no cluster may take it. A cluster hands out only rows whose lock is in the past, pushes the lock
  `Conf.RETRY` seconds ahead when it takes one (the row comes back if the task is never acknowledged),
  and deletes the row on acknowledgement. So a row written with a future lock waits, without any polling
  of ours, until then: that is `not_before`.
- The task dict holds the keys django-q2's pusher, worker and monitor read (those `async_task` builds):
  id, name, func (a dotted path), args, kwargs, timeout (the worker's hard limit), ack_failure (a failed
  task is acknowledged, not retried: our own execution wrapper retries), started.
- The broker class (`Q_CLUSTER["broker_class"]`) is ours: it serves several named queues in priority
  order (`dequeue`) and hears every cluster Stat the guard saves (`set_stat`).
- `Conf.BULK` rows are taken per look; our dequeue() itself waits when none is ready (django-q2's pusher
  calls it again at once): for a notification on PostgreSQL (scheduler.wakeups), `Conf.POLL` on SQLite.
- A cluster `Stat` carries cluster_id, host, pid, tob (time of birth) and status.
- The monitor saves failed tasks as `Task` rows (successes are not saved, `save_limit=-1`), pruned here.

Prefetching (django_q.cluster.Sentinel, django_q.pusher): a cluster's pusher takes up to `Conf.BULK` rows
at a time and puts them on its internal queue, which holds `Conf.QUEUE_LIMIT` tasks (`workers ** 2` by
default); the pusher blocks while it is full, holding the rest of its batch. Priority applies when rows are
taken: a task taken is first in, first out from then on. So while every worker is busy, up to
QUEUE_LIMIT + BULK tasks already taken by a cluster are ahead of a `high` task that arrives later (a
cluster serving only `high`, VIGIA_CLUSTER_QUEUES=high, never has that wait). A taken task still waiting
there after Conf.RETRY seconds is back on the table and may be taken again; the execution wrapper's claim
makes that second delivery a no-op.

Capacity (ours, scheduler.djq.Capacity): so that a late `high` task never waits behind taken ones, our
broker takes only what the cluster can start now, at most VIGIA_QUEUE_PREFETCH beyond its workers, and
keeps workers that lower-priority work may not take (VIGIA_RESERVED_WORKERS, `high=1`: a DJEN cycle on
`default` never holds the worker a gincana check needs). It counts the tasks it handed out in memory the
cluster's processes share (created before django-q2 forks them): the pusher takes a slot per task, the
worker marks it with its pid on django-q2's `pre_execute` and frees it on `post_execute_in_worker`; a slot
whose worker died is reclaimed by the pusher.
"""

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.signals import post_execute_in_worker, pre_execute
from django_q.signing import SignedPackage

from scheduler import everywhere, wakeups

if TYPE_CHECKING:
    import ctypes

BATCH = 500  # rows per INSERT when enqueueing in bulk
IDLE_AFTER = 2.0  # seconds without work after which a polling (SQLite) cluster looks half as often
IDLE_MAX = 1.0  # seconds a listening (PostgreSQL) pusher sleeps at most: how soon it notices the cluster stopping

# --- putting tasks on the queue ----------------------------------------------------------------------


def make_task(
    func: str,
    args: Iterable[object],
    queue: str,
    timeout: float,
    *,
    name: str | None = None,
    not_before: datetime | None = None,
    now: datetime | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> OrmQ:
    """One task for django-q2 as an unsaved OrmQ row: `func` (a dotted path) called with `args` on the
    named `queue`; django-q2 kills the worker after `timeout` seconds; no cluster starts it before
    `not_before` (an aware datetime; None: at once)."""
    if not_before is not None and timezone.is_naive(not_before):
        raise ValueError("not_before must be an aware datetime")
    now = now or timezone.now()
    task_id = uuid4().hex  # what django-q2's humanhash.uuid() returns beside a name we do not use
    task = {
        "id": task_id,
        "name": name or task_id,
        "func": func,
        "args": tuple(args),
        "kwargs": dict(kwargs or {}),
        "timeout": int(timeout),
        "ack_failure": True,
        "started": now,
    }
    return OrmQ(key=queue, payload=SignedPackage.dumps(task), lock=not_before or now)


def bulk_enqueue(rows: Iterable[OrmQ]) -> int:
    """Insert make_task() rows, `BATCH` per INSERT (in the caller's transaction). Returns how many.

    Plain multi-row INSERTs built once per connection (the ORM's bulk_create compiled its statement anew
    each time: a third of the dispatcher's CPU for a batch of one)."""
    rows = list(rows)
    if rows:
        with connection.cursor() as cursor:
            for sql, params in enqueue_statements(rows):
                cursor.execute(sql, params)
    return len(rows)


def enqueue_statements(rows: Iterable[OrmQ]) -> list[tuple[str, list[Any]]]:
    """[(sql, params)]: the INSERTs bulk_enqueue() runs, for a caller that sends them with its own."""
    rows = list(rows)
    adapt = connection.ops.adapt_datetimefield_value
    found: list[tuple[str, list[Any]]]
    head, found = _insert_head(), []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        params = [value for row in chunk for value in (row.key, row.payload, adapt(row.lock))]
        found.append((head + ", ".join(["(%s, %s, %s)"] * len(chunk)), params))
    return found


def _insert_head() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in ("key", "payload", "lock"))
    return f"INSERT INTO {quote(OrmQ._meta.db_table)} ({columns}) VALUES "


def read_task(payload: str) -> dict[str, Any]:
    """The task dict inside a queued row's payload (raises on a bad signature)."""
    return SignedPackage.loads(payload)


# --- the broker: several named queues, in priority order ---------------------------------------------


def served_queues() -> list[str]:
    """The queues this process's cluster serves, in priority order: VIGIA_CLUSTER_QUEUES or all."""
    wanted = [q.strip() for q in os.environ.get("VIGIA_CLUSTER_QUEUES", "").split(",") if q.strip()]
    unknown = set(wanted) - set(settings.VIGIA_QUEUES)
    if unknown:
        raise ValueError(f"VIGIA_CLUSTER_QUEUES names unknown queue(s): {', '.join(sorted(unknown))}")
    return [q for q in settings.VIGIA_QUEUES if q in wanted] if wanted else list(settings.VIGIA_QUEUES)


@dataclass(frozen=True)
class ClusterStat:
    """What we read from a django-q2 cluster Stat."""

    cluster_id: str  # hex
    host: str
    pid: int
    started: datetime | None  # the cluster's time of birth
    status: str
    stopping: bool  # stopping or stopped: the cluster is going away


def read_stat(value: str) -> ClusterStat | None:
    """A cluster Stat as django-q2 saves it (signed), or None when it cannot be read."""
    try:
        stat = SignedPackage.loads(value)
        status = str(stat.status)
        return ClusterStat(
            cluster_id=stat.cluster_id.hex,
            host=stat.host,
            pid=stat.pid,
            started=stat.tob,
            status=status,
            stopping=status in (str(Conf.STOPPING), str(Conf.STOPPED)),
        )
    except Exception:  # noqa: BLE001 - a stat we cannot read is no reason to disturb the cluster
        return None


def reserved_workers() -> dict[str, int]:
    """{queue: workers only it (and higher queues) may use}, from VIGIA_RESERVED_WORKERS ("high=1")."""
    found: dict[str, int] = {}
    for part in settings.VIGIA_RESERVED_WORKERS.split(","):
        if part.strip():
            name, _, count = part.partition("=")
            if name.strip() not in settings.VIGIA_QUEUES or not count.strip().isdigit():
                raise ValueError(f"VIGIA_RESERVED_WORKERS: '{part}' is not queue=count over {settings.VIGIA_QUEUES}")
            found[name.strip()] = int(count)
    return found


class Capacity:
    """What a cluster's tasks in hand take: one slot per task handed out and not finished (ack id, queue
    rank + 1, worker pid or 0 while it waits in the internal queue), in shared memory."""

    FIELDS = 3

    def __init__(self, queues: Sequence[str], workers: int, prefetch: int, reserved: Mapping[str, int]) -> None:
        self.size = workers + prefetch
        self.slots = multiprocessing.Array("q", self.size * self.FIELDS, lock=True)
        # How many tasks of rank r or lower priority may be in hand at once: the workers less those that
        # higher queues reserve; the highest queue may fill every worker and the prefetch.
        self.limits: list[int]
        self.limits, kept = [], 0
        for rank, name in enumerate(queues):
            self.limits.append(self.size if rank == 0 else max(1, workers - kept))
            kept += reserved.get(name, 0)

    def _rows(self) -> list[tuple[int, int, int, int]]:
        data: ctypes.Array[Any] = self.slots.get_obj()  # its items are ints (typeshed cannot say so)
        return [(i, data[i * 3], data[i * 3 + 1], data[i * 3 + 2]) for i in range(self.size)]

    def in_hand(self) -> list[int]:
        """Tasks in hand per rank, reclaiming the slots of workers that died."""
        with self.slots.get_lock():
            data, counts = self.slots.get_obj(), [0] * len(self.limits)
            for i, ack, rank, pid in self._rows():
                if ack and pid and not _alive(pid):
                    data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = 0  # its worker died: the slot is free
                elif ack:
                    counts[rank - 1] += 1
        return counts

    def room(self, counts: Sequence[int], rank: int) -> int:
        """How many more tasks of `rank` may be taken, with `counts` in hand: every limit from the top down
        to `rank` must hold (a `low` task counts against what `default` may hold too, so a lower queue never
        gets room a higher one is refused)."""
        return min(self.limits[k] - sum(counts[k:]) for k in range(rank + 1))

    def take(self, ack: int, rank: int) -> bool:
        with self.slots.get_lock():
            data = self.slots.get_obj()
            for i, current, _rank, _pid in self._rows():
                if not current:
                    data[i * 3], data[i * 3 + 1], data[i * 3 + 2] = ack, rank + 1, 0
                    return True
        return False

    def mark(self, ack: int, pid: int) -> None:
        """The worker `pid` started task `ack` (pid 0: it finished, the slot is free)."""
        with self.slots.get_lock():
            data = self.slots.get_obj()
            for i, current, _rank, _pid in self._rows():
                if current == ack:
                    if pid:
                        data[i * 3 + 2] = pid
                    else:
                        data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = 0
                    return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_capacity: Capacity | None = None  # this cluster's Capacity, made in its main process before django-q2 forks the rest
_waker: wakeups.Waker | None = None  # the pusher's wake-up (its pipe made before the forks, so the workers can poke it)


def _on_start(sender: object, task: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if _capacity is not None and task and task.get("ack_id"):
        _capacity.mark(task["ack_id"], os.getpid())


def _on_finish(sender: object, task: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if _capacity is not None and task and task.get("ack_id"):
        _capacity.mark(task["ack_id"], 0)
        if _waker is not None:
            _waker.poke()  # a slot is free: the pusher may be waiting for one


pre_execute.connect(_on_start, dispatch_uid="vigia-capacity-start")
post_execute_in_worker.connect(_on_finish, dispatch_uid="vigia-capacity-finish")


class PriorityORMBroker(ORM):
    """django-q2's ORM broker serving several named queues.

    A cluster started with VIGIA_CLUSTER_QUEUES=high serves only `high`; the default serves all three and
    always takes `high` before `default` before `low` (oldest first within a queue). Every cluster Stat
    the guard saves (each 0.5 s) also renews the cluster's presence row (scheduler.liveness).
    """

    def __init__(self, list_key: str | None = None) -> None:
        super().__init__(list_key=list_key)
        self._serve()

    def _serve(self) -> None:
        global _capacity, _waker
        self.queues = served_queues()
        if _capacity is None:  # once per process: the cluster's main, before the forks that share it
            _capacity = Capacity(self.queues, Conf.WORKERS, settings.VIGIA_QUEUE_PREFETCH, reserved_workers())
            # Everything loaded so far is shared with the forks until one writes to its page; the garbage
            # collector's passes in each fork would write to all of them. Frozen, they are left alone.
            gc.freeze()
        if _waker is None:
            _waker = wakeups.Waker(wakeups.QUEUE_CHANNEL)
        self.capacity, self.waker = _capacity, _waker
        self._last_beat = 0.0
        self._idle_since: float | None = None
        # listening: the last look took everything ready; monotonic end of the wait
        self._drained_until: float | None = None
        # Listening, with the lower queues full: the open (higher) queues found with nothing ready, and the
        # monotonic time their earliest held row becomes ready (None: none). Until a task is announced or
        # that time comes, there is nothing to look for there: the pusher waits for a worker's poke.
        self._quiet: tuple[tuple[str, ...], float | None] | None = None

    # a broker pickled into a spawned process keeps serving its queues
    def __setstate__(self, state: tuple[Any, ...]) -> None:
        super().__setstate__(state)
        self._serve()

    def queue_size(self) -> int:
        return self.get_connection().filter(key__in=self.queues, lock__lte=timezone.now()).count()

    def lock_size(self) -> int:
        return self.get_connection().filter(key__in=self.queues, lock__gt=timezone.now()).count()

    def purge_queue(self) -> tuple[int, dict[str, int]]:
        return self.get_connection().filter(key__in=self.queues).delete()

    def dequeue(self) -> list[tuple[int, str]] | None:
        self.get_connection()  # once per look: closes a connection that errored or outlived its age
        listening = self._listen()
        if listening and self._drained_until is not None:
            self._sleep_while_drained()
            return None
        # Every worker busy (or kept for higher queues): wait until one frees (a worker's poke wakes the
        # wait at once, scheduler.djq._on_finish), for up to Conf.POLL.
        give_up = monotonic() + Conf.POLL
        while True:
            counts = self.capacity.in_hand()
            open_queues = [name for rank, name in enumerate(self.queues) if self.capacity.room(counts, rank) > 0]
            if open_queues and not self._still_quiet(open_queues):
                break
            if monotonic() >= give_up:
                return None
            self.waker.sleep(give_up - monotonic())
            if listening:
                self._listen()  # an announcement read during the sleep ends the quiet (connection errors handled)
        if not listening and not any(counts) and not self._anything_waiting(open_queues):
            # Without notifications (SQLite), an idle cluster's look is one small query, no ORM; after
            # IDLE_AFTER s of nothing, half as often.
            self._idle_since = self._idle_since or monotonic()
            self.waker.sleep(Conf.POLL * (2 if monotonic() - self._idle_since > IDLE_AFTER else 1))
            return None
        self._idle_since = None
        # Only rows whose lock is past: a row queued with a later `not_before`, or held by a cluster, waits.
        # Taken in one statement, in priority order, as many as the cluster can hold; a lower queue's rows
        # beyond what it may hold (rare: only when queues of several ranks wait at once) are put back.
        limit = min(Conf.BULK, self.capacity.room(counts, 0))
        # Listening, the waits below need the earliest row held for later: asked in the take's round trip.
        rows, earliest = self._take(open_queues, limit, earliest=listening)
        claimed: list[tuple[int, str]]
        extra: list[int]
        claimed, extra = [], []
        for task_id, key, payload in rows:
            rank = self.queues.index(key)
            if self.capacity.room(counts, rank) <= 0:
                extra.append(task_id)
                continue
            self.capacity.take(task_id, rank)
            counts[rank] += 1
            claimed.append((task_id, payload))
        if extra:
            self.get_connection().filter(id__in=extra).update(lock=timezone.now())
        if listening and len(rows) < limit and len(open_queues) == len(self.queues):
            # Everything ready was taken: until a task is announced, nothing is worth another look before
            # the earliest row held for later (a `not_before`, a taken task not acknowledged in time).
            self._drained_until = monotonic() + IDLE_MAX
            if earliest is not None:
                self._drained_until = min(self._drained_until, monotonic() + _seconds_until(earliest))
        if claimed:
            return claimed
        if self._drained_until is not None:
            self._sleep_while_drained()
        elif not listening:
            self.waker.sleep(Conf.POLL)  # a worker freeing a slot wakes it sooner
        else:
            # Lower queues are full and the open (higher) ones had nothing ready: until a worker's poke
            # (room again), an announced task or the earliest open row held for later, the next looks wait
            # without a statement. Looking again at once spun the pusher at a look per half millisecond,
            # taking a core from the workers; looking after every poke cost each task two more statements.
            ready_at = None if earliest is None else monotonic() + _seconds_until(earliest)
            self._quiet = (tuple(open_queues), ready_at)
            self._listen()  # a task announced during this look's statements ends the quiet at once
        return None

    def _still_quiet(self, open_queues: Sequence[str]) -> bool:
        quiet = self._quiet
        if quiet is None or quiet[0] != tuple(open_queues):
            return False
        return quiet[1] is None or monotonic() < quiet[1]

    def _listen(self) -> bool:
        """LISTEN for queued tasks where the database can announce them (PostgreSQL); True while it does.
        An announcement since the last look ends a drained or quiet wait."""
        try:
            announced = self.waker.changed()
        except (OperationalError, InterfaceError):
            connection.close()
            return False
        if announced:
            self._drained_until = self._quiet = None
        return self.waker.listening

    def _sleep_while_drained(self) -> None:
        """Sleep until a task is announced or the drained wait is over (at most IDLE_MAX: how soon a
        stopping cluster is noticed). A worker's poke does not end it: nothing was left waiting for room."""
        assert self._drained_until is not None  # the callers' condition
        while (left := self._drained_until - monotonic()) > 0:
            self.waker.sleep(left)
            if self.waker.changed():
                break
        self._drained_until = None

    def _take(
        self, queues: Sequence[str], limit: int, earliest: bool = False
    ) -> tuple[list[tuple[int, str, str]], datetime | None]:
        """Take up to `limit` ready rows of `queues` (priority order, then oldest): push their lock
        Conf.RETRY seconds ahead and return them as (id, key, payload), in one UPDATE ... RETURNING. On
        PostgreSQL rows another cluster is taking are skipped (SKIP LOCKED); SQLite has one writer at a time.
        A lost connection costs this look, not the pusher's 10-second pause after an exception.

        Returns (rows, held): with `earliest` (PostgreSQL), `held` is when the first row of these queues held
        for later becomes ready, read by the same statement only when fewer than `limit` rows were taken
        (the only case in which a wait follows; a pusher handing out tasks one by one looked twice each).
        The rows taken by this statement do not count: their new lock is not visible to it."""
        # Each queue's first ready rows in id order (the vigia_ormq_key_id index: a few rows read, where one
        # look over every queue, ordered by rank, read and sorted the whole table), then the first `limit`
        # of them in priority order.
        skip = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
        ready = ", ".join(
            f"q{rank} AS (SELECT id, {rank} AS r FROM {{table}} WHERE {{key}} = %s AND {{lock}} < %s "
            f"ORDER BY id LIMIT %s{skip})"
            for rank in range(len(queues))
        )
        pick = " UNION ALL ".join(f"SELECT id, r FROM q{rank}" for rank in range(len(queues)))
        update = (
            f"UPDATE {{table}} SET {{lock}} = %s WHERE id IN (SELECT id FROM ({pick}) AS ready ORDER BY r, id "
            "LIMIT %s) RETURNING id, {key}, payload"
        )
        adapt = connection.ops.adapt_datetimefield_value
        now = adapt(timezone.now())
        params = [value for name in queues for value in (name, now, limit)]
        params += [adapt(self.timeout(None)), limit]
        if earliest:
            update = (
                f"WITH {ready}, taken AS ({update}) SELECT id, {{key}}, payload, NULL::timestamptz FROM taken "
                f"UNION ALL SELECT NULL, NULL, NULL, ({_EARLIEST}) WHERE (SELECT COUNT(*) FROM taken) < %s"
            )
            params += [*queues, now, limit]
        else:
            update = f"WITH {ready} {update}"
        rows = _fetch(_queue_sql(update, queues), params, lambda cursor: cursor.fetchall(), lost=None)
        if rows is None:
            sleep(Conf.POLL)
            return [], None
        held = None
        if earliest:
            held = next((row[3] for row in rows if row[0] is None), None)
            rows = [row[:3] for row in rows if row[0] is not None]
        return sorted(rows, key=lambda row: (queues.index(row[1]), row[0])), held

    def acknowledge(self, task_id: int) -> None:
        """Delete the row of a finished task: one statement (django-q2 deletes through the ORM's collector, in
        a transaction of its own), tried again once on a fresh connection when the database went away."""
        table = connection.ops.quote_name(OrmQ._meta.db_table)
        for last in (False, True):
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"DELETE FROM {table} WHERE id = %s", [task_id])
                return
            except (OperationalError, InterfaceError):
                connection.close()
                if last:
                    raise

    def _anything_waiting(self, queues: Sequence[str]) -> bool:
        """Is any row of these queues ready? A prepared statement: the cost of an idle cluster's look."""
        sql = _queue_sql("SELECT 1 FROM {table} WHERE {key} IN ({marks}) AND {lock} < %s LIMIT 1", queues)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        return _fetch(sql, [*queues, now], lambda cursor: cursor.fetchone() is not None, lost=False)

    def set_stat(self, key: str, value: str, timeout: int) -> object:
        stat = read_stat(value)
        if stat and not stat.stopping:
            # The hooks every live process runs (scheduler.everywhere: the system watchdog), from the guard
            # loop of the cluster's main process; before saving the stat, which fails while the database is away.
            everywhere.run_due()
        result = super().set_stat(key, value, timeout)
        if stat and (stat.stopping or monotonic() - self._last_beat >= settings.VIGIA_HEARTBEAT_SECONDS):
            from scheduler import liveness  # liveness reads the queue through this module

            liveness.beat(
                stat.cluster_id, f"{stat.host}:{stat.pid}", ",".join(self.queues), stat.started, stat.stopping
            )
            self._last_beat = monotonic()
        return result


_EARLIEST = "SELECT MIN({lock}) FROM {table} WHERE {key} IN ({marks}) AND {lock} > %s"


def _queue_sql(template: str, queues: Sequence[str]) -> str:
    """`template` with the queue table's quoted {table}, {key} and {lock}, and {marks}: one %s per queue."""
    quote = connection.ops.quote_name
    marks = ", ".join(["%s"] * len(queues))
    return template.format(table=quote(OrmQ._meta.db_table), key=quote("key"), lock=quote("lock"), marks=marks)


def _fetch[T, L](sql: str, params: Sequence[Any], answer: Callable[[CursorWrapper], T], lost: L) -> T | L:
    """One statement of a pusher's look: `answer(cursor)`, or `lost` when the database went away (the
    connection is closed; the next look reconnects), never the pusher's 10-second pause after an exception."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return answer(cursor)
    except (OperationalError, InterfaceError):
        connection.close()
        return lost


def _seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - timezone.now()).total_seconds())


# --- reading the queue --------------------------------------------------------------------------------


def queue_counts(now: datetime | None = None) -> dict[str, tuple[int, int, datetime | None]]:
    """Per queue key, in one GROUP BY: {key: (waiting, taken, oldest)}.

    waiting: the lock is past (no cluster holds it); oldest: the earliest such lock, i.e. since when the
    longest-waiting task could have started. taken: the lock lies ahead, a cluster holds it until then
    (running, or prefetched in its internal queue) or it was queued with a `not_before` still to come.
    """
    now = now or timezone.now()
    rows = (
        OrmQ.objects.values("key")
        .annotate(
            waiting=Count("id", filter=Q(lock__lte=now)),
            taken=Count("id", filter=Q(lock__gt=now)),
            oldest=Min("lock", filter=Q(lock__lte=now)),
        )
        .order_by()
    )
    return {row["key"]: (row["waiting"], row["taken"], row["oldest"]) for row in rows}


# --- django-q2's task records ---------------------------------------------------------------------------


def tasks_stopped_before(cutoff: datetime) -> QuerySet[Task]:
    """django-q2's task records (failures; successes are not saved) that ended before the cutoff."""
    return Task.objects.filter(stopped__lt=cutoff)
