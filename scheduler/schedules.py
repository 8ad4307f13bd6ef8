"""Schedule math: the one place that knows when a job fires.

The dispatcher, the admin, the commands and the dashboard's preview all call these functions.

Cron follows Vixie/Debian cron, evaluated on the wall clock of the job's own IANA zone:
- 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; nicknames
  @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly; `L` = last day of the month.
- Day matching: when either day field starts with `*`, a day must match both; otherwise either.
- DST: a *fixed-time* entry (neither minute nor hour starts with `*`) whose wall time is skipped by
  spring-forward fires once, right after the jump; if its time repeats on fall-back it fires once,
  in the first pass. A *wildcard* entry fires only at wall times that exist, and in both passes of
  a repeated hour.

croniter expands the fields on a naive wall clock (where it is exact); the DST rules above are ours,
because cron libraries disagree on exactly those cases.
"""

import heapq
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELD_NAMES = ("second", "minute", "hour", "day of month", "month", "day of week")
FIELD_HINTS = ("0–59", "0–59", "0–23", "1–31 or L", "1–12 or JAN–DEC", "0–7 or SUN–SAT (0 and 7 are Sunday)")
# The wall clock can step back by at most this much at a transition (2 h at Antarctica/Troll).
MAX_FOLD = timedelta(hours=3)


class ScheduleError(ValueError):
    """An expression or zone that cannot be scheduled; the message is shown to the operator."""


@dataclass(frozen=True)
class CronSpec:
    expression: str  # as written by the operator, whitespace-normalized
    fields: tuple  # always six: second minute hour dom month dow
    fixed_time: bool
    day_or: bool

    @property
    def croniter_expression(self):
        return " ".join(self.fields)


def get_zone(tz_name):
    if not tz_name or not isinstance(tz_name, str):
        raise ScheduleError("Choose a time zone.")
    if tz_name not in _zone_names():
        raise ScheduleError(f"Unknown time zone '{tz_name}'. Use an IANA name such as America/Sao_Paulo.")
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"Unknown time zone '{tz_name}'.") from exc


@lru_cache(maxsize=1)
def _zone_names():
    return frozenset(available_timezones()) | {"UTC"}


_RANGE = re.compile(r"^(\d+)-(\d+)")


@lru_cache(maxsize=1024)
def parse_cron(expression):
    """Validate a cron expression; raise ScheduleError naming the field at fault."""
    text = " ".join(str(expression or "").split())
    if not text:
        raise ScheduleError("Enter a cron expression, e.g. '*/5 * * * *' or '@daily'.")
    fields = NICKNAMES.get(text.lower(), text).split(" ")
    if text.startswith("@") and text.lower() not in NICKNAMES:
        raise ScheduleError(f"Unknown nickname '{text}'. Use one of: {', '.join(NICKNAMES)}.")
    if len(fields) == 5:
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise ScheduleError(
            f"Expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; "
            f"got {len(fields)}."
        )
    for position, value in enumerate(fields):
        _check_field(fields, position, value)
    spec = CronSpec(
        expression=text,
        fields=tuple(fields),
        fixed_time=not fields[1].startswith("*") and not fields[2].startswith("*"),
        day_or=not (fields[3].startswith("*") or fields[5].startswith("*")),
    )
    try:
        croniter(spec.croniter_expression, datetime(2000, 1, 1), second_at_beginning=True, day_or=spec.day_or).get_next(
            datetime
        )
    except CroniterBadDateError as exc:
        raise ScheduleError("This expression never matches a real date (e.g. 30 February).") from exc
    except CroniterError as exc:  # pragma: no cover - fields were checked one by one above
        raise ScheduleError(str(exc)) from exc
    return spec


def _check_field(fields, position, value):
    name, hint = FIELD_NAMES[position], FIELD_HINTS[position]
    for part in value.split(","):
        match = _RANGE.match(part)
        if match and int(match.group(1)) > int(match.group(2)):
            raise ScheduleError(f"The {name} field has a reversed range '{part}' (allowed {hint}).")
    probe = ["*"] * 6
    probe[position] = value
    if position == 3 and value.upper() == "L":
        return
    try:
        croniter(" ".join(probe), datetime(2000, 1, 1), second_at_beginning=True)
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise ScheduleError(f"The {name} field '{value}' is not valid (allowed {hint}).") from exc


def is_fixed_time(expression):
    return parse_cron(expression).fixed_time


def next_occurrences(expression, tz_name, after, count=1):
    """The next `count` instants (aware, UTC) strictly after `after` at which the cron entry fires."""
    spec = parse_cron(expression)
    zone = get_zone(tz_name)
    after = after.astimezone(UTC)
    # The wall clock steps back at a fold: start early enough to see the second pass of a repeated hour.
    start = min(_wall(after, zone), _wall(after + MAX_FOLD, zone) - MAX_FOLD).replace(microsecond=0)
    walls = croniter(
        spec.croniter_expression,
        start - timedelta(seconds=1),
        second_at_beginning=True,
        day_or=spec.day_or,
    )
    results, pending = [], []
    while len(results) < count:
        wall = walls.get_next(datetime)
        instants = _instants(wall, zone, spec.fixed_time)
        if not instants:
            continue
        # Instants of later wall times are never earlier than this wall time's first one, so every
        # pending instant before it is final and in order.
        while pending and pending[0] < instants[0]:
            _emit(heapq.heappop(pending), after, results)
        for instant in instants:
            heapq.heappush(pending, instant)
    return results[:count]


def _emit(instant, after, results):
    if instant > after and (not results or instant != results[-1]):
        results.append(instant)


def _wall(instant, zone):
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _instants(wall, zone, fixed_time):
    """The UTC instants at which a matching wall time fires, per the DST rules above."""
    first = wall.replace(tzinfo=zone, fold=0)
    first_utc = first.astimezone(UTC)
    if first_utc.astimezone(zone).replace(tzinfo=None) != wall:  # skipped by spring-forward
        return [_jump_instant(wall, zone)] if fixed_time else []
    second = wall.replace(tzinfo=zone, fold=1)
    if second.utcoffset() == first.utcoffset() or fixed_time:
        return [first_utc]
    return [first_utc, second.astimezone(UTC)]  # repeated hour: both passes


def _jump_instant(wall, zone):
    """The first instant after the spring-forward gap that contains `wall`."""
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    low, high = min(low, high), max(low, high)
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    # Transitions fall on whole seconds: the first one after `low` (still the old offset) is it.
    return low.replace(microsecond=0) + timedelta(seconds=1)


def next_interval(anchor, interval_seconds, after, count=1):
    """Occurrences of an interval schedule: anchor + k × interval, strictly after `after`."""
    if not interval_seconds or interval_seconds <= 0:
        raise ScheduleError("The interval must be a positive number of seconds.")
    step = timedelta(seconds=interval_seconds)
    if after < anchor:
        first = anchor
    else:
        first = anchor + step * ((after - anchor) // step + 1)  # timedelta // timedelta: exact int
    return [first + step * i for i in range(count)]


def upcoming(job, after, count=1):
    """The job's next `count` occurrences strictly after `after`, honouring its start/end window.

    Max occurrences are the caller's concern (they depend on how many already fired).
    """
    floor = after
    if job.start_at and job.start_at - timedelta(microseconds=1) > floor:
        floor = job.start_at - timedelta(microseconds=1)
    if job.schedule_type == "cron":
        found = next_occurrences(job.cron, job.timezone, floor, count)
    elif job.schedule_type == "interval":
        anchor = job.start_at or job.created_at or after
        found = next_interval(anchor, job.interval_seconds, floor, count)
    elif job.schedule_type == "once":
        found = [job.run_at] if job.run_at and job.run_at > floor else []
    else:  # manual: never by the clock
        found = []
    if job.end_at:
        found = [moment for moment in found if moment <= job.end_at]
    return found
