"""Tests for scheduler/schedules.py: cron (Vixie/Debian semantics on the job zone's wall clock), intervals, windows.

Every expected instant below was worked out by hand from the zone rules and is written literally in UTC,
with the reasoning in a comment. Nothing here computes an expectation with croniter or the module itself.

Zone facts used (tzdata):
- America/New_York: EST = UTC-5, EDT = UTC-4.
  2021-03-14 02:00 EST -> 03:00 EDT at 07:00Z (02:00-02:59 does not exist).
  2021-11-07 02:00 EDT -> 01:00 EST at 06:00Z (01:00-01:59 happens twice: EDT = 05:xxZ, then EST = 06:xxZ).
- Europe/London: GMT = UTC+0, BST = UTC+1.
  2021-03-28 01:00 GMT -> 02:00 BST at 01:00Z (01:00-01:59 does not exist).
  2021-10-31 02:00 BST -> 01:00 GMT at 01:00Z (01:00-01:59 twice: BST = 00:xxZ, then GMT = 01:xxZ).
- Australia/Lord_Howe: standard UTC+10:30, DST UTC+11 (a 30-minute shift).
  2021-10-03 02:00 +10:30 -> 02:30 +11 at 2021-10-02 15:30Z (02:00-02:29 does not exist).
  2021-04-04 02:00 +11 -> 01:30 +10:30 at 2021-04-03 15:00Z (01:30-01:59 twice: +11 = 14:3x/14:4xZ, then +10:30
  = 15:0x/15:1xZ).
- America/Sao_Paulo: standard UTC-3, DST UTC-2 (DST abolished from 2019 on).
  2018-11-04 00:00 -03 -> 01:00 -02 at 03:00Z (00:00-00:59 does not exist).
  2019-02-17 00:00 -02 -> 2019-02-16 23:00 -03 at 02:00Z (2019-02-16 23:00-23:59 twice: -02 = 01:xxZ, then
  -03 = 02:xxZ).
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from scheduler import schedules
from scheduler.schedules import ScheduleError, get_zone, next_interval, next_occurrences, parse_cron, upcoming

NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"
SAO_PAULO = "America/Sao_Paulo"


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def occurrences(expression, tz_name, after, count):
    found = next_occurrences(expression, tz_name, after, count)
    # Contract checks that hold for every call: aware UTC results, strictly increasing, strictly after `after`.
    assert len(found) == count
    assert all(moment.utcoffset() == timedelta(0) for moment in found)
    assert all(earlier < later for earlier, later in zip(found, found[1:], strict=False))
    assert all(moment > after for moment in found)
    return found


# --- America/New_York spring forward: 2021-03-14 02:00 EST -> 03:00 EDT (07:00Z) -------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 03-13 02:30 EST = 07:30Z; 03-14 02:30 does not exist -> fixed entry fires once at 03:00 EDT = 07:00Z;
        # 03-15 02:30 EDT = 06:30Z.
        ("30 2 * * *", utc(2021, 3, 13, 0), [utc(2021, 3, 13, 7, 30), utc(2021, 3, 14, 7), utc(2021, 3, 15, 6, 30)]),
        # 03-13 02:00 EST = 07:00Z; 03-14 02:00 does not exist -> 03:00 EDT = 07:00Z; 03-15 02:00 EDT = 06:00Z.
        ("0 2 * * *", utc(2021, 3, 13, 0), [utc(2021, 3, 13, 7), utc(2021, 3, 14, 7), utc(2021, 3, 15, 6)]),
        # 01:30 exists on the spring-forward day (still EST): 01:30 EST = 06:30Z; 03-15 01:30 EDT = 05:30Z.
        ("30 1 * * *", utc(2021, 3, 14, 0), [utc(2021, 3, 14, 6, 30), utc(2021, 3, 15, 5, 30)]),
        # Midnight is far from the gap: 03-14 00:00 EST = 05:00Z, 03-15 00:00 EDT = 04:00Z.
        ("@daily", utc(2021, 3, 13, 6), [utc(2021, 3, 14, 5), utc(2021, 3, 15, 4)]),
        # Wildcard minute: 01:30 EST = 06:30Z; 02:00 and 02:30 do not exist and are not fired; 03:00 EDT = 07:00Z,
        # 03:30 EDT = 07:30Z.
        ("*/30 * * * *", utc(2021, 3, 14, 6), [utc(2021, 3, 14, 6, 30), utc(2021, 3, 14, 7), utc(2021, 3, 14, 7, 30)]),
        # @hourly = "0 * * * *" (wildcard hour): 01:00 EST = 06:00Z, (02:00 missing), 03:00 EDT = 07:00Z,
        # 04:00 EDT = 08:00Z.
        ("@hourly", utc(2021, 3, 14, 5, 30), [utc(2021, 3, 14, 6), utc(2021, 3, 14, 7), utc(2021, 3, 14, 8)]),
        # Hours 0, 2, 4, 6 (wildcard): 00:00 EST = 05:00Z, 02:00 does not exist (skipped), 04:00 EDT = 08:00Z,
        # 06:00 EDT = 10:00Z.
        ("0 */2 * * *", utc(2021, 3, 14, 4), [utc(2021, 3, 14, 5), utc(2021, 3, 14, 8), utc(2021, 3, 14, 10)]),
        # Wildcard minute with a fixed hour is still a wildcard entry: 02:xx does not exist on 03-14, so the next
        # firing is 03-15 02:00 EDT = 06:00Z.
        ("*/15 2 * * *", utc(2021, 3, 14, 6), [utc(2021, 3, 15, 6), utc(2021, 3, 15, 6, 15)]),
        # Both 02:00 and 02:45 of a fixed entry fall in the gap: it fires once, at 03:00 EDT = 07:00Z; then 03-15
        # 02:00 EDT = 06:00Z and 02:45 EDT = 06:45Z.
        ("0,45 2 * * *", utc(2021, 3, 14, 6), [utc(2021, 3, 14, 7), utc(2021, 3, 15, 6), utc(2021, 3, 15, 6, 45)]),
        # Six fields, fixed minute/hour: 02:30:30 does not exist -> the first instant of EDT, 03:00:00 EDT = 07:00:00Z.
        ("30 30 2 * * *", utc(2021, 3, 14, 6), [utc(2021, 3, 14, 7), utc(2021, 3, 15, 6, 30, 30)]),
    ],
)
def test_new_york_spring_forward(expression, after, expected):
    assert occurrences(expression, NY, after, len(expected)) == expected


def test_new_york_spring_forward_after_inside_gap_region():
    # after = 06:59:59.5Z = 01:59:59.5 EST, just before the jump: "30 2" still fires at 03:00 EDT = 07:00Z.
    assert next_occurrences("30 2 * * *", NY, utc(2021, 3, 14, 6, 59, 59, 500000)) == [utc(2021, 3, 14, 7)]
    # after = 07:00Z exactly (03:00 EDT): the jump firing is not strictly after it -> 03-15 02:30 EDT = 06:30Z.
    assert next_occurrences("30 2 * * *", NY, utc(2021, 3, 14, 7)) == [utc(2021, 3, 15, 6, 30)]
    # after = 07:10Z (03:10 EDT): the jump firing is in the past -> 03-15 02:30 EDT = 06:30Z.
    assert next_occurrences("30 2 * * *", NY, utc(2021, 3, 14, 7, 10)) == [utc(2021, 3, 15, 6, 30)]


# --- America/New_York fall back: 2021-11-07 02:00 EDT -> 01:00 EST (06:00Z) --------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 01:30 happens twice; a fixed entry fires only in the first pass: 01:30 EDT = 05:30Z. 11-08 01:30 EST = 06:30Z.
        ("30 1 * * *", utc(2021, 11, 6, 12), [utc(2021, 11, 7, 5, 30), utc(2021, 11, 8, 6, 30)]),
        # 01:00 EDT = 05:00Z (first pass only); 11-08 01:00 EST = 06:00Z.
        ("0 1 * * *", utc(2021, 11, 6, 12), [utc(2021, 11, 7, 5), utc(2021, 11, 8, 6)]),
        # 02:00 happens once (the clock goes 01:59:59 EDT -> 01:00 EST): 02:00 EST = 07:00Z; 11-08 02:00 EST = 07:00Z.
        ("0 2 * * *", utc(2021, 11, 7, 0), [utc(2021, 11, 7, 7), utc(2021, 11, 8, 7)]),
        # Fixed entry over the repeated hour and the next: 01:00 EDT = 05:00Z once, 02:00 EST = 07:00Z.
        ("0 1-2 * * *", utc(2021, 11, 7, 0), [utc(2021, 11, 7, 5), utc(2021, 11, 7, 7)]),
        # 11-07 00:00 EDT = 04:00Z; 11-08 00:00 EST = 05:00Z.
        ("@daily", utc(2021, 11, 6, 12), [utc(2021, 11, 7, 4), utc(2021, 11, 8, 5)]),
        # Wildcard: both passes. 01:00 EDT 05:00Z, 01:30 EDT 05:30Z, 01:00 EST 06:00Z, 01:30 EST 06:30Z,
        # 02:00 EST 07:00Z.
        (
            "*/30 * * * *",
            utc(2021, 11, 7, 4, 45),
            [
                utc(2021, 11, 7, 5),
                utc(2021, 11, 7, 5, 30),
                utc(2021, 11, 7, 6),
                utc(2021, 11, 7, 6, 30),
                utc(2021, 11, 7, 7),
            ],
        ),
        # @hourly: 01:00 EDT = 05:00Z, 01:00 EST = 06:00Z, 02:00 EST = 07:00Z.
        ("@hourly", utc(2021, 11, 7, 4, 30), [utc(2021, 11, 7, 5), utc(2021, 11, 7, 6), utc(2021, 11, 7, 7)]),
        # Hours 0, 2, 4 (hour 1 is not in the set, so nothing doubles): 00:00 EDT = 04:00Z, 02:00 EST = 07:00Z,
        # 04:00 EST = 09:00Z.
        ("0 */2 * * *", utc(2021, 11, 7, 3), [utc(2021, 11, 7, 4), utc(2021, 11, 7, 7), utc(2021, 11, 7, 9)]),
        # Wildcard minute with fixed hour 1: both passes of 01:00 and 01:30 -> 05:00Z, 05:30Z, 06:00Z, 06:30Z,
        # then 11-08 01:00 EST = 06:00Z.
        (
            "*/30 1 * * *",
            utc(2021, 11, 7, 0),
            [
                utc(2021, 11, 7, 5),
                utc(2021, 11, 7, 5, 30),
                utc(2021, 11, 7, 6),
                utc(2021, 11, 7, 6, 30),
                utc(2021, 11, 8, 6),
            ],
        ),
    ],
)
def test_new_york_fall_back(expression, after, expected):
    assert occurrences(expression, NY, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # after = 06:10Z = 01:10 EST (second pass). Fixed "30 1" already fired at 01:30 EDT = 05:30Z,
        # so the next is 11-08 01:30 EST = 06:30Z (no second-pass firing).
        ("30 1 * * *", utc(2021, 11, 7, 6, 10), [utc(2021, 11, 8, 6, 30)]),
        # Wildcard from 01:10 EST: 01:30 EST = 06:30Z, 02:00 EST = 07:00Z.
        ("*/30 * * * *", utc(2021, 11, 7, 6, 10), [utc(2021, 11, 7, 6, 30), utc(2021, 11, 7, 7)]),
        # after = 05:40Z = 01:40 EDT (first pass, late): the wall clock steps back, so the second pass's 01:00 EST
        # = 06:00Z and 01:30 EST = 06:30Z are still ahead, then 02:00 EST = 07:00Z.
        ("*/30 * * * *", utc(2021, 11, 7, 5, 40), [utc(2021, 11, 7, 6), utc(2021, 11, 7, 6, 30), utc(2021, 11, 7, 7)]),
        # Same `after` (01:40 EDT) for the fixed entry: its only firing (05:30Z) is past -> 11-08 01:30 EST = 06:30Z.
        ("30 1 * * *", utc(2021, 11, 7, 5, 40), [utc(2021, 11, 8, 6, 30)]),
        # after = 06:00Z exactly (01:00 EST, start of the second pass): @hourly's 01:00 EST is not strictly after;
        # next is 02:00 EST = 07:00Z.
        ("@hourly", utc(2021, 11, 7, 6), [utc(2021, 11, 7, 7)]),
        # after = 05:59:59.999999Z (01:59:59.999999 EDT): @hourly fires at 01:00 EST = 06:00Z.
        ("@hourly", utc(2021, 11, 7, 5, 59, 59, 999999), [utc(2021, 11, 7, 6)]),
    ],
)
def test_new_york_after_inside_repeated_hour(expression, after, expected):
    assert occurrences(expression, NY, after, len(expected)) == expected


def test_after_in_local_zone_gives_utc_results():
    # after = 2021-11-07 01:10 EST (fold=1, the second pass) = 06:10Z, given in the zone itself.
    after = datetime(2021, 11, 7, 1, 10, fold=1, tzinfo=ZoneInfo(NY))
    # (Compare via astimezone: PEP 495 makes inter-zone == False for times in a fold.)
    assert after.astimezone(UTC) == utc(2021, 11, 7, 6, 10)
    found = next_occurrences("*/30 * * * *", NY, after, 2)
    # 01:30 EST = 06:30Z, 02:00 EST = 07:00Z.
    assert found == [utc(2021, 11, 7, 6, 30), utc(2021, 11, 7, 7)]
    assert all(moment.tzinfo is UTC for moment in found)


# --- Europe/London: 2021-03-28 01:00 GMT -> 02:00 BST; 2021-10-31 02:00 BST -> 01:00 GMT (both at 01:00Z) --------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 03-27 01:30 GMT = 01:30Z; 03-28 01:30 does not exist -> 02:00 BST = 01:00Z; 03-29 01:30 BST = 00:30Z.
        ("30 1 * * *", utc(2021, 3, 27, 0), [utc(2021, 3, 27, 1, 30), utc(2021, 3, 28, 1), utc(2021, 3, 29, 0, 30)]),
        # 01:00 itself is skipped (01:00 GMT is the transition) -> 02:00 BST = 01:00Z; 03-29 01:00 BST = 00:00Z.
        ("0 1 * * *", utc(2021, 3, 28, 0), [utc(2021, 3, 28, 1), utc(2021, 3, 29, 0)]),
        # 02:00 BST exists: 01:00Z. (Coincides with the jump instant, but it is an ordinary firing.)
        ("0 2 * * *", utc(2021, 3, 28, 0), [utc(2021, 3, 28, 1), utc(2021, 3, 29, 1)]),
        # Wildcard: 00:45 GMT = 00:45Z, 01:00-01:45 missing, 02:00 BST = 01:00Z, 02:15 BST = 01:15Z.
        (
            "*/15 * * * *",
            utc(2021, 3, 28, 0, 30),
            [utc(2021, 3, 28, 0, 45), utc(2021, 3, 28, 1), utc(2021, 3, 28, 1, 15)],
        ),
        # 03-28 00:00 GMT = 00:00Z; 03-29 00:00 BST = 03-28 23:00Z.
        ("@daily", utc(2021, 3, 27, 12), [utc(2021, 3, 28, 0), utc(2021, 3, 28, 23)]),
        # Fall back, fixed: first pass only, 01:30 BST = 00:30Z; 11-01 01:30 GMT = 01:30Z.
        ("30 1 * * *", utc(2021, 10, 30, 12), [utc(2021, 10, 31, 0, 30), utc(2021, 11, 1, 1, 30)]),
        # Fall back, @hourly: 01:00 BST = 00:00Z, 01:00 GMT = 01:00Z, 02:00 GMT = 02:00Z.
        ("@hourly", utc(2021, 10, 30, 23, 30), [utc(2021, 10, 31, 0), utc(2021, 10, 31, 1), utc(2021, 10, 31, 2)]),
        # Fall back, wildcard minute in hour 1: BST pass 00:00Z, 00:20Z, 00:40Z; GMT pass 01:00Z, 01:20Z, 01:40Z.
        (
            "*/20 1 * * *",
            utc(2021, 10, 30, 23, 50),
            [
                utc(2021, 10, 31, 0),
                utc(2021, 10, 31, 0, 20),
                utc(2021, 10, 31, 0, 40),
                utc(2021, 10, 31, 1),
                utc(2021, 10, 31, 1, 20),
                utc(2021, 10, 31, 1, 40),
            ],
        ),
        # 10-31 00:00 BST = 10-30 23:00Z; 11-01 00:00 GMT = 00:00Z.
        ("@midnight", utc(2021, 10, 30, 12), [utc(2021, 10, 30, 23), utc(2021, 11, 1, 0)]),
    ],
)
def test_london(expression, after, expected):
    assert occurrences(expression, LONDON, after, len(expected)) == expected


# --- Australia/Lord_Howe: 30-minute DST ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # Spring forward 2021-10-03 02:00 +10:30 -> 02:30 +11 (at 10-02 15:30Z).
        # 10-02 02:15 +10:30 = 10-01 15:45Z; 10-03 02:15 does not exist -> 02:30 +11 = 10-02 15:30Z;
        # 10-04 02:15 +11 = 10-03 15:15Z.
        (
            "15 2 * * *",
            utc(2021, 10, 1, 12),
            [utc(2021, 10, 1, 15, 45), utc(2021, 10, 2, 15, 30), utc(2021, 10, 3, 15, 15)],
        ),
        # 02:00 is the first missing wall time -> 02:30 +11 = 10-02 15:30Z; 10-04 02:00 +11 = 10-03 15:00Z.
        ("0 2 * * *", utc(2021, 10, 2, 12), [utc(2021, 10, 2, 15, 30), utc(2021, 10, 3, 15)]),
        # 01:45 exists on the spring day: 01:45 +10:30 = 10-02 15:15Z.
        ("45 1 * * *", utc(2021, 10, 2, 12), [utc(2021, 10, 2, 15, 15), utc(2021, 10, 3, 14, 45)]),
        # Wildcard from 01:30 +10:30 (15:00Z): 01:45 +10:30 = 15:15Z, 02:00 and 02:15 missing, 02:30 +11 = 15:30Z,
        # 02:45 +11 = 15:45Z.
        (
            "*/15 * * * *",
            utc(2021, 10, 2, 15),
            [utc(2021, 10, 2, 15, 15), utc(2021, 10, 2, 15, 30), utc(2021, 10, 2, 15, 45)],
        ),
        # Fall back 2021-04-04 02:00 +11 -> 01:30 +10:30 (at 04-03 15:00Z); 01:30-01:59 happens twice.
        # Fixed 01:45: first pass only, 01:45 +11 = 04-03 14:45Z; 04-05 01:45 +10:30 = 04-04 15:15Z.
        ("45 1 * * *", utc(2021, 4, 3, 12), [utc(2021, 4, 3, 14, 45), utc(2021, 4, 4, 15, 15)]),
        # 01:15 is before the repeated half-hour: once, 01:15 +11 = 04-03 14:15Z.
        ("15 1 * * *", utc(2021, 4, 3, 12), [utc(2021, 4, 3, 14, 15), utc(2021, 4, 4, 14, 45)]),
        # 02:00 happens once, in +10:30: 04-03 15:30Z.
        ("0 2 * * *", utc(2021, 4, 3, 12), [utc(2021, 4, 3, 15, 30), utc(2021, 4, 4, 15, 30)]),
        # Wildcard from 01:00 +11 (14:00Z): 01:15 +11 14:15Z, 01:30 +11 14:30Z, 01:45 +11 14:45Z,
        # 01:30 +10:30 15:00Z, 01:45 +10:30 15:15Z, 02:00 +10:30 15:30Z.
        (
            "*/15 * * * *",
            utc(2021, 4, 3, 14),
            [
                utc(2021, 4, 3, 14, 15),
                utc(2021, 4, 3, 14, 30),
                utc(2021, 4, 3, 14, 45),
                utc(2021, 4, 3, 15),
                utc(2021, 4, 3, 15, 15),
                utc(2021, 4, 3, 15, 30),
            ],
        ),
        # after = 15:05Z = 01:35 +10:30 (second pass): fixed 01:45 fired at 14:45Z already -> 04-05 01:45 +10:30
        # = 04-04 15:15Z; the wildcard still sees 01:45 +10:30 = 15:15Z.
        ("45 1 * * *", utc(2021, 4, 3, 15, 5), [utc(2021, 4, 4, 15, 15)]),
        ("*/15 * * * *", utc(2021, 4, 3, 15, 5), [utc(2021, 4, 3, 15, 15), utc(2021, 4, 3, 15, 30)]),
    ],
)
def test_lord_howe_half_hour_dst(expression, after, expected):
    assert occurrences(expression, LORD_HOWE, after, len(expected)) == expected


# --- America/Sao_Paulo: DST at midnight (2018-2019), none since 2019 --------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # DST start 2018-11-04 00:00 -03 -> 01:00 -02: midnight does not exist.
        # 11-03 00:00 -03 = 03:00Z; 11-04 00:00 missing -> 01:00 -02 = 03:00Z; 11-05 00:00 -02 = 02:00Z.
        ("@daily", utc(2018, 11, 2, 12), [utc(2018, 11, 3, 3), utc(2018, 11, 4, 3), utc(2018, 11, 5, 2)]),
        ("0 0 * * *", utc(2018, 11, 3, 12), [utc(2018, 11, 4, 3), utc(2018, 11, 5, 2)]),
        # 00:30 is in the gap too -> 01:00 -02 = 03:00Z; 11-05 00:30 -02 = 02:30Z.
        ("30 0 * * *", utc(2018, 11, 3, 12), [utc(2018, 11, 4, 3), utc(2018, 11, 5, 2, 30)]),
        # Wildcard from 11-03 23:00 -03 (02:00Z): 23:30 -03 = 02:30Z, 00:00/00:30 missing, 01:00 -02 = 03:00Z,
        # 01:30 -02 = 03:30Z.
        ("*/30 * * * *", utc(2018, 11, 4, 2), [utc(2018, 11, 4, 2, 30), utc(2018, 11, 4, 3), utc(2018, 11, 4, 3, 30)]),
        # DST end 2019-02-17 00:00 -02 -> 2019-02-16 23:00 -03: 02-16 23:xx happens twice.
        # Fixed 23:30: first pass only, 23:30 -02 = 02-17 01:30Z; 02-17 23:30 -03 = 02-18 02:30Z.
        ("30 23 * * *", utc(2019, 2, 16, 12), [utc(2019, 2, 17, 1, 30), utc(2019, 2, 18, 2, 30)]),
        # @hourly from 02-16 22:30 -02 (00:30Z): 23:00 -02 = 01:00Z, 23:00 -03 = 02:00Z, 00:00 -03 = 03:00Z.
        ("@hourly", utc(2019, 2, 17, 0, 30), [utc(2019, 2, 17, 1), utc(2019, 2, 17, 2), utc(2019, 2, 17, 3)]),
        # Midnight across the DST end: 02-16 00:00 -02 = 02:00Z, 02-17 00:00 -03 = 03:00Z (once), 02-18 = 03:00Z.
        ("@daily", utc(2019, 2, 15, 12), [utc(2019, 2, 16, 2), utc(2019, 2, 17, 3), utc(2019, 2, 18, 3)]),
        # No DST since 2019: 2019-11-03 (the first Sunday of November, the old DST start) is ordinary -03.
        # 11-03 00:00 -03 = 03:00Z, 11-04 00:00 -03 = 03:00Z.
        ("0 0 * * *", utc(2019, 11, 2, 12), [utc(2019, 11, 3, 3), utc(2019, 11, 4, 3)]),
        # 2020-11-01 (first Sunday of November) has a midnight too: 10-31 23:45 -03 = 02:45Z,
        # 11-01 00:00 -03 = 03:00Z, 00:15 = 03:15Z.
        (
            "*/15 * * * *",
            utc(2020, 11, 1, 2, 30),
            [utc(2020, 11, 1, 2, 45), utc(2020, 11, 1, 3), utc(2020, 11, 1, 3, 15)],
        ),
        # 2020-02-15 (third Saturday of February, the old DST end) has no repeated 23:xx: 23:00 -03 = 02-16 02:00Z,
        # 00:00 -03 = 03:00Z.
        ("@hourly", utc(2020, 2, 16, 1, 30), [utc(2020, 2, 16, 2), utc(2020, 2, 16, 3)]),
    ],
)
def test_sao_paulo(expression, after, expected):
    assert occurrences(expression, SAO_PAULO, after, len(expected)) == expected


# --- Day-of-month / day-of-week semantics (UTC) -------------------------------------------------------------------
# Calendar: 2021-06-01 is a Tuesday; June 2021 Mondays are 7, 14, 21, 28; July 2021 Mondays are 5, 12, 19, 26;
# 2021-07-01 is a Thursday.


@pytest.mark.parametrize(
    ("expression", "after", "expected_days"),
    [
        # Both restricted -> OR: the 1st, the 15th and every Monday.
        ("0 0 1,15 * 1", utc(2021, 6, 1), [(6, 7), (6, 14), (6, 15), (6, 21), (6, 28), (7, 1)]),
        # Both restricted -> OR (the classic "first Monday" mistake): days 1-7 plus every Monday.
        ("0 0 1-7 * 1", utc(2021, 6, 7), [(6, 14), (6, 21), (6, 28), (7, 1), (7, 2)]),
        # Day-of-month starts with "*" (a step) -> AND: Mondays with an odd day of month (7, 21, 5, 19).
        ("0 0 */2 * 1", utc(2021, 6, 1), [(6, 7), (6, 21), (7, 5), (7, 19)]),
        # Day-of-month is "*" -> every Monday.
        ("0 0 * * 1", utc(2021, 6, 1), [(6, 7), (6, 14), (6, 21)]),
        # Day-of-week is "*" -> every 1st.
        ("0 0 1 * *", utc(2021, 6, 1), [(7, 1), (8, 1)]),
        # Day-of-week starts with "*" (a step) -> AND: the 13th falling on Sun/Tue/Thu/Sat.
        # 2021: Jan 13 Wed (no), Feb 13 Sat, Mar 13 Sat, Apr 13 Tue, May 13 Thu.
        ("0 0 13 * */2", utc(2021, 1, 1), [(2, 13), (3, 13), (4, 13), (5, 13)]),
        # L with a restricted day-of-week -> OR: Mondays plus June 30 (the last day).
        ("0 0 L * 1", utc(2021, 6, 1), [(6, 7), (6, 14), (6, 21), (6, 28), (6, 30), (7, 5)]),
    ],
)
def test_day_matching(expression, after, expected_days):
    expected = [utc(2021, month, day) for month, day in expected_days]
    assert occurrences(expression, "UTC", after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # Last day of each month, 2021 is not a leap year.
        ("0 0 L * *", utc(2021, 1, 15), [utc(2021, 1, 31), utc(2021, 2, 28), utc(2021, 3, 31), utc(2021, 4, 30)]),
        # 2024 is a leap year.
        ("0 0 L * *", utc(2024, 2, 1), [utc(2024, 2, 29), utc(2024, 3, 31)]),
        # Last day of February at noon, from 2023-03-01: 2024-02-29, 2025-02-28.
        ("0 12 L 2 *", utc(2023, 3, 1), [utc(2024, 2, 29, 12), utc(2025, 2, 28, 12)]),
        # Feb 29 only exists in leap years: 2024-02-29, 2028-02-29.
        ("0 0 29 2 *", utc(2021, 3, 1), [utc(2024, 2, 29), utc(2028, 2, 29)]),
    ],
)
def test_last_day_and_leap_years(expression, after, expected):
    assert occurrences(expression, "UTC", after, len(expected)) == expected


def test_last_day_in_local_zone():
    # L in New York: 2021-06-30 23:30 EDT = 07-01 03:30Z; 07-31 23:30 EDT = 08-01 03:30Z.
    assert next_occurrences("30 23 L * *", NY, utc(2021, 6, 15), 2) == [utc(2021, 7, 1, 3, 30), utc(2021, 8, 1, 3, 30)]


# --- Nicknames (after Tuesday 2021-06-15 10:20:30Z, UTC) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("nickname", "expected"),
    [
        ("@yearly", utc(2022, 1, 1)),
        ("@annually", utc(2022, 1, 1)),
        ("@monthly", utc(2021, 7, 1)),
        ("@weekly", utc(2021, 6, 20)),  # the next Sunday
        ("@daily", utc(2021, 6, 16)),
        ("@midnight", utc(2021, 6, 16)),
        ("@hourly", utc(2021, 6, 15, 11)),
    ],
)
def test_nicknames(nickname, expected):
    assert next_occurrences(nickname, "UTC", utc(2021, 6, 15, 10, 20, 30)) == [expected]


def test_nickname_fixed_time_classification():
    assert parse_cron("@daily").fixed_time
    assert parse_cron("@weekly").fixed_time
    assert parse_cron("@yearly").fixed_time
    assert not parse_cron("@hourly").fixed_time


# --- Six fields (seconds first) ------------------------------------------------------------------------------------


def test_six_fields_every_ten_seconds():
    # From 10:20:33.5: 10:20:40, 10:20:50, 10:21:00.
    assert occurrences("*/10 * * * * *", "UTC", utc(2021, 6, 15, 10, 20, 33, 500000), 3) == [
        utc(2021, 6, 15, 10, 20, 40),
        utc(2021, 6, 15, 10, 20, 50),
        utc(2021, 6, 15, 10, 21),
    ]


def test_six_fields_seconds_come_first():
    # second 30, minute 0, hour 12 -> 12:00:30 every day (not minute 30 / hour 0 / day 12).
    assert occurrences("30 0 12 * * *", "UTC", utc(2021, 6, 15, 10), 2) == [
        utc(2021, 6, 15, 12, 0, 30),
        utc(2021, 6, 16, 12, 0, 30),
    ]
    # In Sao Paulo (-03): 12:00:30 -03 = 15:00:30Z.
    assert next_occurrences("30 0 12 * * *", SAO_PAULO, utc(2021, 6, 15, 10)) == [utc(2021, 6, 15, 15, 0, 30)]


def test_five_fields_fire_on_second_zero():
    spec = parse_cron("*/5 * * * *")
    assert spec.fields == ("0", "*/5", "*", "*", "*", "*")
    assert next_occurrences("*/5 * * * *", "UTC", utc(2021, 6, 15, 10, 0, 1)) == [utc(2021, 6, 15, 10, 5)]


# --- Month and day names, Sunday as 0 and 7 (UTC) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # July 2021 Mondays: 5, 12.
        ("0 9 * JAN,JUL MON", utc(2021, 6, 15), [utc(2021, 7, 5, 9), utc(2021, 7, 12, 9)]),
        # Weekdays from Friday 2021-06-18 10:00: Monday 21, Tuesday 22.
        ("0 9 * * MON-FRI", utc(2021, 6, 18, 10), [utc(2021, 6, 21, 9), utc(2021, 6, 22, 9)]),
        ("0 9 * * mon-fri", utc(2021, 6, 18, 10), [utc(2021, 6, 21, 9), utc(2021, 6, 22, 9)]),
        # Month range by name: from 2021-06-15, the 1st of Sep, Oct, Nov, then 2022-09-01.
        ("0 0 1 SEP-NOV *", utc(2021, 6, 15), [utc(2021, 9, 1), utc(2021, 10, 1), utc(2021, 11, 1), utc(2022, 9, 1)]),
        # Sunday as 0, 7 and SUN: from Tuesday 2021-06-15, Sundays 20 and 27.
        ("0 0 * * 0", utc(2021, 6, 15), [utc(2021, 6, 20), utc(2021, 6, 27)]),
        ("0 0 * * 7", utc(2021, 6, 15), [utc(2021, 6, 20), utc(2021, 6, 27)]),
        ("0 0 * * SUN", utc(2021, 6, 15), [utc(2021, 6, 20), utc(2021, 6, 27)]),
        # A range ending at 7: Fri 18, Sat 19, Sun 20, Fri 25.
        ("0 0 * * 5-7", utc(2021, 6, 15), [utc(2021, 6, 18), utc(2021, 6, 19), utc(2021, 6, 20), utc(2021, 6, 25)]),
        # Saturday and Sunday written as 6,7: Sat 19, Sun 20, Sat 26.
        ("0 0 * * 6,7", utc(2021, 6, 15), [utc(2021, 6, 19), utc(2021, 6, 20), utc(2021, 6, 26)]),
    ],
)
def test_names_and_sunday(expression, after, expected):
    assert occurrences(expression, "UTC", after, len(expected)) == expected


# --- `after` semantics ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # Exactly on a firing: strictly after, so the next one.
        ("0 * * * *", utc(2021, 6, 15, 10), utc(2021, 6, 15, 11)),
        ("@daily", utc(2021, 6, 15), utc(2021, 6, 16)),
        # A microsecond before a firing: that firing.
        ("0 * * * *", utc(2021, 6, 15, 9, 59, 59, 999999), utc(2021, 6, 15, 10)),
        # A microsecond after a firing: the next one.
        ("0 * * * *", utc(2021, 6, 15, 10, 0, 0, 1), utc(2021, 6, 15, 11)),
        # Seconds field with a fractional `after`: 10:00:00.5 -> 10:00:01.
        ("* * * * * *", utc(2021, 6, 15, 10, 0, 0, 500000), utc(2021, 6, 15, 10, 0, 1)),
        # Year boundary: the last minute of 2021 -> 2022-01-01 00:00.
        ("0 0 * * *", utc(2021, 12, 31, 23, 59, 59), utc(2022, 1, 1)),
    ],
)
def test_after_is_strict(expression, after, expected):
    assert next_occurrences(expression, "UTC", after) == [expected]


def test_default_count_is_one():
    assert next_occurrences("*/5 * * * *", "UTC", utc(2021, 6, 15, 10, 1)) == [utc(2021, 6, 15, 10, 5)]


def test_many_occurrences_in_order():
    # Every 5 minutes for 30 results from 10:00 (exclusive): 10:05 ... 12:30.
    found = occurrences("*/5 * * * *", "UTC", utc(2021, 6, 15, 10), 30)
    assert found[0] == utc(2021, 6, 15, 10, 5)
    assert found[-1] == utc(2021, 6, 15, 12, 30)


# --- Validation ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("61 * * * *", "minute"),
        ("60 * * * *", "minute"),
        ("5-1 * * * *", "minute"),
        ("*/0 * * * *", "minute"),
        ("L * * * *", "minute"),
        ("abc * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 23-1 * * *", "hour"),
        ("0 0 32 * *", "day of month"),
        ("0 0 0 * *", "day of month"),
        ("0 0 20-10 * *", "day of month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * 0 *", "month"),
        ("0 0 * FOO *", "month"),
        ("0 0 * * 8", "day of week"),
        ("0 0 * * FOO", "day of week"),
        ("0 0 * * 5-1", "day of week"),
        ("60 * * * * *", "second"),
        ("*/0 * * * * *", "second"),
        # Six fields: the second field is the minute.
        ("0 60 * * * *", "minute"),
    ],
)
def test_invalid_field_is_named(expression, field):
    with pytest.raises(ScheduleError) as excinfo:
        parse_cron(expression)
    assert f"the {field} field" in str(excinfo.value).lower()


def test_reversed_range_message():
    with pytest.raises(ScheduleError, match="reversed range '5-1'"):
        parse_cron("5-1 * * * *")


@pytest.mark.parametrize("expression", ["* * * *", "* * * * * * *", "0", "0 0"])
def test_wrong_field_count(expression):
    with pytest.raises(ScheduleError, match=r"Expected 5 fields .* or 6 with seconds first; got \d+"):
        parse_cron(expression)


def test_field_count_is_reported():
    with pytest.raises(ScheduleError, match="got 4"):
        parse_cron("* * * *")
    with pytest.raises(ScheduleError, match="got 7"):
        parse_cron("* * * * * * *")


@pytest.mark.parametrize("expression", ["@every5", "@every 5m", "@reboot", "@"])
def test_unknown_nickname(expression):
    with pytest.raises(ScheduleError, match="Unknown nickname"):
        parse_cron(expression)


@pytest.mark.parametrize("expression", ["", "   ", None])
def test_empty_expression(expression):
    with pytest.raises(ScheduleError, match="Enter a cron expression"):
        parse_cron(expression)


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *"])
def test_expression_that_never_matches(expression):
    with pytest.raises(ScheduleError, match="never matches"):
        parse_cron(expression)


def test_schedule_error_is_a_value_error():
    assert issubclass(ScheduleError, ValueError)
    with pytest.raises(ValueError):
        parse_cron("61 * * * *")


def test_invalid_expression_through_next_occurrences():
    with pytest.raises(ScheduleError, match="The hour field"):
        next_occurrences("0 24 * * *", "UTC", utc(2021, 6, 15))


def test_whitespace_is_normalized():
    spec = parse_cron("  */5   *\t* *  *  ")
    assert spec.expression == "*/5 * * * *"
    assert spec.fields == ("0", "*/5", "*", "*", "*", "*")
    assert parse_cron(" @daily ").fields == ("0", "0", "0", "*", "*", "*")


@pytest.mark.parametrize(
    ("expression", "fixed_time", "day_or"),
    [
        ("30 2 * * *", True, False),
        ("0 1-2 * * *", True, False),
        ("0,30 2 * * *", True, False),
        ("*/30 * * * *", False, False),
        ("*/30 1 * * *", False, False),
        ("0 */2 * * *", False, False),
        ("0 * * * *", False, False),
        ("0 0 1,15 * 1", True, True),
        ("0 0 */2 * 1", True, False),
        ("0 0 13 * */2", True, False),
        ("0 0 L * 1", True, True),
        ("* 30 2 * * *", True, False),  # the seconds field does not make an entry a wildcard one
    ],
)
def test_spec_classification(expression, fixed_time, day_or):
    spec = parse_cron(expression)
    assert spec.fixed_time is fixed_time
    assert spec.day_or is day_or
    assert schedules.is_fixed_time(expression) is fixed_time


# --- Time zones ----------------------------------------------------------------------------------------------------


def test_get_zone_known():
    assert get_zone(SAO_PAULO) == ZoneInfo(SAO_PAULO)
    assert get_zone("UTC") == ZoneInfo("UTC")


@pytest.mark.parametrize("name", ["Mars/Base", "america/new_york", "EST5EDT ", "../etc/passwd"])
def test_get_zone_unknown(name):
    with pytest.raises(ScheduleError, match="Unknown time zone"):
        get_zone(name)


@pytest.mark.parametrize("name", ["", None])
def test_get_zone_missing(name):
    with pytest.raises(ScheduleError, match="Choose a time zone"):
        get_zone(name)


def test_unknown_zone_through_next_occurrences():
    with pytest.raises(ScheduleError, match="Mars/Base"):
        next_occurrences("@daily", "Mars/Base", utc(2021, 6, 15))


# --- Intervals -----------------------------------------------------------------------------------------------------

ANCHOR = utc(2021, 1, 1)


@pytest.mark.parametrize(
    ("interval", "after", "count", "expected"),
    [
        # Hourly from midnight, after 05:30 -> 06:00, 07:00, 08:00.
        (3600, utc(2021, 1, 1, 5, 30), 3, [utc(2021, 1, 1, 6), utc(2021, 1, 1, 7), utc(2021, 1, 1, 8)]),
        # Exactly on an occurrence: strictly after -> 06:00.
        (3600, utc(2021, 1, 1, 5), 1, [utc(2021, 1, 1, 6)]),
        # A microsecond past an occurrence -> the next one.
        (3600, utc(2021, 1, 1, 5, 0, 0, 1), 1, [utc(2021, 1, 1, 6)]),
        # A microsecond before an occurrence -> that one.
        (3600, utc(2021, 1, 1, 4, 59, 59, 999999), 1, [utc(2021, 1, 1, 5)]),
        # Before the anchor: the anchor itself comes first.
        (3600, utc(2020, 12, 31, 12), 2, [utc(2021, 1, 1), utc(2021, 1, 1, 1)]),
        # Exactly on the anchor: strictly after -> anchor + 1 interval.
        (3600, ANCHOR, 1, [utc(2021, 1, 1, 1)]),
        # 7 minutes: from 00:00, after 01:00 -> 01:03 (9 x 7 = 63), 01:10.
        (420, utc(2021, 1, 1, 1), 2, [utc(2021, 1, 1, 1, 3), utc(2021, 1, 1, 1, 10)]),
        # Weekly, far later: 2021-01-01 + 52 weeks = 2021-12-31; after 2021-12-30 -> 2021-12-31, 2022-01-07.
        (7 * 86400, utc(2021, 12, 30), 2, [utc(2021, 12, 31), utc(2022, 1, 7)]),
        # Intervals are elapsed time, unaffected by DST (anchor and results in UTC): daily from 00:00Z stays 00:00Z.
        (86400, utc(2021, 3, 13, 12), 2, [utc(2021, 3, 14), utc(2021, 3, 15)]),
    ],
)
def test_next_interval(interval, after, count, expected):
    assert next_interval(ANCHOR, interval, after, count) == expected


def test_next_interval_far_from_anchor_is_exact():
    # 2**36 seconds (~2178 years) after the anchor, minus a microsecond: the occurrence at anchor + 2**36 s is still
    # strictly after `after`, so it comes first. (A float quotient k - 1e-6 would round to k and skip it.)
    anchor = utc(1900, 1, 1)
    k = 2**36
    after = anchor + timedelta(seconds=k) - timedelta(microseconds=1)
    assert next_interval(anchor, 1, after, 2) == [
        anchor + timedelta(seconds=k),
        anchor + timedelta(seconds=k + 1),
    ]


@pytest.mark.parametrize("interval", [0, -1, -3600, None])
def test_next_interval_rejects_non_positive(interval):
    with pytest.raises(ScheduleError, match="positive"):
        next_interval(ANCHOR, interval, utc(2021, 6, 15))


# --- upcoming(): job types and the start/end window -----------------------------------------------------------------


def make_job(**overrides):
    fields = {
        "schedule_type": "cron",
        "cron": "0 * * * *",
        "timezone": "UTC",
        "interval_seconds": None,
        "run_at": None,
        "start_at": None,
        "end_at": None,
        "created_at": utc(2021, 1, 1),
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_upcoming_cron():
    job = make_job(cron="0 9 * * *", timezone=NY)
    # 09:00 EDT = 13:00Z on 06-15 and 06-16.
    assert upcoming(job, utc(2021, 6, 15, 12), 2) == [utc(2021, 6, 15, 13), utc(2021, 6, 16, 13)]


def test_upcoming_cron_across_dst_in_job_zone():
    job = make_job(cron="30 2 * * *", timezone=NY)
    # 03-14 02:30 does not exist -> 03:00 EDT = 07:00Z.
    assert upcoming(job, utc(2021, 3, 14, 0), 1) == [utc(2021, 3, 14, 7)]


def test_upcoming_cron_start_at_is_inclusive():
    job = make_job(start_at=utc(2021, 6, 15, 12))
    # Nothing before 12:00; the 12:00 firing itself counts.
    assert upcoming(job, utc(2021, 6, 15, 9, 30), 2) == [utc(2021, 6, 15, 12), utc(2021, 6, 15, 13)]


def test_upcoming_cron_start_at_in_the_past_is_ignored():
    job = make_job(start_at=utc(2021, 1, 1))
    assert upcoming(job, utc(2021, 6, 15, 9, 30), 1) == [utc(2021, 6, 15, 10)]


def test_upcoming_cron_start_at_between_firings():
    job = make_job(start_at=utc(2021, 6, 15, 12, 30))
    assert upcoming(job, utc(2021, 6, 15, 9, 30), 1) == [utc(2021, 6, 15, 13)]


def test_upcoming_cron_end_at_is_inclusive_and_truncates():
    job = make_job(end_at=utc(2021, 6, 15, 11))
    # Asked for 5, only 10:00 and 11:00 are inside the window.
    assert upcoming(job, utc(2021, 6, 15, 9, 30), 5) == [utc(2021, 6, 15, 10), utc(2021, 6, 15, 11)]


def test_upcoming_cron_after_end_at_is_empty():
    job = make_job(end_at=utc(2021, 6, 15, 11))
    assert upcoming(job, utc(2021, 6, 15, 11), 3) == []


def test_upcoming_interval_anchored_at_start_at():
    job = make_job(schedule_type="interval", cron="", interval_seconds=900, start_at=utc(2021, 6, 15, 10))
    # Before start: the start itself, then every 15 minutes.
    assert upcoming(job, utc(2021, 6, 15, 9), 2) == [utc(2021, 6, 15, 10), utc(2021, 6, 15, 10, 15)]
    # After start: the grid 10:00 + k x 15 min, strictly after 10:20 -> 10:30, 10:45.
    assert upcoming(job, utc(2021, 6, 15, 10, 20), 2) == [utc(2021, 6, 15, 10, 30), utc(2021, 6, 15, 10, 45)]


def test_upcoming_interval_anchored_at_created_at():
    job = make_job(schedule_type="interval", cron="", interval_seconds=600, created_at=utc(2021, 6, 15, 10, 7))
    # Grid 10:07 + k x 10 min, strictly after 10:30 -> 10:37, 10:47.
    assert upcoming(job, utc(2021, 6, 15, 10, 30), 2) == [utc(2021, 6, 15, 10, 37), utc(2021, 6, 15, 10, 47)]


def test_upcoming_interval_without_anchor_starts_from_after():
    job = make_job(schedule_type="interval", cron="", interval_seconds=60, created_at=None)
    assert upcoming(job, utc(2021, 6, 15, 10, 0, 30), 2) == [utc(2021, 6, 15, 10, 1, 30), utc(2021, 6, 15, 10, 2, 30)]


def test_upcoming_interval_end_at():
    job = make_job(
        schedule_type="interval",
        cron="",
        interval_seconds=3600,
        start_at=utc(2021, 6, 15, 10),
        end_at=utc(2021, 6, 15, 12),
    )
    assert upcoming(job, utc(2021, 6, 15, 9), 10) == [utc(2021, 6, 15, 10), utc(2021, 6, 15, 11), utc(2021, 6, 15, 12)]


def test_upcoming_interval_invalid():
    job = make_job(schedule_type="interval", cron="", interval_seconds=0)
    with pytest.raises(ScheduleError):
        upcoming(job, utc(2021, 6, 15), 1)


@pytest.mark.parametrize(
    ("run_at", "after", "extra", "expected"),
    [
        # In the future -> that single instant, even when more are asked for.
        (utc(2021, 6, 15, 12), utc(2021, 6, 15, 10), {}, [utc(2021, 6, 15, 12)]),
        # Exactly at `after` -> already due/past, strictly after fails.
        (utc(2021, 6, 15, 12), utc(2021, 6, 15, 12), {}, []),
        # In the past.
        (utc(2021, 6, 15, 12), utc(2021, 6, 15, 13), {}, []),
        # No run_at at all.
        (None, utc(2021, 6, 15, 10), {}, []),
        # Beyond end_at.
        (utc(2021, 6, 15, 12), utc(2021, 6, 15, 10), {"end_at": utc(2021, 6, 15, 11)}, []),
        # Exactly at end_at (inclusive).
        (utc(2021, 6, 15, 12), utc(2021, 6, 15, 10), {"end_at": utc(2021, 6, 15, 12)}, [utc(2021, 6, 15, 12)]),
        # Exactly at start_at (inclusive).
        (utc(2021, 6, 15, 12), utc(2021, 6, 15, 10), {"start_at": utc(2021, 6, 15, 12)}, [utc(2021, 6, 15, 12)]),
        # Before start_at.
        (utc(2021, 6, 15, 12), utc(2021, 6, 15, 10), {"start_at": utc(2021, 6, 15, 12, 1)}, []),
    ],
)
def test_upcoming_once(run_at, after, extra, expected):
    job = make_job(schedule_type="once", cron="", run_at=run_at, **extra)
    assert upcoming(job, after, 3) == expected
