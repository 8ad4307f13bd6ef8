"""Adaptive polling: a source with a floor and a ceiling polls at the floor right after a check found
something (gincana tasks come in bursts), stays there for VIGIA_POLL_BURST_SECONDS, then backs off by half
again per quiet check up to the ceiling. Never faster than its host's budget allows the source alone.

The interval in force is Source.current_interval_seconds, and the source's check_source job runs on it: a
change moves the job's next run (the scheduler leader is woken when that moves earlier). Every poll is a
conditional GET (scrapers.sources.fetch), so a fast poll of a page that did not change costs a 304.
"""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from scheduler import services
from scheduler.models import Job
from scheduler.shared import budgets
from scrapers import ratelimit
from scrapers.sources.models import Source

BACKOFF = 1.5  # each quiet check after the burst window


def adaptive(source: Source) -> bool:
    return bool(source.poll_floor_seconds and source.poll_ceiling_seconds and not source.cron)


def fastest(url: str) -> int:
    """The shortest whole interval one source on this host may poll at without passing its budget."""
    return max(1, math.ceil(1 / budgets.host_rate(url) - 1e-9))


def budget_problem(source: Source, floor: int) -> str:
    """Why `floor` is too fast for the source's host, counting the host's other enabled sources at their
    fastest; "" when it fits."""
    rate = budgets.host_rate(source.url)
    host = ratelimit.host_key(source.url)
    others = 0.0
    same_host = Source.objects.filter(enabled=True).exclude(pk=source.pk).filter(Q(url__icontains=host.split(":")[0]))
    for url, interval, low, high, cron in same_host.values_list(
        "url", "interval_seconds", "poll_floor_seconds", "poll_ceiling_seconds", "cron"
    ):
        if ratelimit.host_key(url) != host:
            continue
        quickest = low if (low and high and not cron) else (None if cron else interval)
        others += 1 / quickest if quickest else 1 / 60  # a cron source: at most once a minute
    left = rate - others
    if 1 / floor <= left + 1e-9:
        return ""
    seconds = math.ceil(1 / left - 1e-9) if left > 0 else None
    values = {"host": host, "rate": f"{rate:g}", "left": f"{max(left, 0):.2f}".rstrip("0").rstrip("."), "s": seconds}
    if seconds is None:
        return (
            _(
                "The budget of %(host)s allows %(rate)s requests per second, and its other sources already use "
                "all of it: raise the host's budget or slow them down."
            )
            % values
        )
    return (
        _(
            "The budget of %(host)s allows %(rate)s requests per second, %(left)s of them left after its other "
            "sources: the fastest poll it permits is every %(s)s s."
        )
        % values
    )


def next_interval(source: Source, found: bool, now: datetime) -> int:
    """The interval after a check: the floor after a find and within the burst window after the last one,
    else one step slower, within [floor, ceiling] and never under what the host's budget allows."""
    floor = max(source.poll_floor_seconds or 1, fastest(source.url))
    ceiling = max(source.poll_ceiling_seconds or floor, floor)
    burst = timedelta(seconds=settings.VIGIA_POLL_BURST_SECONDS)
    if found or (source.last_found_at and now - source.last_found_at < burst):
        return floor
    current = source.current_interval_seconds or floor
    return min(ceiling, max(floor, math.ceil(current * BACKOFF)))


def after_check(source: Source, found: bool, now: datetime) -> None:
    """Move an adaptive source to its next interval (nothing for the others)."""
    if not adaptive(source) or not source.job_id:
        return
    if found:
        Source.objects.filter(pk=source.pk).update(last_found_at=now)
    interval = next_interval(source, found, now)
    if found:
        source.last_found_at = now
    if interval != source.current_interval_seconds:
        apply(source, interval)


@transaction.atomic
def apply(source: Source, interval: int) -> None:
    """Put the source's job on `interval` now (runs queued ahead for the old times are withdrawn)."""
    Source.objects.filter(pk=source.pk).update(current_interval_seconds=interval)
    source.current_interval_seconds = interval
    interval_jobs = Job.objects.select_for_update().filter(schedule_type=Job.ScheduleType.INTERVAL)
    job = interval_jobs.filter(pk=source.job_id).first() if source.job_id else None
    if job is None or job.interval_seconds == interval:
        return
    job.interval_seconds = interval
    services.refresh_schedule(job)
    job.save(update_fields=["interval_seconds", "next_run_at", "occurrences", "completed_at", "updated_at"])


def job_interval(source: Source) -> int | None:
    """The interval the source's job runs on: the adaptive one in force, else the source's own."""
    if not adaptive(source):
        return source.interval_seconds
    assert source.poll_floor_seconds and source.poll_ceiling_seconds  # adaptive()
    current = source.current_interval_seconds or source.poll_floor_seconds
    return min(max(current, source.poll_floor_seconds), source.poll_ceiling_seconds)
