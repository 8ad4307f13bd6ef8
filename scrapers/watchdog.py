"""The scrapers' conditions for the system watchdog (channels_app.watchdog): DJEN, or a source host, failing for
every request.

Read from what the checks record, one query each (no request is made for it):

- `system:djen` "DJEN failing for every request": at least MIN_CHECKED monitored people were checked in the
  last WINDOW, and none of those checks succeeded (every person check talks to DJEN; a person's own failures
  are that person's alert, `person:<id>`).
- `system:host:<host>` "Source host failing for every request": at least MIN_CHECKED sources of one host were
  checked in the last WINDOW and none of them succeeded since (a single failing source is its own alert,
  `source:<id>`).

Like every watchdog condition, each alerts once it has lasted VIGIA_WATCHDOG_AFTER_SECONDS.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db.models import Count, Q
from django.utils.translation import gettext_noop

from channels_app import watchdog
from channels_app.watchdog import Finding
from scheduler.shared import recorded
from scrapers.models import MonitoredPerson, Source

WINDOW = timedelta(minutes=15)
MIN_CHECKED = 2
DJEN = "system:djen"
HOST = "system:host:"  # + the host

DJEN_NAME = recorded.message(gettext_noop("DJEN failing for every request"))
DJEN_ERROR = recorded.message(
    gettext_noop(
        "None of the %(checked)s person checks of the last %(minutes)s minutes succeeded; the last error: %(error)s"
    )
)
HOST_NAME = recorded.message(gettext_noop("Source host failing for every request: %(host)s"))
HOST_ERROR = recorded.message(
    gettext_noop(
        "None of the %(checked)s sources of %(host)s checked in the last %(minutes)s minutes succeeded; "
        "the last error: %(error)s"
    )
)
MINUTES = int(WINDOW.total_seconds() // 60)


def djen(now: datetime) -> Iterable[Finding]:
    since = now - WINDOW
    checked = MonitoredPerson.objects.filter(last_checked_at__gte=since, last_checked_at__lte=now)
    figures = checked.aggregate(checked=Count("id"), ok=Count("id", filter=Q(last_success_at__gte=since)))
    failing = figures["checked"] >= MIN_CHECKED and not figures["ok"]
    error = ""
    if failing:
        last = checked.exclude(last_error="").order_by("-last_checked_at").values_list("last_error", flat=True).first()
        words = {"checked": figures["checked"], "minutes": MINUTES, "error": (last or "-")[:500]}
        error = DJEN_ERROR % words
    return [Finding(DJEN, DJEN_NAME, error, failing)]


def hosts(now: datetime) -> Iterable[Finding]:
    """The failing hosts only (channels_app.watchdog closes the others' alerts)."""
    since = now - WINDOW
    rows = Source.objects.filter(last_checked_at__gte=since, last_checked_at__lte=now).values_list(
        "url", "last_success_at", "last_error", "last_checked_at"
    )
    checked: dict[str, int] = defaultdict(int)
    succeeded: dict[str, int] = defaultdict(int)
    last: dict[str, tuple[datetime, str]] = {}
    for url, success, error, at in rows:
        host = (urlsplit(url).hostname or "").lower()
        if not host:
            continue
        checked[host] += 1
        if success is not None and success >= since:
            succeeded[host] += 1
        at = at or since  # checked in the window: never None
        if error and (host not in last or at > last[host][0]):
            last[host] = (at, error)
    found = []
    for host, count in sorted(checked.items()):
        if count >= MIN_CHECKED and not succeeded[host]:
            words = {"host": host, "checked": count, "minutes": MINUTES, "error": last.get(host, (now, "-"))[1][:500]}
            found.append(Finding(HOST + host[:88], HOST_NAME % words, HOST_ERROR % words, True))
    return found


def register() -> None:
    watchdog.register_condition("djen", djen)
    watchdog.register_condition("hosts", hosts, prefix=HOST)
