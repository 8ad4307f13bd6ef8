"""What the overview summarizes, one small query each (the page refreshes itself every few seconds).

config is the composition root: it may read every app's models; the apps never read each other's here.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Model, Q
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import ngettext

from channels_app.models import Channel, Delivery
from scheduler import system_jobs
from scheduler.models import Job, Run
from scrapers.models import Item, MonitoredPerson, Source
from scrapers.people.services import monitored

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

HOURS = 24
CLOSED_HOURS_TTL = 60  # seconds the closed hours' counts are reused (a run's final status may lag that much)
EXPIRY_DAYS = 14  # people whose monitoring ends within this many days are listed
BAD = (Run.Status.FAILED, Run.Status.TIMED_OUT)
DEAD = (Delivery.Status.DEAD, Delivery.Status.FAILED)


@dataclass
class Hour:
    start: datetime
    total: int = 0
    bad: int = 0
    height: int = 0  # percent of the busiest hour
    bad_share: int = 0  # percent of this bar drawn as failed
    title: str = ""  # "14:00 · 120 runs, 3 failed", in the operator's language
    step: int = 0  # the bar's height class (vigia.css .h0 … .h20: 5 % steps)
    bad_step: int = 0


def _label(hour: Hour) -> str:
    """An hour's tooltip, built here: 48 {% blocktranslate %} per render cost more than the rest of the card."""
    text = f"{hour.start:%H:%M} · " + ngettext("%(n)s run", "%(n)s runs", hour.total) % {"n": hour.total}
    if hour.bad:
        text += ", " + ngettext("%(n)s failed", "%(n)s failed", hour.bad) % {"n": hour.bad}
    return text


@dataclass
class Activity:
    hours: list[Hour]
    # (status value, label, count), most first
    by_status: list[tuple[str, "StrOrPromise", int]] = field(default_factory=list)
    total: int = 0
    bad: int = 0


def runs_by_hour(now: datetime | None = None) -> Activity:
    """Runs scheduled in the last 24 h per hour (operator's zone) and status.

    Each count is one GROUP BY over a range of the run_recent index (scheduled_for). The 23 closed hours
    (~33,000 rows with 1,000,000 runs over 30 days) are counted at most once a minute per process; the
    current hour, where statuses still change, on every request.
    """
    now = now or timezone.now()
    current = now.astimezone(timezone.get_current_timezone()).replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=HOURS - 1)
    key = f"vigia:overview:closed-hours:{first.timestamp()}"
    counts = cache.get(key)
    if counts is None:
        counts = _count_by_hour(first, current)
        cache.set(key, counts, CLOSED_HOURS_TTL)
    counts = counts + _count_by_hour(current, current + timedelta(hours=1))
    hours = {first + timedelta(hours=i): Hour(first + timedelta(hours=i)) for i in range(HOURS)}
    statuses: dict[str, int] = {}
    for start, status, n in counts:
        hour = hours.get(start)
        if hour is None:
            continue
        hour.total += n
        hour.bad += n if status in BAD else 0
        statuses[status] = statuses.get(status, 0) + n
    busiest = max((h.total for h in hours.values()), default=0) or 1
    for hour in hours.values():
        hour.height = round(100 * hour.total / busiest)
        hour.bad_share = round(100 * hour.bad / hour.total) if hour.total else 0
        hour.step, hour.bad_step, hour.title = round(hour.height / 5), round(hour.bad_share / 5), _label(hour)
    labels = dict(Run.Status.choices)
    by_status = sorted(((s, labels.get(s, s), n) for s, n in statuses.items()), key=lambda t: -t[2])
    bad = sum(n for s, _, n in by_status if s in BAD)
    return Activity(list(hours.values()), by_status, sum(statuses.values()), bad)


def _count_by_hour(since: datetime, until: datetime) -> list[tuple[datetime, str, int]]:
    """[(hour start, status, count)] of the runs scheduled in [since, until)."""
    rows = (
        Run.objects.filter(scheduled_for__gte=since, scheduled_for__lt=until)
        .annotate(hour=TruncHour("scheduled_for"))
        .values_list("hour", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return list(rows)


def failing_sources(limit: int = 10) -> list[Source]:
    """Broken sources first, then those failing lately (the few rows of the source table)."""
    return list(
        Source.objects.filter(Q(broken=True) | Q(consecutive_failures__gt=0))
        .only("id", "name", "broken", "consecutive_failures", "last_error", "last_error_at", "last_success_at")
        .order_by("-broken", "-consecutive_failures", "name")[:limit]
    )


def expiring_people(today: date | None = None, limit: int = 10) -> list[MonitoredPerson]:
    """Active people whose monitoring ends within EXPIRY_DAYS (the person_expiry partial index)."""
    today = today or timezone.localdate()
    return list(
        monitored(today)
        .filter(monitor_until__lte=today + timedelta(days=EXPIRY_DAYS))
        .only("id", "name", "monitor_until")
        .order_by("monitor_until", "name")[:limit]
    )


@dataclass(frozen=True)
class Setup:
    """Whether the install has its first source, person and channel (the overview's first steps)."""

    sources: bool
    people: bool
    channels: bool

    @property
    def done(self) -> bool:
        return self.sources and self.people and self.channels

    @property
    def empty(self) -> bool:
        return not (self.sources or self.people or self.channels)


def setup() -> Setup:
    """One statement: EXISTS on each of the three tables (each stops at its first row)."""
    tables: list[type[Model]] = [Source, MonitoredPerson, Channel]
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM {quote(m._meta.db_table)})" for m in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return Setup(*(bool(x) for x in row))


def latest_items(limit: int = 5) -> list[Item]:
    """The newest items of every source (the primary key's index, backwards; no sort of the table)."""
    return list(
        Item.objects.select_related("source")
        .only("id", "title", "key", "first_seen", "source__id", "source__name")
        .order_by("-id")[:limit]
    )


def latest_deliveries(limit: int = 5) -> list[Delivery]:
    """The newest deliveries, whatever their status (the primary key's index, backwards)."""
    return list(
        Delivery.objects.select_related("recipient")
        .only("id", "status", "created_at", "recipient__label", "recipient__address")
        .order_by("-id")[:limit]
    )


@dataclass(frozen=True)
class NextRun:
    job: Job
    name: "StrOrPromise"  # the system jobs' in the operator's language (scheduler.system_jobs)


@dataclass
class NextRuns:
    operators: list[NextRun]  # the team's jobs (sources' checks, people, their own), first
    system: list[NextRun]  # the apps' housekeeping (external_service "vigia"), shown apart and compact


def next_jobs(limit: int = 8, system_limit: int = 5) -> NextRuns:
    """The next runs due: the operators' jobs along the job_due partial index; the system jobs (a handful)
    through the (external_service, external_key) unique index, sorted here."""
    fields = ("id", "name", "kind", "queue", "next_run_at", "external_service", "external_key")
    due = Job.objects.filter(enabled=True, next_run_at__isnull=False).only(*fields)
    operators = due.exclude(external_service=system_jobs.SERVICE).order_by("next_run_at", "id")[:limit]
    system = due.filter(external_service=system_jobs.SERVICE).order_by("next_run_at", "id")[:system_limit]
    return NextRuns(
        [NextRun(job, system_jobs.display_name(job)) for job in operators],  # a job an app made: translated
        [NextRun(job, system_jobs.display_name(job)) for job in system],
    )


def dead_deliveries(limit: int = 5) -> tuple[int, list[Delivery]]:
    """Deliveries that gave up: how many, and the latest few. One index range (delivery_status_recent) per
    status, each stopping after `limit` rows; an IN over both would read and sort every dead delivery."""
    count = Delivery.objects.filter(status__in=DEAD).count()  # an index-only scan
    latest: list[Delivery] = []
    for status in DEAD:
        latest += (
            Delivery.objects.filter(status=status)
            .select_related("recipient")
            .only("id", "status", "error", "created_at", "recipient__label", "recipient__address")
            .order_by("-created_at", "-id")[:limit]
        )
    return count, sorted(latest, key=lambda d: (d.created_at, d.pk), reverse=True)[:limit]
