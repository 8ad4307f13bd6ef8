"""A long run's progress, written on its Run row while it works, for the pages that follow it.

The handler runs in autocommit, so each write is its own short transaction that a page sees at once
(PostgreSQL, and SQLite in WAL mode). The run's final result replaces it when the run ends.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from scheduler.models import Run
from scheduler.shared import budgets

EVERY_SECONDS = 1.0  # a page polls every second or two; more writes would only cost the database


class Throttled:
    """`progress(done, total, **figures)` that writes (`write`) at most every `every` seconds, and always at
    the end. RunProgress writes on a Run; scrapers.people.transfers.Progress on a PeopleTransfer."""

    def __init__(self, every: float = EVERY_SECONDS) -> None:
        self.last: float | None
        self.every, self.last = every, None

    def __call__(self, done: int, total: int, **figures: object) -> None:
        now = time.monotonic()
        if done < total and self.last is not None and now - self.last < self.every:
            return
        self.last = now
        self.write(done, total, **figures)

    def write(self, done: int, total: int, **figures: object) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RunProgress(Throttled):
    """A run's own progress, as its result while it works."""

    def __init__(self, run_id: int | None, every: float = EVERY_SECONDS) -> None:
        super().__init__(every)
        self.run_id = run_id

    def write(self, done: int, total: int, **figures: object) -> None:
        if self.run_id is not None:  # run_job in the foreground has no Run row
            result = {"done": done, "total": total, **figures}
            Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING).update(result=result)


def of(run: Run) -> tuple[int, int, int] | None:
    """(done, total, percent) of a run still working, from what RunProgress wrote; None when it wrote nothing."""
    result = run.result if isinstance(run.result, dict) else {}
    done, total = result.get("done"), result.get("total")
    if run.is_final or not isinstance(done, int) or not isinstance(total, int) or total <= 0:
        return None
    return done, total, min(100, done * 100 // total)


# --- a bulk run's fan-out: how far its child runs are, and how long the rest will take ---------------------

# The bulk jobs whose progress the Queue page follows: the parent's job kind, its children's job kind, and the
# setting naming the upstream whose per-host rate limit bounds how fast the children can go. Kind names are
# plain strings (the scheduler imports no domain app): "Check all people now" fans out one check_person run
# per person, each asking DJEN at least once.
BULK_KINDS = {"sync_people": ("check_person", "VIGIA_DJEN_URL")}
BULK_WITHIN = timedelta(hours=6)  # a bulk run started longer ago is no longer followed


@dataclass
class Bulk:
    """A bulk run and its children (runs it queued): done / total, the observed rate, and the time left."""

    run: Run
    total: int  # children it queued (while it still queues: those it has queued so far)
    done: int  # children that ended
    queuing: tuple[int, int] | None  # (done, total) while the bulk run is still queuing its children
    rate_per_minute: float | None  # children ended per minute since the first began; None: too early to say
    limit_per_minute: float | None  # the upstream's rate limit, in requests (at least one per child) a minute
    eta: timedelta | None  # remaining / min(rate, limit); None: nothing observed yet

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done)

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 0


def time_left(remaining: int, rate_per_minute: float | None, limit_per_minute: float | None) -> timedelta | None:
    """remaining / min(observed rate, rate limit): the limit caps an optimistic start; None when neither is known."""
    rates = [r for r in (rate_per_minute, limit_per_minute) if r is not None and r > 0]
    if not rates:
        return None
    return timedelta(minutes=remaining / min(rates))


def bulk(now: datetime | None = None) -> Bulk | None:
    """The latest bulk run (BULK_KINDS) started within BULK_WITHIN, running or ended in success; None if none.

    Two queries when there is none (the run), four when there is (its children's counts through the
    run_trigger_recent index: manual runs scheduled since it started; the upstream's budget row)."""
    now = now or timezone.now()
    run = (
        Run.objects.filter(job__kind__in=list(BULK_KINDS), started_at__gte=now - BULK_WITHIN)
        .filter(status__in=[Run.Status.RUNNING, Run.Status.SUCCEEDED])
        .select_related("job")
        .order_by("-started_at", "-id")
        .first()
    )
    if run is None or run.started_at is None:
        return None
    child_kind, url_setting = BULK_KINDS[run.job.kind]
    queuing = of(run)
    counts = Run.objects.filter(
        job__kind=child_kind, trigger=Run.Trigger.MANUAL, scheduled_for__gte=run.started_at
    ).aggregate(
        all=Count("id"),
        done=Count("id", filter=Q(status__in=Run.FINAL)),
        first=Min("started_at"),
    )
    done = counts["done"]
    if queuing is not None:
        total = max(queuing[1], counts["all"])  # the whole fan-out is known from the start
    else:
        queued = run.result.get("queued") if isinstance(run.result, dict) else None
        total = queued if isinstance(queued, int) and run.status == Run.Status.SUCCEEDED else counts["all"]
        total = max(total, done)
    if queuing is None and total and done >= total and run.finished_at and now - run.finished_at > BULK_DONE_SHOWN:
        return None  # long over: nothing to follow
    rate: float | None = None
    first: datetime | None = counts["first"]
    if first is not None and done:
        minutes = (now - first).total_seconds() / 60
        rate = done / minutes if minutes >= MIN_MINUTES else None
    limit = budgets.host_rate(getattr(settings, url_setting)) * 60
    queuing_pair = (queuing[0], queuing[1]) if queuing else None
    remaining = max(0, total - done)
    return Bulk(run, total, done, queuing_pair, rate, limit, time_left(remaining, rate, limit))


BULK_DONE_SHOWN = timedelta(minutes=10)  # a finished fan-out stays on the page this long
MIN_MINUTES = 0.1  # a rate over less time than this (6 s) says nothing yet
