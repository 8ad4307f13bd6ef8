"""Leader-side housekeeping: small periodic chores the scheduler leader runs itself (reaping lost runs,
queueing the deliveries whose retry is due...). They are not jobs, so they put nothing in the run history
(a sweep every 5 s would add 17,000 runs a day); each keeps one status row (Housekeeping) that the overview
and the admin show: when it last ran, whether it worked, its last result or error.

An app registers a chore from its AppConfig.ready(): `periodic.register("requeue_deliveries", 5, func)`.
`func()` returns a small JSON-able result; it must be quick and idempotent (a new leader may repeat it).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from scheduler.models import Housekeeping
from scheduler.shared import rawsql

log = logging.getLogger("vigia.scheduler")


@dataclass
class Chore:
    name: str
    every: float
    func: Callable[[], object]
    due: float = 0.0  # monotonic time of the next run in this process


_chores: dict[str, Chore] = {}


def register(name: str, every_seconds: float, func: Callable[[], object]) -> None:
    """Run `func` every `every_seconds` on the scheduler leader."""
    _chores[name] = Chore(name, float(every_seconds), func)


def chores() -> list[Chore]:
    return list(_chores.values())


def next_due() -> float | None:
    """The monotonic time at which the next chore is due (None: no chores), so the leader can sleep until then."""
    return min((chore.due for chore in _chores.values()), default=None)


def run_due(now_mono: float | None = None) -> dict[str, object]:
    """Run every chore whose time has come; returns {name: result}. One failing chore never stops the
    others or the dispatcher: its error is recorded on its status row."""
    now_mono = time.monotonic() if now_mono is None else now_mono
    done: dict[str, object] = {}
    for chore in _chores.values():
        if now_mono < chore.due:
            continue
        chore.due = now_mono + chore.every
        done[chore.name] = run(chore)
    return done


def run(chore: Chore) -> object:
    started = timezone.now()
    try:
        result = chore.func()
        error = ""
    except Exception as exc:  # noqa: BLE001 - recorded on the chore's row; the leader goes on
        log.exception("housekeeping failed", extra={"chore": chore.name})
        result, error = None, f"{type(exc).__name__}: {exc}"[:2000]
    finished = timezone.now()
    try:
        _record(chore, started, finished, result, error)
    except Exception:  # noqa: BLE001 - the status row is a report; the chore itself ran
        log.warning("could not record housekeeping status", extra={"chore": chore.name}, exc_info=True)
    return result


def _record(chore: Chore, started: datetime, finished: datetime, result: object, error: str) -> None:
    """Update the chore's status row (one prepared statement: it runs every few seconds), or create it."""
    sql = rawsql.statement("housekeeping", _Statements)
    conn = sql.conn
    adapt = conn.ops.adapt_datetimefield_value
    params = [
        1 if error else 0,
        chore.every,
        adapt(started),
        adapt(finished),
        sql.result_field.get_db_prep_save(result, connection=conn),
        error,
    ]
    if not error:
        params.append(adapt(finished))
    params.append(chore.name)
    with connection.cursor() as cursor:
        cursor.execute(sql.failed if error else sql.ok, params)
        changed = cursor.rowcount
    if not changed:
        fields: dict[str, object] = {
            "every_seconds": chore.every,
            "last_started_at": started,
            "last_finished_at": finished,
            "last_result": result,
            "last_error": error,
        }
        if not error:
            fields["last_ok_at"] = finished
        Housekeeping.objects.create(name=chore.name, runs=1, failures=1 if error else 0, **fields)


class _Statements:
    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        self.conn = conn
        self.result_field = Housekeeping._meta.get_field("last_result")
        table = rawsql.quoted(conn, Housekeeping._meta.db_table)
        c = {f.name: rawsql.quoted(conn, f.column) for f in Housekeeping._meta.concrete_fields}
        head = (
            f"UPDATE {table} SET {c['runs']} = {c['runs']} + 1, {c['failures']} = {c['failures']} + %s, "
            f"{c['every_seconds']} = %s, {c['last_started_at']} = %s, {c['last_finished_at']} = %s, "
            f"{c['last_result']} = %s, {c['last_error']} = %s"
        )
        where = f" WHERE {c['name']} = %s"
        self.failed = head + where
        self.ok = f"{head}, {c['last_ok_at']} = %s{where}"


def status() -> list[Housekeeping]:
    """The chores' status rows, by name (for the overview and the admin)."""
    return list(Housekeeping.objects.order_by("name"))
