"""The dispatcher: turns due occurrences and due retries into queued runs.

Each batch is one transaction that checks the leader's lease, creates the Run rows, puts them on
django-q2's queue and advances the jobs' next_run_at, so a crash leaves either all of it or none.
The unique (job, scheduled_for, attempt) constraint makes a double dispatch impossible even if two
leaders ever overlap: the second transaction fails and rolls back whole.

A batch also takes what falls due within VIGIA_DISPATCH_AHEAD (plan_ahead), each run held on the queue
until its time: with occurrences spread across a second, the leader's cost per dispatch (two round trips,
its wake-up) was most of its CPU per occurrence, and a batch of five costs little more than a batch of one.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_noop

from scheduler import endings, lease, queue, schedules
from scheduler.models import Job, Run
from scheduler.shared import rawsql, recorded

log = logging.getLogger("vigia.scheduler")

BATCH = 500
# Why an occurrence was recorded as skipped (shown in the reader's language: scheduler.shared.recorded).
MISSED = recorded.message(gettext_noop("missed"))
MISSED_BEYOND_GRACE = recorded.message(gettext_noop("missed beyond the grace window"))
OVERLAP = recorded.message(gettext_noop("overlap: the previous run has not finished"))
MAX_CATCH_UP = 10_000  # occurrences counted one by one after downtime; beyond this, "at least"

type Wakes = tuple[datetime | None, datetime | None]  # next_wakes(): (a job due, a retry due), None: none
# How a planned job's row moves on (_advance): runs fired, the last due time, the next one, completed at.
type Advance = tuple[int, datetime | None, datetime | None, datetime | None]


@dataclass
class Plan:
    """What to do with one due job: runs to queue, runs to record as skipped, the next due time."""

    queued: list[tuple[datetime, dict[str, Any] | None]] = field(default_factory=list)  # (scheduled_for, result)
    # (scheduled_for, reason, result)
    skipped: list[tuple[datetime, str, dict[str, Any] | None]] = field(default_factory=list)
    next_run_at: datetime | None = None
    last_due: datetime | None = None
    fired: int = 0


def due_occurrences(job: Job, now: datetime) -> tuple[list[datetime], datetime | None]:
    """Every occurrence from job.next_run_at up to now, oldest first, and the first one after now.

    After a very long downtime only the first MAX_CATCH_UP are listed; the rest are jumped over.
    """
    due: list[datetime]
    due, moment = [], job.next_run_at
    while moment is not None and moment <= now and len(due) < MAX_CATCH_UP:
        due.append(moment)
        found = schedules.upcoming(job, moment, 1)
        moment = found[0] if found else None
    if moment is not None and moment <= now:
        found = schedules.upcoming(job, now, 1)
        moment = found[0] if found else None
    return due, moment


def plan_job(job: Job, now: datetime, busy: bool) -> Plan:
    """Apply the misfire, overlap and max-occurrence policies to a due job."""
    plan = Plan()
    due, upcoming = due_occurrences(job, now)
    plan.last_due = due[-1] if due else job.next_run_at
    threshold = timedelta(seconds=settings.VIGIA_MISFIRE_THRESHOLD)
    missed = [moment for moment in due if now - moment > threshold]
    result: dict[str, Any] | None
    to_run, result = due, None
    if missed:
        if job.misfire_policy == Job.Misfire.COALESCE:
            to_run, result = [due[-1]], {"missed": len(due) - 1}
        elif job.misfire_policy == Job.Misfire.SKIP:
            to_run = due[len(missed) :]  # missed ones are the oldest
            plan.skipped.append((missed[-1], MISSED, {"missed": len(missed)}))
        else:  # ALL: within the grace window
            window = timedelta(seconds=job.misfire_grace_seconds)
            dropped = [moment for moment in missed if now - moment > window]
            to_run = due[len(dropped) :]
            if dropped:
                plan.skipped.append((dropped[-1], MISSED_BEYOND_GRACE, {"missed": len(dropped)}))
    remaining = None if job.max_occurrences is None else max(job.max_occurrences - job.occurrences, 0)
    for moment in to_run:
        if remaining is not None and plan.fired >= remaining:
            break
        if busy and job.overlap_policy == Job.Overlap.FORBID:
            plan.skipped.append((moment, OVERLAP, None))
            continue
        plan.queued.append((moment, result))
        plan.fired += 1
        busy = True
    exhausted = remaining is not None and plan.fired >= remaining
    plan.next_run_at = None if exhausted else upcoming
    return plan


def plan_ahead(job: Job, busy: bool) -> Plan | None:
    """A job whose next occurrence falls after now but within VIGIA_DISPATCH_AHEAD: that one occurrence,
    queued now to start at its time (not_before), so the occurrences of the next moment travel in one
    batch. None: the job is left for its time, when plan_job() decides (overlap "forbid" while one of its
    runs is queued, running or waiting for a retry that may start before then)."""
    if busy and job.overlap_policy == Job.Overlap.FORBID:
        return None
    remaining = None if job.max_occurrences is None else job.max_occurrences - job.occurrences
    if remaining is not None and remaining <= 0:
        return None
    moment = job.next_run_at
    assert moment is not None  # a job due within the window
    found = schedules.upcoming(job, moment, 1)
    plan = Plan(queued=[(moment, None)], fired=1, last_due=moment)
    plan.next_run_at = None if remaining == 1 else (found[0] if found else None)
    return plan


def _plan(job: Job, now: datetime, busy: set[int], waiting: set[int]) -> Plan | None:
    """plan_job() for a job due now, plan_ahead() for one due within the window (None: left for its time).
    `busy`: job ids with a run queued or running; `waiting`: those and the ids with a retry waiting."""
    assert job.next_run_at is not None  # a due job (_Statements.due_jobs)
    if job.next_run_at <= now:
        return plan_job(job, now, job.id in busy)
    return plan_ahead(job, job.id in waiting)


def _horizon(now: datetime) -> datetime:
    """The latest due time a batch at `now` takes: now plus VIGIA_DISPATCH_AHEAD."""
    return now + timedelta(seconds=settings.VIGIA_DISPATCH_AHEAD)  # 0…10, checked when settings load


def dispatch_due(
    holder: str, now: datetime | None = None, known_due: bool = False, jobs: bool = True, retries: bool = True
) -> int:
    """Dispatch everything due now. Returns the number of runs queued. Raises LostLease.

    `known_due`: the caller has just seen something due (next_wakes), so the check is not repeated; `jobs`
    and `retries` then say which of the two was due, and a batch skips the look at the other."""
    return dispatch_and_look(holder, now, known_due, jobs, retries).queued


@dataclass
class Dispatched:
    queued: int = 0
    committed: bool = False  # a batch committed, so the lease was renewed by its fence
    # next_wakes() as the last batch saw it, inside its transaction (None: not looked): whatever changes
    # after that is announced (scheduler.wakeups), so the leader need not look again.
    wakes: Wakes | None = None


def dispatch_and_look(
    holder: str, now: datetime | None = None, known_due: bool = False, jobs: bool = True, retries: bool = True
) -> Dispatched:
    """dispatch_due(), also saying whether the lease was renewed and what is due next."""
    now_given = now
    done = Dispatched()
    if not known_due:
        jobs, retries = due_kinds(now or timezone.now())
        if not (jobs or retries):
            return done  # the common case: no transaction, no lease write
    collisions, careful = 0, False
    while True:
        try:
            queued, more_jobs, more_retries, done.wakes = _dispatch_batch(
                holder, now_given or timezone.now(), jobs=jobs, retries=retries, careful=careful
            )
            done.committed = True
        except IntegrityError:
            if not careful:
                # An occurrence of this batch already has a first attempt (recorded by an earlier dispatch or
                # by hand): do the batch again, leaving out what is already recorded.
                careful = True
                log.info("dispatch batch met an occurrence already recorded; redoing it with the check")
                continue
            # Only a second leader inserting the same runs at this very moment gets here; its batch won.
            collisions += 1
            log.warning("dispatch batch collided with another dispatcher; rolled back")
            queued, more_jobs, more_retries, done.wakes = 0, collisions < 3 and jobs, collisions < 3 and retries, None
        done.queued += queued
        if not (more_jobs or more_retries):
            return done
        # Only a kind whose batch was full can have more due; retries falling due during a long burst of jobs
        # are taken along, batch by batch, as before.
        jobs, retries = more_jobs, more_retries or more_jobs


def _dispatch_batch(
    holder: str, now: datetime, jobs: bool = True, retries: bool = True, careful: bool = False
) -> tuple[int, bool, bool, Wakes | None]:
    """One transaction: fence the lease, queue what is due. Returns (queued, jobs batch full, retries batch
    full, next wakes seen at its end or None).

    `careful`: leave out occurrences that already have a first attempt (after the fast path met one).
    Statements that do not depend on each other's results go to PostgreSQL in one round trip
    (rawsql.run_many): the fence with the look at due jobs, then the runs, the jobs' advances and the look
    at what is due next."""
    sql = rawsql.statement("dispatch", _Statements)
    if jobs and not retries and not careful and sql.fast and connection.get_autocommit():
        try:
            return _dispatch_fast(sql, holder, now)
        except _NotFast:
            pass  # rolled back: this batch needs what only the path below does
    with transaction.atomic(), connection.cursor() as cursor:
        first = [(*lease.fence_statement(holder, settings.VIGIA_LEASE_TTL), False)]
        if jobs:
            until = rawsql.datetime_param(sql.conn, _horizon(now))
            first += [(sql.due_jobs.sql, [until], True), (sql.busy_sql, sql.busy_params(until), True)]
        results = rawsql.run_many(cursor, first)
        lease.fenced(results[0][0], holder)
        due_jobs = sql.due_jobs.instances(_rows(results[1])) if jobs else []
        busy, waiting = sql.busy(_rows(results[2])) if jobs else (set(), set())
        due_retries = (
            list(
                Run.objects.select_for_update(skip_locked=True)
                .filter(status=Run.Status.RETRYING, due_at__lte=now)
                .select_related("job")
                .order_by("due_at")[:BATCH]
            )
            if retries
            else []
        )
        if not due_jobs and not due_retries:
            return 0, False, False, None
        runs: list[Run]
        advances: defaultdict[Advance, list[int]]
        runs, advances = [], defaultdict(list)
        for job in due_jobs:
            try:
                plan = _plan(job, now, busy, waiting)
            except Exception as exc:  # noqa: BLE001 - one job's bad data must not stop every other job
                endings.fail_unplannable(job, endings.unplannable_reason(job, exc), now)
                continue
            if plan is None:
                continue
            for moment, result in plan.queued:
                runs.append(_run(job, moment, Run.Status.QUEUED, now, result=result))
            for moment, reason, result in plan.skipped:
                runs.append(_run(job, moment, Run.Status.SKIPPED, now, result=result, error=reason))
            advances[_advance(plan, now)].append(job.id)
        if careful:
            runs = _not_yet_recorded(runs)
        if due_retries:
            Run.objects.filter(id__in=[run.id for run in due_retries]).update(status=Run.Status.QUEUED, queued_at=now)
        more_jobs, more_retries = len(due_jobs) == BATCH, len(due_retries) == BATCH
        look = not (more_jobs or more_retries)
        wakes = sql.record(cursor, runs, advances, look)
        to_queue = [
            (run.id, run.job.queue, run.job.timeout_seconds, _not_before(run.scheduled_for, now))
            for run in runs
            if run.status == Run.Status.QUEUED
        ]
        to_queue += [(run.id, run.job.queue, run.job.timeout_seconds, None) for run in due_retries]
        queue.enqueue_scheduled(to_queue)
    if runs or due_retries:
        _log_dispatched(len(to_queue), len(runs) + len(due_retries) - len(to_queue))
    return len(to_queue), more_jobs, more_retries, wakes


class _NotFast(Exception):
    """The batch needs the ordinary path (a job that cannot be planned, or one with several runs)."""


def _dispatch_fast(sql: "_Statements", holder: str, now: datetime) -> tuple[int, bool, bool, Wakes | None]:
    """_dispatch_batch() for the common batch, in two round trips instead of six (PostgreSQL).

    The transaction is opened and committed by the statements themselves, so BEGIN travels with the fence
    and the look at due jobs, and COMMIT with the writes; each due job comes with a run id taken from the
    runs' sequence, so its queue row (which names the run) is written in the same round trip as the run.
    A batch where a job cannot be planned, or needs more than one run row, is rolled back and raises
    _NotFast: the ordinary path then does it. Any other error rolls back and propagates as there."""
    with connection.cursor() as cursor:
        if not rawsql.several_at_once(cursor):
            raise _NotFast
        first = [
            ("BEGIN", [], False),
            (*lease.fence_statement(holder, settings.VIGIA_LEASE_TTL), False),
            (sql.due_jobs_ids, [until := rawsql.datetime_param(sql.conn, _horizon(now))], True),
            (sql.busy_sql, sql.busy_params(until), True),
        ]
        try:
            results = rawsql.run_many(cursor, first)
            lease.fenced(results[1][0], holder)
            rows = results[2][1]
            if not rows:
                cursor.execute("COMMIT")  # keeps the fence's renewal of the lease
                return 0, False, False, None
            due_jobs = sql.due_jobs.instances([row[:-1] for row in rows])
            busy, waiting = sql.busy(_rows(results[3]))
            runs: list[list[Any]]
            to_queue: list[tuple[int, str, int, datetime | None]]
            advances: defaultdict[Advance, list[int]]
            runs, to_queue, advances = [], [], defaultdict(list)
            for job, (*_, run_id) in zip(due_jobs, rows, strict=True):
                try:
                    plan = _plan(job, now, busy, waiting)
                except Exception as exc:  # noqa: BLE001 - the ordinary path pauses it and records why
                    raise _NotFast from exc
                if plan is None:
                    continue  # left for its time (its run id from the sequence stays unused)
                if len(plan.queued) + len(plan.skipped) > 1:
                    raise _NotFast
                for moment, result in plan.queued:
                    runs.append(sql.run_row(run_id, job.id, moment, Run.Status.QUEUED, now, result))
                    to_queue.append((run_id, job.queue, job.timeout_seconds, _not_before(moment, now)))
                for moment, reason, result in plan.skipped:
                    runs.append(sql.run_row(run_id, job.id, moment, Run.Status.SKIPPED, now, result, reason))
                advances[_advance(plan, now)].append(job.id)
            more = len(due_jobs) == BATCH
            statements = sql.insert_run_rows(runs)
            statements += sql.advance_statements(advances)
            statements += [(q, p, False) for q, p in queue.enqueue_statements(to_queue)]
            if not more:
                statements.append((_NEXT_WAKE_SQL, _RETRYING, True))
            statements.append(("COMMIT", [], False))
            results = rawsql.run_many(cursor, statements)
        except BaseException:
            _roll_back(cursor)
            raise
    wakes = None if more else _wakes(_rows(results[-2])[0])
    _log_dispatched(len(to_queue), len(rows) - len(to_queue))
    return len(to_queue), more, False, wakes


def _advance(plan: Plan, now: datetime) -> Advance:
    """How a planned job's row moves on (_Statements.advance_statements groups jobs moving alike): runs
    fired, the last due time, the next one, and when it completed (no next occurrence; a run queued ahead
    completes it at its time)."""
    assert plan.last_due is not None  # every plan has a due time
    return plan.fired, plan.last_due, plan.next_run_at, (max(now, plan.last_due) if plan.next_run_at is None else None)


def _not_before(moment: datetime, now: datetime) -> datetime | None:
    """A run queued ahead of its time waits on the queue until then (None: at once)."""
    return moment if moment > now else None


def _log_dispatched(queued: int, skipped: int) -> None:
    """Skipped occurrences are news (INFO); runs queued as planned are not: each run logs its ending, and a
    line per dispatch cost the leader as much CPU as a sixth of the dispatch itself."""
    log.log(logging.INFO if skipped else logging.DEBUG, "dispatched", extra={"queued": queued, "skipped": skipped})


def _roll_back(cursor: CursorWrapper) -> None:
    try:
        cursor.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - a broken connection has no transaction left; the caller's error says why
        log.debug("rollback after a failed dispatch batch failed", exc_info=True)


class _Statements:
    """The dispatcher's hot statements for one database connection (scheduler.shared.rawsql)."""

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        self.conn = conn
        job = rawsql.quoted(conn, Job._meta.db_table)
        run = rawsql.quoted(conn, Run._meta.db_table)
        jc = {f.name: rawsql.quoted(conn, f.column) for f in Job._meta.concrete_fields}
        rc = {f.name: rawsql.quoted(conn, f.column) for f in Run._meta.concrete_fields}
        lock = " FOR UPDATE SKIP LOCKED" if conn.features.has_select_for_update_skip_locked else ""
        due = f"{job}.{jc['enabled']} AND {job}.{jc['next_run_at']} <= %s"
        # What Job.objects.select_for_update(skip_locked=True).filter(enabled=True, next_run_at__lte=now)
        # .order_by("next_run_at")[:BATCH] runs (served by the job_due partial index).
        self.due_jobs = rawsql.ModelRows(
            conn, Job, f"FROM {job} WHERE {due} ORDER BY {job}.{jc['next_run_at']} ASC LIMIT {BATCH}{lock}"
        )
        # The due jobs with overlap "forbid" that have a run queued, running or waiting for a retry, each
        # with 1 when one is queued or running (run_job_active index). It names every due job, not only the
        # batch's: a superset, so it needs no round trip of its own.
        status = f"{run}.{rc['status']}"
        self.busy_sql = (
            f"SELECT {run}.{rc['job']}, MAX(CASE WHEN {status} IN (%s, %s) THEN 1 ELSE 0 END) FROM {run} "
            f"WHERE {status} IN (%s, %s, %s) AND {run}.{rc['job']} IN (SELECT {job}.{jc['id']} FROM {job} "
            f"WHERE {due} AND {job}.{jc['overlap_policy']} = %s) GROUP BY {run}.{rc['job']}"
        )
        active = [status.value for status in Run.ACTIVE]
        self.busy_head = [*active, *active, Run.Status.RETRYING.value]
        self.insert_runs = rawsql.InsertReturningPk(conn, Run, BATCH)
        # The fast path (_dispatch_fast): PostgreSQL, where a multi-statement execute is one round trip.
        self.fast = conn.vendor == "postgresql" and self.insert_runs.supported
        if self.fast:
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [Run._meta.db_table, Run._meta.pk.column])
                sequence = cursor.fetchone()[0]
            self.fast = sequence is not None  # an id without a sequence: the ordinary path only
        if self.fast:
            # The due jobs, each with a run id taken from the sequence (only rows returned take one).
            self.due_jobs_ids = self.due_jobs.sql.replace(" FROM ", f", nextval('{sequence}') FROM ", 1)
            # A new scheduled run's row, in the order of Run's concrete fields: each field's default as the
            # ORM would save it, and the positions run_row() sets.
            fields = Run._meta.concrete_fields
            self.run_defaults = [
                None if f.primary_key else f.get_db_prep_save(f.get_default(), connection=conn) for f in fields
            ]
            self.run_at = {f.name: index for index, f in enumerate(fields)}
            self.run_result = Run._meta.get_field("result")
            table, columns = rawsql.quoted(conn, Run._meta.db_table), ", ".join(rc[f.name] for f in fields)
            self.run_insert_head = f"INSERT INTO {table} ({columns}) VALUES "
            self.run_insert_row = f"({rawsql.placeholders(len(fields))})"
        occurrences, last, nxt = jc["occurrences"], jc["last_scheduled_for"], jc["next_run_at"]
        self.advance_sql = f"UPDATE {job} SET {occurrences} = {occurrences} + %s, {last} = %s, {nxt} = %s"
        self.completed_sql = f", {jc['completed_at']} = %s"
        self.ids_sql = f" WHERE {jc['id']} IN "

    def busy_params(self, until: object) -> list[object]:
        return [*self.busy_head, until, Job.Overlap.FORBID.value]

    @staticmethod
    def busy(rows: Iterable[Sequence[Any]]) -> tuple[set[int], set[int]]:
        """(ids with a run queued or running, ids with one of those or a retry waiting) from busy_sql."""
        return {job_id for job_id, active in rows if active}, {job_id for job_id, _ in rows}

    def run_row(
        self,
        run_id: int,
        job_id: int,
        moment: datetime,
        status: Run.Status,
        now: datetime,
        result: dict[str, Any] | None = None,
        error: str = "",
    ) -> list[Any]:
        """The parameters _run(...) would insert for a first, scheduled attempt, without building a Run."""
        row, at, adapt = list(self.run_defaults), self.run_at, self.conn.ops.adapt_datetimefield_value
        row[at["id"]], row[at["job"]], row[at["scheduled_for"]] = run_id, job_id, adapt(moment)
        row[at["status"]], row[at["due_at"]], row[at["error"]] = status.value, row[at["scheduled_for"]], error
        row[at["trigger"]], row[at["attempt"]] = Run.Trigger.SCHEDULE.value, 1
        if status == Run.Status.QUEUED:
            row[at["queued_at"]] = adapt(max(now, moment))  # queued ahead: on the queue for its time
        else:
            row[at["finished_at"]] = adapt(now)
        if result is not None:
            row[at["result"]] = self.run_result.get_db_prep_save(result, connection=self.conn)
        return row

    def insert_run_rows(self, rows: list[list[Any]]) -> list[rawsql.Statement]:
        """[(sql, params, False)]: run_row() rows, BATCH per INSERT."""
        found: list[rawsql.Statement] = []
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            sql = self.run_insert_head + ", ".join([self.run_insert_row] * len(chunk))
            found.append((sql, [value for row in chunk for value in row], False))
        return found

    def advance_statements(self, advances: Mapping[Advance, list[int]]) -> list[rawsql.Statement]:
        """One plain UPDATE per group of jobs advancing alike (a burst is one group)."""
        statements: list[rawsql.Statement]
        adapt, statements = self.conn.ops.adapt_datetimefield_value, []
        for (fired, last_due, next_run_at, completed), ids in advances.items():
            params: list[Any]
            sql, params = self.advance_sql, [fired, adapt(last_due), adapt(next_run_at)]
            if completed:
                sql += self.completed_sql
                params.append(adapt(completed))
            statements.append((f"{sql}{self.ids_sql}({rawsql.placeholders(len(ids))})", [*params, *ids], False))
        return statements

    def record(
        self, cursor: CursorWrapper, runs: list[Run], advances: Mapping[Advance, list[int]], look: bool
    ) -> Wakes | None:
        """Insert the runs (setting their ids), advance the jobs — one plain UPDATE per group of jobs
        advancing alike (a burst is one group) — and, when `look`, return next_wakes() as seen from here.

        The unique (job, scheduled_for, attempt) constraint stops a second first attempt: the IntegrityError
        rolls the whole batch back (dispatch_and_look then redoes it carefully)."""
        inserts: list[tuple[str, list[Any], Sequence[Run]]]
        if not self.insert_runs.supported:
            self.insert_runs.insert(cursor, runs)
            inserts = []
        else:
            inserts = self.insert_runs.statements(runs)
        statements: list[rawsql.Statement] = [(sql, params, True) for sql, params, _ in inserts]
        statements += self.advance_statements(advances)
        if look:
            statements.append((_NEXT_WAKE_SQL, _RETRYING, True))
        if not statements:
            return None
        results = rawsql.run_many(cursor, statements)
        for (_, _, chunk), (_, rows) in zip(inserts, results, strict=False):
            assert rows is not None  # an INSERT … RETURNING
            self.insert_runs.assign(chunk, rows)
        return _wakes(_rows(results[-1])[0]) if look else None


def _rows(result: rawsql.Result) -> list[tuple[Any, ...]]:
    """The rows of a statement rawsql.run_many() ran as one that returns rows."""
    assert result[1] is not None
    return result[1]


def _not_yet_recorded(runs: list[Run]) -> list[Run]:
    """Drop occurrences that already have a first attempt (an earlier dispatch), so a batch never collides."""
    if not runs:
        return runs
    existing = set(
        Run.objects.filter(
            job_id__in={run.job_id for run in runs}, attempt=1, scheduled_for__in={run.scheduled_for for run in runs}
        ).values_list("job_id", "scheduled_for")
    )
    return [run for run in runs if (run.job_id, run.scheduled_for) not in existing]


def _run(
    job: Job,
    moment: datetime,
    status: Run.Status,
    now: datetime,
    result: dict[str, Any] | None = None,
    error: str = "",
) -> Run:
    finished = now if status == Run.Status.SKIPPED else None
    return Run(
        job=job,
        scheduled_for=moment,
        attempt=1,
        trigger=Run.Trigger.SCHEDULE,
        status=status,
        due_at=moment,
        queued_at=max(now, moment) if status == Run.Status.QUEUED else None,  # queued ahead: for its time
        finished_at=finished,
        result=result,
        error=error,
    )


def due_kinds(now: datetime) -> tuple[bool, bool]:
    """(jobs due, retries due) at `now`: what a dispatch batch needs to look at."""
    jobs_at, retries_at = next_wakes(now)
    return jobs_at is not None and jobs_at <= now, retries_at is not None and retries_at <= now


# Both minima in one round trip, each served by its partial index (job_due, run_retry_due).
_NEXT_WAKE_SQL = (
    f"SELECT (SELECT MIN(next_run_at) FROM {Job._meta.db_table} WHERE enabled), "
    f"(SELECT MIN(due_at) FROM {Run._meta.db_table} WHERE status = %s)"
)
_RETRYING = [Run.Status.RETRYING.value]


def next_wakes(now: datetime | None = None) -> Wakes:
    """(the earliest due time of an enabled job, of a retry), each None when there is none: one query, the
    idle scheduler's whole cost per look."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_WAKE_SQL, _RETRYING)
        return _wakes(cursor.fetchone())


def _wakes(row: Sequence[Any]) -> Wakes:
    jobs_at, retries_at = row
    return (None if jobs_at is None else _aware(jobs_at)), (None if retries_at is None else _aware(retries_at))


def next_wake(now: datetime | None = None) -> datetime | None:
    """When the dispatcher next has something to do (None: nothing scheduled)."""
    candidates = [moment for moment in next_wakes(now) if moment is not None]
    return min(candidates) if candidates else None


def _aware(value: datetime | str) -> datetime:
    """A datetime from a raw query: PostgreSQL gives it aware, SQLite as text in UTC."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        assert parsed is not None  # the database's own timestamp text
        value = parsed
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def most_overdue(now: datetime | None = None) -> tuple[float, int | None]:
    """(seconds, job id) of the enabled job whose due time passed longest ago, or (0.0, None): the measure
    of whether dispatch really advances (a renewed lease alone does not say so)."""
    now = now or timezone.now()
    job = Job.objects.filter(enabled=True, next_run_at__lt=now).order_by("next_run_at").values("id", "next_run_at")
    first = job.first()
    if first is None:
        return 0.0, None
    assert first["next_run_at"] is not None  # next_run_at__lt
    return (now - first["next_run_at"]).total_seconds(), first["id"]
