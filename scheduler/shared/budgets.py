"""Reserve a slot on a named budget: the one rate mechanism, shared by every worker on every machine.

A budget is a Budget row named for what it limits: "host:example.org" (requests to one host, from
scrapers.ratelimit), "channel:7" (messages through one channel, from channels_app.pacing). The row holds
the earliest moment its next use may go. reserve() takes that slot and moves the row's moment one spacing
on (margin / per_second) in one atomic step; the caller then waits for its slot outside any transaction,
so waiting never holds a lock. A row's own `per_second` (set by an operator) overrides the caller's
default; a row is created on first use.

The slots are read and moved on the DATABASE's clock where it has one:

- PostgreSQL: one statement (INSERT … ON CONFLICT DO UPDATE … RETURNING on clock_timestamp()) creates or
  moves the row and answers the wait, so workers on machines whose clocks disagree still agree on the
  slots: a worker only ever sleeps a relative wait the database computed.
- SQLite has no server clock: the reservation is a short IMMEDIATE transaction (SQLite serializes the
  writers) on this process's clock, which every process on the one machine that can open the file shares.

A slot further away than the caller's `max_wait` is not taken: SlotTooFar says how far it is, so the
caller can put its work back in line for that moment instead of holding a worker asleep.

Inside an outer atomic block the row stays locked until that block ends: reserve outside transactions.
"""

import contextvars
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TypedDict

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from scheduler.errors import TransientError
from scheduler.models import Budget

TABLE = Budget._meta.db_table


class SlotTooFar(TransientError):
    """The budget's next free slot is more than `max_wait` seconds away; nothing was reserved.

    `wait`: how many seconds away it was (on the database's clock); `not_before`: that moment on this
    process's clock, for a queue or a retry time. As a TransientError with `retry_after=wait`, a run that
    lets it through is retried no sooner than the slot."""

    def __init__(self, name: str, wait: float) -> None:
        self.name = name
        self.wait = max(0.0, float(wait))
        self.not_before = timezone.now() + timedelta(seconds=self.wait)
        super().__init__(f"rate limit for {name}: next slot in {self.wait:.1f} s", retry_after=self.wait)


def reserve(name: str, per_second: float, max_wait: float | None = None, margin: float = 1.0) -> float:
    """Take the budget's next slot; return the seconds until it (0.0 when it is free now).

    `per_second` is the caller's default rate (> 0), used unless the row sets its own. Slots are spaced
    `margin / rate` apart (the caller's jitter margin: 1.03 leaves 3 % of room). When the slot is more than
    `max_wait` seconds away, raises SlotTooFar carrying the wait and reserves nothing.
    """
    _check_rate(per_second, allow_none=False)
    margin = float(margin)
    if margin <= 0:
        raise ValueError("The margin must be positive.")
    if max_wait is not None:
        max_wait = max(0.0, float(max_wait))
    if connection.vendor == "postgresql":
        taken, wait = _reserve_on_postgresql(name, float(per_second), max_wait, margin)
    else:
        taken, wait = _reserve_in_a_transaction(name, float(per_second), max_wait, margin)
    if not taken:
        raise SlotTooFar(name, wait)
    return max(0.0, wait)


def wait_for(name: str, per_second: float, max_wait: float | None = None, margin: float = 1.0) -> float:
    """reserve(), then sleep until the slot; return the seconds waited. Raises SlotTooFar as reserve().

    Inside a run (deferrable()): a slot this run reserved before it was put back is used instead of a new
    one; and when the run's first slot is more than VIGIA_DEFER_AFTER seconds away, RunDeferred is raised
    (the slot stays reserved for it) so that the run goes back on the queue for that moment and the worker
    takes other work. Once the run has used a slot it waits in place: going back would repeat what it sent.
    """
    state = _run_state.get()
    held = state["held"].pop(name, None) if state else None
    if held is not None:
        wait = max(0.0, held - time.time())
    else:
        deferring = state is not None and not state["used"]  # the run's deadline starts afresh when resumed
        wait = reserve(name, per_second, max_wait=None if deferring else max_wait, margin=margin)
        if deferring and wait > settings.VIGIA_DEFER_AFTER:
            raise RunDeferred(name, time.time() + wait)
    if state is not None:
        state["used"] = True
    if wait > 0:
        time.sleep(wait)
    return wait


class RunDeferred(BaseException):  # noqa: N818 - a control-flow signal like RunTimeout, not an error
    """A run's first slot is far: it goes back on the queue for that moment, holding the slot (`held`:
    {budget name: epoch seconds}). A BaseException, so a kind's `except Exception` cannot swallow it."""

    def __init__(self, name: str, at: float) -> None:
        super().__init__(f"{name}: next slot in {at - time.time():.1f} s")
        self.held, self.at = {name: at}, at


class _RunState(TypedDict):
    held: dict[str, float]  # {budget name: epoch seconds} of the slots reserved before the run was put back
    used: bool  # whether the run has used a slot (then it waits in place)


_run_state: contextvars.ContextVar[_RunState | None] = contextvars.ContextVar("vigia_budget_run", default=None)


@contextmanager
def deferrable(held: Mapping[str, float] | None = None) -> Iterator[None]:
    """The scope of one run's execution (scheduler.execution): its first long wait defers the run; `held`
    are the slots it reserved before it was put back."""
    token = _run_state.set({"held": dict(held or {}), "used": False})
    try:
        yield
    finally:
        _run_state.reset(token)


def hold(name: str, seconds: float) -> None:
    """Push the budget's next slot at least `seconds` from now (never sooner than it already is): the
    upstream said "wait" (a 429 with Retry-After) to one worker, and every worker then keeps the pause."""
    seconds = max(0.0, float(seconds))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(HOLD, {"name": name, "seconds": seconds})
        return
    with transaction.atomic():
        budget, _ = Budget.objects.select_for_update().get_or_create(name=name)
        until = timezone.now() + timedelta(seconds=seconds)
        if until > budget.next_slot_at:
            budget.next_slot_at = until
            budget.save(update_fields=["next_slot_at"])


def set_rate(name: str, per_second: float | None) -> None:
    """Set the budget's own rate, which overrides every caller's default (None: back to the default)."""
    _check_rate(per_second, allow_none=True)
    per_second = None if per_second is None else float(per_second)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(SET_RATE, {"name": name, "per_second": per_second})
        return
    Budget.objects.update_or_create(name=name, defaults={"per_second": per_second})


def next_free(name: str) -> datetime | None:
    """When the budget's next slot is free, on this process's clock (for pages), or None when it is free
    now (or the budget was never used)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT EXTRACT(EPOCH FROM next_slot_at - clock_timestamp()) FROM {TABLE} WHERE name = %s", [name]
            )
            row = cursor.fetchone()
        ahead = None if row is None else float(row[0])
    else:
        slot = Budget.objects.filter(name=name).values_list("next_slot_at", flat=True).first()
        ahead = None if slot is None else (slot - timezone.now()).total_seconds()
    if ahead is None or ahead <= 0:
        return None
    return timezone.now() + timedelta(seconds=ahead)


# A host's requests (scrapers.ratelimit, channels_app.attachments): slots spaced 3 % wider than 1/rate. Requests
# leave a little after their slot (sleep overshoot, scheduling, connection setup) and by varying amounts, so two
# neighbouring requests can land closer than their slots were; with exact spacing, rate + 1 requests could then
# fall in one 1-second window. The margin absorbs up to 30 ms of such jitter per second for 3 % of the throughput.
HOST_PREFIX, HOST_MARGIN = "host:", 1.03


def host_budget(host: str) -> str:
    """The budget of a host key: "host:example.org"."""
    return HOST_PREFIX + host.lower()


def wait_for_host(host: str, max_wait: float | None = None) -> float:
    """Wait for the host's next request slot (VIGIA_HOST_RATE unless the host's row sets its own); return the
    seconds waited. SlotTooFar, reserving nothing, when it is more than `max_wait` seconds away."""
    return wait_for(host_budget(host), settings.VIGIA_HOST_RATE, max_wait=max_wait, margin=HOST_MARGIN)


def host_key(url: "str | httpx.URL") -> str:
    """The key of a URL's host budget ("host:<key>": scrapers.ratelimit's, channels_app.attachments'): the
    lower-case host, plus :port when it is not the scheme's default."""
    url = url if isinstance(url, httpx.URL) else httpx.URL(str(url))
    host = url.host.lower()
    if ":" in host:  # IPv6 literal: brackets keep the port distinguishable
        host = f"[{host}]"
    return f"{host}:{url.port}" if url.port else host  # httpx leaves port None for 80/443


def host_rate(url: "str | httpx.URL") -> float:
    """The requests per second a URL's host budget allows: its row's own rate, else VIGIA_HOST_RATE."""
    own = Budget.objects.filter(name=host_budget(host_key(url))).values_list("per_second", flat=True).first()
    return float(own or settings.VIGIA_HOST_RATE)


def _check_rate(per_second: float | None, allow_none: bool) -> None:
    if per_second is None and allow_none:
        return
    if per_second is None or not per_second > 0:
        raise ValueError("The rate must be positive.")


# PostgreSQL: the reservation in one statement and one round trip, on the database's clock. A first use
# inserts the row with its slot taken now; otherwise the row is moved on, locked only while the statement
# runs, unless its slot is beyond max_wait: then nothing changes and the second SELECT answers how far the
# slot is (from the statement's snapshot: a reservation committed meanwhile may make it a little further).
# Committed without waiting for the disk (synchronous_commit off for this one statement's transaction): a
# reservation lost in a crash of the database server costs at most a request over the rate, and waiting for
# the WAL flush was most of its cost (1-8 ms per API request on a busy disk). Evaluated through the join below.
RESERVE = f"""
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS off),
taken AS (
    INSERT INTO {TABLE} AS b (name, per_second, next_slot_at)
    VALUES (%(name)s, NULL, clock_timestamp() + make_interval(secs => %(margin)s / %(rate)s))
    ON CONFLICT (name) DO UPDATE
    SET next_slot_at = GREATEST(b.next_slot_at, clock_timestamp())
        + make_interval(secs => %(margin)s / COALESCE(b.per_second, %(rate)s))
    WHERE %(max_wait)s::float8 IS NULL
       OR b.next_slot_at <= clock_timestamp() + make_interval(secs => %(max_wait)s::float8)
    RETURNING b.next_slot_at - make_interval(secs => %(margin)s / COALESCE(b.per_second, %(rate)s)) AS slot
)
SELECT true, EXTRACT(EPOCH FROM slot - clock_timestamp()) FROM relaxed, taken
UNION ALL
SELECT false, EXTRACT(EPOCH FROM next_slot_at - clock_timestamp()) FROM relaxed, {TABLE}
WHERE name = %(name)s AND NOT EXISTS (SELECT 1 FROM taken)
"""

HOLD = f"""
INSERT INTO {TABLE} AS b (name, per_second, next_slot_at)
VALUES (%(name)s, NULL, clock_timestamp() + make_interval(secs => %(seconds)s))
ON CONFLICT (name) DO UPDATE SET next_slot_at = GREATEST(b.next_slot_at, EXCLUDED.next_slot_at)
"""

SET_RATE = f"""
INSERT INTO {TABLE} AS b (name, per_second, next_slot_at)
VALUES (%(name)s, %(per_second)s, clock_timestamp())
ON CONFLICT (name) DO UPDATE SET per_second = EXCLUDED.per_second
"""


def _reserve_on_postgresql(name: str, rate: float, max_wait: float | None, margin: float) -> tuple[bool, float]:
    """(taken, seconds until the slot)."""
    params: dict[str, str | float | None] = {"name": name, "rate": rate, "margin": margin, "max_wait": max_wait}
    with connection.cursor() as cursor:
        cursor.execute(RESERVE, params)
        row = cursor.fetchone()
        if row is None:
            # Not taken, and the row another worker inserted meanwhile is newer than this statement's
            # snapshot: read it again.
            cursor.execute(
                f"SELECT EXTRACT(EPOCH FROM next_slot_at - clock_timestamp()) FROM {TABLE} WHERE name = %s", [name]
            )
            found = cursor.fetchone()
            row = (False, found[0] if found else max_wait or 0.0)
    return bool(row[0]), float(row[1])


def _reserve_in_a_transaction(name: str, rate: float, max_wait: float | None, margin: float) -> tuple[bool, float]:
    """SQLite (and any database without a server clock we read): a short transaction on this process's
    clock. SQLite's IMMEDIATE transactions (config.settings) serialize writers from the first statement;
    select_for_update() locks the row on databases that support it."""
    with transaction.atomic():
        # get_or_create inserts in a savepoint and, when another process inserted the row first
        # (IntegrityError), reads that row instead.
        budget, _ = Budget.objects.select_for_update().get_or_create(name=name)
        now = timezone.now()
        slot = max(now, budget.next_slot_at)
        wait = (slot - now).total_seconds()
        if max_wait is not None and wait > max_wait:
            return False, wait
        budget.next_slot_at = slot + timedelta(seconds=margin / (budget.per_second or rate))
        budget.save(update_fields=["next_slot_at"])
    return True, wait
