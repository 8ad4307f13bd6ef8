"""Figures about runs for /metrics, computed from the Run table at scrape time.

Every query is bounded by `scheduled_for` (the run_recent index), so a scrape reads the last day's runs at
most, however long the history. Histograms are counted in the database with one conditional COUNT per
bucket: one row comes back, not one per run.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from scheduler.models import Run

WINDOW = timedelta(hours=24)  # runs by kind and status: those scheduled within this
RECENT = timedelta(hours=1)  # durations and dispatch lags: runs finished / started within this
# A run started or finished within RECENT but scheduled before WINDOW (retried for over a day) is left
# out of the histograms: the price of reading only an indexed range.
BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300)  # seconds; +Inf is the count


@dataclass
class Histogram:
    buckets: list[tuple[float, int]]  # [(upper bound in seconds, cumulative count)], without +Inf
    total: float  # sum of the observations, seconds
    count: int


def runs_by_kind_and_status(now: datetime | None = None) -> dict[tuple[str, str], int]:
    """{(kind, status): count} of the runs scheduled in the last WINDOW."""
    now = now or timezone.now()
    rows = (
        Run.objects.filter(scheduled_for__gte=now - WINDOW)
        .values("job__kind", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["job__kind"], row["status"]): row["n"] for row in rows}


def duration_histogram(now: datetime | None = None) -> Histogram:
    """Wall time of the runs that finished in the last RECENT (their recorded duration_ms)."""
    now = now or timezone.now()
    runs = _recent(now).filter(finished_at__gte=now - RECENT, duration_ms__isnull=False)
    figures = runs.aggregate(
        **{f"le{i}": Count("id", filter=Q(duration_ms__lte=bound * 1000)) for i, bound in enumerate(BUCKETS)},
        count=Count("id"),
        total=Sum("duration_ms"),
    )
    return _histogram(figures, (figures["total"] or 0) / 1000)


def dispatch_lag_histogram(now: datetime | None = None) -> Histogram:
    """How late runs started in the last RECENT began: started_at - due_at (the scheduled time, or the end
    of a retry's backoff), so a retry's deliberate wait is not counted as lag."""
    now = now or timezone.now()
    runs = _recent(now).filter(started_at__gte=now - RECENT)
    lag = ExpressionWrapper(F("started_at") - F("due_at"), output_field=DurationField())
    figures = runs.aggregate(
        **{
            f"le{i}": Count("id", filter=Q(started_at__lte=F("due_at") + timedelta(seconds=bound)))
            for i, bound in enumerate(BUCKETS)
        },
        count=Count("id"),
        total=Sum(lag),
    )
    total = figures["total"]
    return _histogram(figures, total.total_seconds() if total else 0.0)


def _recent(now: datetime) -> QuerySet[Run]:
    return Run.objects.filter(scheduled_for__gte=now - WINDOW).order_by()


def _histogram(figures: Mapping[str, Any], total: float) -> Histogram:
    buckets = [(bound, figures[f"le{i}"]) for i, bound in enumerate(BUCKETS)]
    return Histogram(buckets, total, figures["count"])
