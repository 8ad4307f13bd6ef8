"""Schedule math: the one place that knows when a job fires.

The dispatcher, the admin, the commands and the dashboard's preview all call these functions.

Cron follows Vixie/Debian cron, evaluated on the wall clock of the job's own IANA zone:
- 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; nicknames
  @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly. Each field is a list of `*`, `N`, `N-M`, each
  with an optional `/step` (`N/step` runs to the field's end); names JAN–DEC and SUN–SAT.
- The extensions healthchecks' cronsim documents, from Quartz: in the day of month `L` (the last day), `LW` (the
  last weekday, Monday to Friday); in the day of week `5L` (the last Friday of the month; 0L and 7L are the last
  Sunday) and `1#2` (the second Monday; 1–5). Also from Quartz: `15W` (the weekday nearest the 15th, without
  leaving the month) and `?` for a whole day field (the same as `*`).
- Day matching: when either day field starts with `*` (or is `?`), a day must match both; otherwise either.
- DST: a *fixed-time* entry (neither minute nor hour starts with `*`) whose wall time is skipped by
  spring-forward fires once, right after the jump; if its time repeats on fall-back it fires once,
  in the first pass. A *wildcard* entry fires only at wall times that exist, and in both passes of
  a repeated hour.

We parse every field ourselves (so only the syntax above is accepted, and croniter's own extras such as `R`,
`L5` or `W15` are not), then let croniter expand each field on a naive wall clock (where it is exact). croniter
cannot mix `#`, `5L` or `W` with plain values in one field, nor take either-day matching with them, so an entry
becomes one croniter expression per alternative (`variants`) and their wall times are merged. The DST rules
above are ours, because cron libraries disagree on exactly those cases.
"""

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from scheduler.shared import recorded

if TYPE_CHECKING:
    from scheduler.models import Job

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# The messages below are shown in the operator's language (gettext when raised, in a request) and, when a worker
# stored one in English (why a job was paused), read back in the reader's (scheduler.shared.recorded).
FIELD_NAMES = tuple(
    recorded.message(name)
    for name in (
        gettext_noop("second"),
        gettext_noop("minute"),
        gettext_noop("hour"),
        gettext_noop("day of month"),
        gettext_noop("month"),
        gettext_noop("day of week"),
    )
)
FIELD_HINTS = tuple(
    recorded.message(hint)
    for hint in (
        "0–59",
        "0–59",
        "0–23",
        gettext_noop("1–31, L, LW or 15W"),
        gettext_noop("1–12 or JAN–DEC"),
        gettext_noop("0–7 or SUN–SAT (0 and 7 are Sunday), 5L or 1#2"),
    )
)
CHOOSE_ZONE = recorded.message(gettext_noop("Choose a time zone."))
UNKNOWN_ZONE = recorded.message(
    gettext_noop("Unknown time zone '%(zone)s'. Use an IANA name such as America/Sao_Paulo.")
)
MISSING_ZONE = recorded.message(gettext_noop("Unknown time zone '%(zone)s'."))
NO_CRON = recorded.message(gettext_noop("Enter a cron expression, e.g. '*/5 * * * *' or '@daily'."))
UNKNOWN_NICKNAME = recorded.message(gettext_noop("Unknown nickname '%(nickname)s'. Use one of: %(nicknames)s."))
FIELD_COUNT = recorded.message(
    gettext_noop(
        "Expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; got %(count)s."
    )
)
NEVER = recorded.message(gettext_noop("This expression never matches a real date (e.g. 30 February)."))
REVERSED = recorded.message(gettext_noop("The %(field)s field has a reversed range '%(item)s' (allowed %(allowed)s)."))
INVALID = recorded.message(gettext_noop("The %(field)s field '%(value)s' is not valid (allowed %(allowed)s)."))
NO_INTERVAL = recorded.message(gettext_noop("The interval must be a positive number of seconds."))
BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
DAY, MONTH, WEEKDAY = 3, 4, 5
NAMES = {
    MONTH: {name: number for number, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)},
    WEEKDAY: {name: number for number, name in enumerate("SUN MON TUE WED THU FRI SAT".split())},
}
# The wall clock can step back by at most this much at a transition (2 h at Antarctica/Troll).
MAX_FOLD = timedelta(hours=3)


class ScheduleError(ValueError):
    """An expression or zone that cannot be scheduled; the message is shown to the operator."""


@dataclass(frozen=True)
class CronSpec:
    expression: str  # as written by the operator, whitespace-normalized
    fields: tuple[str, ...]  # always six, as written: second minute hour dom month dow
    fixed_time: bool
    day_or: bool
    # croniter expressions (seconds first, day_or off) whose wall times together are the entry's
    variants: tuple[str, ...]


def get_zone(tz_name: str | None) -> ZoneInfo:
    if not tz_name or not isinstance(tz_name, str):
        raise ScheduleError(_(CHOOSE_ZONE))
    if tz_name not in zone_names():
        raise ScheduleError(_(UNKNOWN_ZONE) % {"zone": tz_name})
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(_(MISSING_ZONE) % {"zone": tz_name}) from exc


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA names the bundled `tzdata` package lists, the same on every host: `available_timezones()` also
    has the host's own files (`localtime`, a link to whatever zone one machine is set to), which another
    worker may lack or read differently. `Factory` is a placeholder zone, not a place."""
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(listed) - {"Factory"} | {"UTC"}


_VALUE = r"([0-9]+|[A-Z]{3})"
_ITEM = re.compile(rf"(?:(\*)|{_VALUE}(?:-{_VALUE})?)(?:/([0-9]+))?")
_NEAREST = re.compile(r"([0-9]+)W")  # 15W
_LAST_WEEKDAY = re.compile(r"([0-9]+)L")  # 5L (digits only, as in cronsim: no FRIL)
_NTH = re.compile(rf"{_VALUE}#([0-9]+)")  # 1#2, MON#2


@lru_cache(maxsize=1024)
def parse_cron(expression: str | None) -> CronSpec:
    """Validate a cron expression; raise ScheduleError naming the field at fault."""
    text = " ".join(str(expression or "").split())
    if not text:
        raise ScheduleError(_(NO_CRON))
    fields = NICKNAMES.get(text.lower(), text).split(" ")
    if text.startswith("@") and text.lower() not in NICKNAMES:
        raise ScheduleError(_(UNKNOWN_NICKNAME) % {"nickname": text, "nicknames": ", ".join(NICKNAMES)})
    if len(fields) == 5:
        fields = ["0", *fields]
    elif len(fields) != 6:
        raise ScheduleError(_(FIELD_COUNT) % {"count": len(fields)})
    parts = [_parse_field(position, value) for position, value in enumerate(fields)]
    days, weekdays = ("*" if fields[position] == "?" else fields[position] for position in (DAY, WEEKDAY))
    day_or = not (days.startswith("*") or weekdays.startswith("*"))
    if day_or:  # either day matches: each alternative of one day field, with the other day field left free
        pairs = [(day, "*") for day in parts[DAY]] + [("*", weekday) for weekday in parts[WEEKDAY]]
    else:
        pairs = [(day, weekday) for day in parts[DAY] for weekday in parts[WEEKDAY]]
    second, minute, hour, month = parts[0][0], parts[1][0], parts[2][0], parts[MONTH][0]
    variants = tuple(
        variant
        for variant in dict.fromkeys(f"{second} {minute} {hour} {day} {month} {weekday}" for day, weekday in pairs)
        if _ever_matches(variant)
    )
    if not variants:
        raise ScheduleError(_(NEVER))
    return CronSpec(
        expression=text,
        fields=tuple(fields),
        fixed_time=not fields[1].startswith("*") and not fields[2].startswith("*"),
        day_or=day_or,
        variants=variants,
    )


def _parse_field(position: int, value: str) -> tuple[str, ...]:
    """The field as croniter alternatives: the entry matches where any of them matches.

    Plain items share one alternative; in the day of month each `W` item is one of its own, in the day of week
    the `5L` and `1#2` items share one (croniter takes neither in a list with anything else).
    """
    if value == "?" and position in (DAY, WEEKDAY):
        return ("*",)
    plain: list[str] = []
    own: list[str] = []
    for item in value.upper().split(","):
        special = _special_item(position, item, value)
        if special is None:
            plain.append(_plain_item(position, item, value))
        else:
            own.append(special)
    if position == WEEKDAY and own:
        own = [",".join(own)]
    return tuple(([",".join(plain)] if plain else []) + own)


def _special_item(position: int, item: str, value: str) -> str | None:
    """`LW`, `15W`, `5L` or `1#2` translated for croniter; None for any other item (and for `L`, a plain one)."""
    if position == DAY and item == "LW":
        return "31W"  # croniter's nearest weekday to the 31st, clamped to the month: always its last weekday
    if position == DAY and (match := _NEAREST.fullmatch(item)):
        return f"{_number(position, match.group(1), value)}W"
    if position == WEEKDAY and (match := _LAST_WEEKDAY.fullmatch(item)):
        return f"L{_number(position, match.group(1), value)}"  # croniter spells it L5
    if position == WEEKDAY and (match := _NTH.fullmatch(item)):
        weekday, nth = _number(position, match.group(1), value), int(match.group(2))
        if not 1 <= nth <= 5:
            raise _invalid(position, value)
        return f"{weekday}#{nth}"
    return None


def _plain_item(position: int, item: str, value: str) -> str:
    if position == DAY and item == "L":
        return "L"
    match = _ITEM.fullmatch(item)
    if not match:
        raise _invalid(position, value)
    star, start, end, step = match.groups()
    low, high = BOUNDS[position]
    if step is not None and int(step) < 1:
        raise _invalid(position, value)
    if star:
        return "*" if step is None else f"{low}-{high}/{int(step)}"
    first = _number(position, start, value)
    last = first if end is None else _number(position, end, value)
    if last < first:
        raise ScheduleError(
            _(REVERSED) % {"field": _(FIELD_NAMES[position]), "item": item, "allowed": _(FIELD_HINTS[position])}
        )
    if step is not None and end is None:
        last = high  # N/step: from N to the end of the field (the day of week ends at 7, Sunday)
    if first == last:
        return str(first)  # croniter reads an equal range such as 5-5 as the whole field
    return f"{first}-{last}" if step is None else f"{first}-{last}/{int(step)}"


def _number(position: int, text: str, value: str) -> int:
    number = int(text) if text.isdigit() else NAMES.get(position, {}).get(text)
    low, high = BOUNDS[position]
    if number is None or not low <= number <= high:
        raise _invalid(position, value)
    return number


def _invalid(position: int, value: str) -> ScheduleError:
    allowed = _(FIELD_HINTS[position])
    return ScheduleError(_(INVALID) % {"field": _(FIELD_NAMES[position]), "value": value, "allowed": allowed})


def _ever_matches(variant: str) -> bool:
    try:
        croniter(variant, datetime(2000, 1, 1), second_at_beginning=True, day_or=False).get_next(datetime)
    except CroniterBadDateError:
        return False
    except CroniterError as exc:  # pragma: no cover - every field was checked above
        raise ScheduleError(str(exc)) from exc
    return True


def is_fixed_time(expression: str | None) -> bool:
    return parse_cron(expression).fixed_time


def next_occurrences(expression: str | None, tz_name: str | None, after: datetime, count: int = 1) -> list[datetime]:
    """The next `count` instants (aware, UTC) strictly after `after` at which the cron entry fires."""
    spec = parse_cron(expression)
    zone = get_zone(tz_name)
    after = after.astimezone(UTC)
    # The wall clock steps back at a fold: start early enough to see the second pass of a repeated hour.
    start = min(_wall(after, zone), _wall(after + MAX_FOLD, zone) - MAX_FOLD).replace(microsecond=0)
    results: list[datetime] = []
    pending: list[datetime] = []
    for wall in _walls(spec.variants, start - timedelta(seconds=1)):
        if len(results) >= count:
            break
        instants = _instants(wall, zone, spec.fixed_time)
        if not instants:
            continue
        # Instants of later wall times are never earlier than this wall time's first one, so every
        # pending instant before it is final and in order.
        while pending and pending[0] < instants[0]:
            _emit(heapq.heappop(pending), after, results)
        for instant in instants:
            heapq.heappush(pending, instant)
    else:  # no wall time left (croniter stops looking after many years): the pending ones are final
        while pending:
            _emit(heapq.heappop(pending), after, results)
    return results[:count]


def _walls(variants: Iterable[str], start: datetime) -> Iterator[datetime]:
    """The wall times strictly after `start` matched by any variant, in order, each once."""
    previous = None
    for wall in heapq.merge(*(_variant_walls(variant, start) for variant in variants)):
        if wall != previous:
            yield wall
            previous = wall


def _variant_walls(variant: str, start: datetime) -> Iterator[datetime]:
    walls = croniter(variant, start, second_at_beginning=True, day_or=False)
    while True:
        try:
            yield walls.get_next(datetime)
        except CroniterBadDateError:
            return


def _emit(instant: datetime, after: datetime, results: list[datetime]) -> None:
    if instant > after and (not results or instant != results[-1]):
        results.append(instant)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _instants(wall: datetime, zone: ZoneInfo, fixed_time: bool) -> list[datetime]:
    """The UTC instants at which a matching wall time fires, per the DST rules above."""
    first = wall.replace(tzinfo=zone, fold=0)
    first_utc = first.astimezone(UTC)
    if first_utc.astimezone(zone).replace(tzinfo=None) != wall:  # skipped by spring-forward
        return [_jump_instant(wall, zone)] if fixed_time else []
    second = wall.replace(tzinfo=zone, fold=1)
    if second.utcoffset() == first.utcoffset() or fixed_time:
        return [first_utc]
    return [first_utc, second.astimezone(UTC)]  # repeated hour: both passes


def _jump_instant(wall: datetime, zone: ZoneInfo) -> datetime:
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


def next_interval(anchor: datetime, interval_seconds: float | None, after: datetime, count: int = 1) -> list[datetime]:
    """Occurrences of an interval schedule: anchor + k × interval, strictly after `after`."""
    if not interval_seconds or interval_seconds <= 0:
        raise ScheduleError(_(NO_INTERVAL))
    step = timedelta(seconds=interval_seconds)
    if after < anchor:
        first = anchor
    else:
        first = anchor + step * ((after - anchor) // step + 1)  # timedelta // timedelta: exact int
    return [first + step * i for i in range(count)]


def upcoming(job: "Job", after: datetime, count: int = 1) -> list[datetime]:
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
