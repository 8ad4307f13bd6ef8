"""/metrics: Prometheus text exposition (format 0.0.4), computed from the database at scrape time.

The database holds state, not event counters, so every figure is a gauge over a stated window (the last
24 h of runs and deliveries, the last hour for the histograms); a histogram here is a snapshot of that
window, read with histogram_quantile() directly rather than through rate(). Each query reads an indexed
range or a small table, so a scrape stays cheap with a million runs in the history.

Protected by a bearer token (VIGIA_METRICS_TOKEN); without one configured the page does not exist.
"""

import hmac
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from channels_app.models import Delivery
from scheduler import dispatch, liveness
from scheduler import metrics as run_metrics
from scrapers.models import Source

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DELIVERY_WINDOW = timedelta(hours=24)


# --- exposition ------------------------------------------------------------------------------


def escape_label(value: object) -> str:
    """A label value as the format wants it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class Exposition:
    """Metric families written one after another: `# HELP`, `# TYPE`, then the samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, labels: Mapping[str, object] | None = None) -> None:
        pairs = ",".join(f'{key}="{escape_label(val)}"' for key, val in (labels or {}).items())
        self.lines.append(f"{name}{{{pairs}}} {format_value(value)}" if pairs else f"{name} {format_value(value)}")

    def gauge(self, name: str, help_text: str, samples: Iterable[tuple[Mapping[str, object] | None, float]]) -> None:
        """samples: [(labels dict or None, value)]."""
        self.family(name, "gauge", help_text)
        for labels, value in samples:
            self.sample(name, value, labels)

    def histogram(self, name: str, help_text: str, histogram: run_metrics.Histogram) -> None:
        self.family(name, "histogram", help_text)
        for bound, count in histogram.buckets:
            self.sample(f"{name}_bucket", count, {"le": f"{bound:g}"})
        self.sample(f"{name}_bucket", histogram.count, {"le": "+Inf"})
        self.sample(f"{name}_sum", histogram.total)
        self.sample(f"{name}_count", histogram.count)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# --- figures ---------------------------------------------------------------------------------


def deliveries_by_channel_and_status(now: datetime | None = None) -> dict[tuple[str, str], int]:
    """{(channel name, status): count} of the deliveries created in the last DELIVERY_WINDOW.

    Naming every status lets PostgreSQL read the window off the delivery_status_recent index
    (status, -created_at) one status at a time instead of scanning the table.
    """
    now = now or timezone.now()
    rows = (
        Delivery.objects.filter(status__in=Delivery.Status.values, created_at__gte=now - DELIVERY_WINDOW)
        .values("recipient__channel__name", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["recipient__channel__name"], row["status"]): row["n"] for row in rows}


def render(now: datetime | None = None) -> str:
    now = now or timezone.now()
    out = Exposition()
    runs = run_metrics.runs_by_kind_and_status(now)
    out.gauge(
        "vigia_runs_last_24h",
        "Runs scheduled in the last 24 hours, by job kind and status.",
        [({"kind": kind, "status": status}, n) for (kind, status), n in sorted(runs.items())],
    )
    out.histogram(
        "vigia_run_duration_seconds",
        "Duration of the runs finished in the last hour.",
        run_metrics.duration_histogram(now),
    )
    out.histogram(
        "vigia_dispatch_lag_seconds",
        "Delay between when a run was due and when a worker started it, for runs started in the last hour.",
        run_metrics.dispatch_lag_histogram(now),
    )

    overdue, _ = dispatch.most_overdue(now)
    out.gauge(
        "vigia_dispatch_most_overdue_seconds",
        "How long ago the most overdue enabled job was due (0 when none is): dispatch is not advancing.",
        [(None, round(overdue, 3))],
    )

    depths = liveness.queue_depths(now)
    out.gauge("vigia_queue_depth", "Tasks waiting on each queue.", [({"queue": q.name}, q.waiting) for q in depths])
    out.gauge(
        "vigia_queue_taken",
        "Tasks taken by a worker and not yet acknowledged, per queue.",
        [({"queue": q.name}, q.taken) for q in depths],
    )
    out.gauge(
        "vigia_queue_oldest_waiting_seconds",
        "Age of the oldest waiting task on each queue (0 when none waits).",
        [({"queue": q.name}, (now - q.oldest).total_seconds() if q.oldest else 0) for q in depths],
    )

    deliveries = deliveries_by_channel_and_status(now)
    out.gauge(
        "vigia_deliveries_last_24h",
        "Deliveries created in the last 24 hours, by channel and status.",
        [({"channel": channel, "status": status}, n) for (channel, status), n in sorted(deliveries.items())],
    )

    failing = list(
        Source.objects.filter(consecutive_failures__gt=0).order_by("name").values_list("name", "consecutive_failures")
    )
    out.gauge(
        "vigia_source_failures",
        "Consecutive failed checks of each failing source.",
        [({"source": name}, n) for name, n in failing],
    )
    out.gauge("vigia_sources_failing", "Sources whose last check failed.", [(None, len(failing))])
    out.gauge(
        "vigia_sources_broken",
        "Sources flagged broken after repeated failures.",
        [(None, Source.objects.filter(broken=True).count())],
    )

    leader = liveness.leader(now)
    out.gauge(
        "vigia_scheduler_leader", "1 while a scheduler holds the leader lease.", [(None, bool(leader and leader.alive))]
    )
    out.gauge(
        "vigia_scheduler_heartbeat_age_seconds",
        "Seconds since the scheduler leader last renewed its lease (absent: no scheduler ever ran).",
        [(None, leader.age.total_seconds())] if leader and leader.age is not None else [],
    )
    alive = sum(1 for cluster in liveness.clusters(now) if cluster.alive)
    out.gauge("vigia_clusters_alive", "Worker clusters whose presence heartbeat is current.", [(None, alive)])
    return out.text()


# --- the page --------------------------------------------------------------------------------


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@login_not_required  # a scraper has a token, not a session
@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.VIGIA_METRICS_TOKEN
    if not token:
        raise Http404
    if not _authorized(request, token):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        body = render()
    except DatabaseError as exc:  # the class only: a message could carry the database's address
        return HttpResponse(f"database unavailable: {type(exc).__name__}\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE)
