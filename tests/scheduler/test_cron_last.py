"""The Quartz extensions healthchecks' cronsim documents, and Quartz's W: `L` and `LW` in the day of month, `5L`
(the last Friday of the month) and `1#2` (the second Monday) in the day of week, `15W` (the weekday nearest the
15th, within the month), `?` for a whole day field; their validation, their words in the job editor, and the
DST rules of the README applied to them.

Every expected instant is written literally in UTC and was worked out by hand from a calendar and the zone
rules below; nothing here computes an expectation with croniter or the module under test.

Calendars used (day of the week of the 1st, number of days):
  2026: Jan Thu 31, Feb Sun 28, Mar Sun 31, Apr Wed 30, May Fri 31, Jun Mon 30, Jul Wed 31, Aug Sat 31,
        Sep Tue 30, Oct Thu 31, Nov Sun 30.
  2024: Mar Fri 31, Apr Mon 30, Sep Sun 30, Oct Tue 31, Nov Fri 30.  2018: Oct Mon, Nov Thu, Dec Sat.
  2019: Feb Fri 28, Mar Fri.
Zone facts used (tzdata):
- Europe/London: GMT = UTC+0, BST = UTC+1. 2026-03-29 (the last Sunday of March) 01:00 GMT -> 02:00 BST at
  01:00Z: 01:00-01:59 does not exist. 2026-10-25 (the last Sunday of October) 02:00 BST -> 01:00 GMT at 01:00Z:
  01:00-01:59 happens twice, BST = 00:xxZ then GMT = 01:xxZ.
- Asia/Jerusalem: IST = UTC+2, IDT = UTC+3. 2026-03-27 (a Friday, the last of March) 02:00 IST -> 03:00 IDT at
  00:00Z: 02:00-02:59 does not exist. 2026-10-25 (Sunday, the last of October) 02:00 IDT -> 01:00 IST at
  2026-10-24 23:00Z: 01:00-01:59 twice, IDT = 22:xxZ then IST = 23:xxZ (on 10-24 in UTC).
- Africa/Cairo: EET = UTC+2, EEST = UTC+3. 2024-04-26 (the last Friday of April) 00:00 EET -> 01:00 EEST at
  2024-04-25 22:00Z: 00:00-00:59 does not exist. 2024-10-31 (Thursday, the last weekday of October) 24:00 EEST
  -> 23:00 EET at 21:00Z: 23:00-23:59 twice, EEST = 20:xxZ then EET = 21:xxZ.
- America/Sao_Paulo: -03 standard, -02 DST. 2018-11-04 (the first Sunday of November) 00:00 -03 -> 01:00 -02 at
  03:00Z: 00:00-00:59 does not exist. 2019-02-17 00:00 -02 -> 2019-02-16 (the third Saturday of February)
  23:00 -03 at 02:00Z: 23:00-23:59 on 02-16 twice, -02 = 01:xxZ then -03 = 02:xxZ (on 02-17 in UTC).
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from scheduler import cron_text
from scheduler.forms import JobForm
from scheduler.schedules import ScheduleError, next_occurrences, parse_cron, upcoming
from tests.support.factories import job_form_data as form_data

LONDON = "Europe/London"
JERUSALEM = "Asia/Jerusalem"
CAIRO = "Africa/Cairo"
SAO_PAULO = "America/Sao_Paulo"


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def occurrences(expression, tz_name, after, count):
    found = next_occurrences(expression, tz_name, after, count)
    assert len(found) == count
    assert all(moment.utcoffset() == timedelta(0) for moment in found)
    assert all(earlier < later for earlier, later in zip(found, found[1:], strict=False))
    assert all(moment > after for moment in found)
    return found


# --- The days each form picks (UTC, so only the calendar is at work) ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected_days"),
    [
        # The last Friday: Jan 30, Feb 27, Mar 27, Apr 24, May 29, Jun 26, then Jul 31 (the 31st itself), Aug 28.
        ("0 9 * * 5L", utc(2026, 1, 1), [(1, 30), (2, 27), (3, 27), (4, 24), (5, 29), (6, 26), (7, 31), (8, 28)]),
        ("0 9 * * 5l", utc(2026, 6, 1), [(6, 26), (7, 31), (8, 28)]),  # case does not matter, as for names
        # The last Sunday, written 0L or 7L: Jan 25, Feb 22, Mar 29, Apr 26.
        ("0 9 * * 0L", utc(2026, 1, 1), [(1, 25), (2, 22), (3, 29), (4, 26)]),
        ("0 9 * * 7L", utc(2026, 1, 1), [(1, 25), (2, 22), (3, 29), (4, 26)]),
        # The last weekday: Jan 31 is a Saturday -> Fri 30; Feb 28 a Saturday -> Fri 27; Mar 31 a Tuesday;
        # Apr 30 a Thursday; May 31 a Sunday -> Fri 29; Jun 30 a Tuesday; Jul 31 a Friday; Aug 31 a Monday;
        # Oct 31 a Saturday -> Fri 30 (after Sep 30, a Wednesday).
        (
            "0 9 LW * *",
            utc(2026, 1, 1),
            [(1, 30), (2, 27), (3, 31), (4, 30), (5, 29), (6, 30), (7, 31), (8, 31), (9, 30), (10, 30)],
        ),
        ("0 9 lw * *", utc(2026, 5, 1), [(5, 29), (6, 30)]),
        # The last day, for comparison: Jan 31, Feb 28, Mar 31, Apr 30.
        ("0 9 L * *", utc(2026, 1, 1), [(1, 31), (2, 28), (3, 31), (4, 30)]),
        # Nearest weekday to the 15th: Jan 15 Thu; Feb 15 Sun -> Mon 16; Mar 15 Sun -> Mon 16; Apr 15 Wed;
        # May 15 Fri; Jun 15 Mon; Jul 15 Wed; Aug 15 Sat -> Fri 14.
        ("0 9 15W * *", utc(2026, 1, 1), [(1, 15), (2, 16), (3, 16), (4, 15), (5, 15), (6, 15), (7, 15), (8, 14)]),
        # Nearest weekday to the 1st never leaves the month: Aug 1 is a Saturday -> Mon 3, not Fri Jul 31.
        ("0 9 1W 8 *", utc(2026, 1, 1), [(8, 3)]),
        # The second Monday: Jan 12, Feb 9, Mar 9; MON#2 and lower case are the same.
        ("0 9 * * 1#2", utc(2026, 1, 1), [(1, 12), (2, 9), (3, 9)]),
        ("0 9 * * mon#2", utc(2026, 1, 1), [(1, 12), (2, 9), (3, 9)]),
        # The first Sunday, 0#1 or 7#1: Jan 4, Feb 1, Mar 1.
        ("0 9 * * 7#1", utc(2026, 1, 1), [(1, 4), (2, 1), (3, 1)]),
        # A fifth Friday only in Jan (30), May (29), Jul (31) and Oct (30).
        ("0 9 * * 5#5", utc(2026, 1, 1), [(1, 30), (5, 29), (7, 31), (10, 30)]),
        # `?` is `*`: Mondays only (not every day), and the 15th only.
        ("0 9 ? * 1", utc(2026, 1, 1), [(1, 5), (1, 12), (1, 19)]),
        ("0 9 15 * ?", utc(2026, 1, 1), [(1, 15), (2, 15), (3, 15)]),
    ],
)
def test_days_picked(expression, after, expected_days):
    found = occurrences(expression, "UTC", after, len(expected_days))
    assert found == [utc(2026, month, day, 9) for month, day in expected_days]


@pytest.mark.parametrize(
    ("expression", "after", "expected_days"),
    [
        # Neither day field starts with `*`, so either suffices: the 1st, or the last Friday.
        ("0 9 1 * 5L", utc(2026, 1, 1, 9), [(1, 30), (2, 1), (2, 27), (3, 1), (3, 27), (4, 1)]),
        # The 1st, or the second Monday (Jan 12, Feb 9).
        ("0 9 1 * 1#2", utc(2026, 1, 1), [(1, 1), (1, 12), (2, 1), (2, 9)]),
        # The weekday nearest the 15th (Wed Apr 15), or any Monday (Apr 6, 13, 20, 27).
        ("0 9 15W * 1", utc(2026, 4, 1), [(4, 6), (4, 13), (4, 15), (4, 20), (4, 27)]),
        # The last weekday, or the last Friday: in May both are Fri 29 (once); Jun 26 (Fri) and 30 (Tue).
        ("0 9 LW * 5L", utc(2026, 5, 1), [(5, 29), (6, 26), (6, 30)]),
        # The day of month starts with `*`, so both must match: a last Friday on an odd day (Jan 30, Apr 24 and
        # Jun 26 are even).
        ("0 9 */2 * 5L", utc(2026, 1, 1), [(2, 27), (3, 27), (5, 29), (7, 31)]),
        # Lists: every Monday and the last Friday (Jan 5, 12, 19, 26, Fri 30, Mon Feb 2).
        ("0 9 * * 1,5L", utc(2026, 1, 1), [(1, 5), (1, 12), (1, 19), (1, 26), (1, 30), (2, 2)]),
        ("0 9 * * 5L,MON", utc(2026, 1, 25), [(1, 26), (1, 30), (2, 2)]),
        # The first Monday and the last Friday: Jan 5, Jan 30, Feb 2, Feb 27.
        ("0 9 * * 1#1,5L", utc(2026, 1, 1), [(1, 5), (1, 30), (2, 2), (2, 27)]),
        # The 1st and the last weekday: Jan 30, Feb 1, Feb 27, Mar 1, Mar 31.
        ("0 9 1,LW * *", utc(2026, 1, 2), [(1, 30), (2, 1), (2, 27), (3, 1), (3, 31)]),
        # The weekday nearest the 15th and the last day: Jan 15, Jan 31, Feb 16, Feb 28.
        ("0 9 15W,L * *", utc(2026, 1, 1), [(1, 15), (1, 31), (2, 16), (2, 28)]),
    ],
)
def test_either_day_and_lists(expression, after, expected_days):
    found = occurrences(expression, "UTC", after, len(expected_days))
    assert found == [utc(2026, month, day, 9) for month, day in expected_days]


def test_a_day_that_never_comes_leaves_the_other_day_field():
    # 30 February never comes; the last Friday of February does: 2026-02-27, 2027-02-26 (Feb 2027 starts on a
    # Monday), 2028-02-25 (Feb 2028 starts on a Tuesday).
    found = occurrences("0 9 30 2 5L", "UTC", utc(2026, 1, 1), 3)
    assert found == [utc(2026, 2, 27, 9), utc(2027, 2, 26, 9), utc(2028, 2, 25, 9)]
    with pytest.raises(ScheduleError, match="never matches"):
        parse_cron("0 9 30 2 *")


def test_an_equal_range_is_that_one_value():
    # Debian reads 5-5 as minute 5 (croniter alone would read the whole field, every minute).
    assert occurrences("5-5 * * * *", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 1, 5)]
    # Month 3-3: March only.
    assert occurrences("0 9 1 3-3 *", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 3, 1, 9), utc(2027, 3, 1, 9)]


def test_a_weekday_with_a_step_runs_to_sunday_7():
    # 1/2 = 1-7/2 = Mon, Wed, Fri, Sun. From Thu Jan 1 2026: Fri 2, Sun 4, Mon 5, Wed 7.
    found = occurrences("0 9 * * 1/2", "UTC", utc(2026, 1, 1, 9), 4)
    assert found == [utc(2026, 1, 2, 9), utc(2026, 1, 4, 9), utc(2026, 1, 5, 9), utc(2026, 1, 7, 9)]


def test_upcoming_honours_the_window_with_lw():
    job = SimpleNamespace(
        schedule_type="cron",
        cron="0 18 LW * *",
        timezone="UTC",
        start_at=utc(2026, 2, 1),
        end_at=utc(2026, 4, 1),
        created_at=utc(2026, 1, 1),
    )
    # From Feb 1: Fri Feb 27, Tue Mar 31; Apr 30 is past end_at.
    assert upcoming(job, utc(2026, 1, 1), 3) == [utc(2026, 2, 27, 18), utc(2026, 3, 31, 18)]


# --- DST --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # London, the last Sunday of March is the change day: 01:30 does not exist on 03-29 -> once at 02:00 BST
        # = 01:00Z; 04-26 01:30 BST = 00:30Z.
        ("30 1 * * 0L", LONDON, utc(2026, 3, 1), [utc(2026, 3, 29, 1), utc(2026, 4, 26, 0, 30)]),
        # The same on 6 fields (seconds first): the jump instant is the same.
        ("15 30 1 * * 7L", LONDON, utc(2026, 3, 1), [utc(2026, 3, 29, 1), utc(2026, 4, 26, 0, 30, 15)]),
        # Last Sunday of October: 01:30 twice -> once, in the first pass (BST, 00:30Z); 11-29 01:30 GMT = 01:30Z.
        ("30 1 * * 0L", LONDON, utc(2026, 10, 1), [utc(2026, 10, 25, 0, 30), utc(2026, 11, 29, 1, 30)]),
        # The last Friday of March 2026 is the 27th, before the change (GMT); of April the 24th (BST).
        ("30 1 * * 5L", LONDON, utc(2026, 3, 1), [utc(2026, 3, 27, 1, 30), utc(2026, 4, 24, 0, 30)]),
        # Jerusalem changes on the last Friday of March: 02:30 does not exist on 03-27 -> once at 03:00 IDT =
        # 00:00Z. Before: 02-27 02:30 IST = 00:30Z; after: 04-24 02:30 IDT = 04-23 23:30Z.
        (
            "30 2 * * 5L",
            JERUSALEM,
            utc(2026, 2, 1),
            [utc(2026, 2, 27, 0, 30), utc(2026, 3, 27, 0, 0), utc(2026, 4, 23, 23, 30)],
        ),
        # And back on the last Sunday of October: 01:30 twice -> once at 01:30 IDT = 10-24 22:30Z; 11-29 01:30
        # IST = 11-28 23:30Z.
        ("30 1 * * 0L", JERUSALEM, utc(2026, 10, 1), [utc(2026, 10, 24, 22, 30), utc(2026, 11, 28, 23, 30)]),
        # Cairo springs forward at the start of the last Friday of April: 00:30 does not exist on 2024-04-26 ->
        # once at 01:00 EEST = 04-25 22:00Z. Before: 03-29 00:30 EET = 03-28 22:30Z; after: 05-31 00:30 EEST =
        # 05-30 21:30Z (May 2024 starts on a Wednesday: its Fridays are 3 ... 31).
        (
            "30 0 * * 5L",
            CAIRO,
            utc(2024, 3, 1),
            [utc(2024, 3, 28, 22, 30), utc(2024, 4, 25, 22), utc(2024, 5, 30, 21, 30)],
        ),
        # Cairo falls back at the end of Thu 2024-10-31, the last weekday of October: 23:30 twice -> once, at
        # 23:30 EEST = 20:30Z. Before: Mon 09-30 23:30 EEST = 20:30Z; after: Nov 30 is a Saturday -> Fri 11-29
        # 23:30 EET = 21:30Z.
        (
            "30 23 LW * *",
            CAIRO,
            utc(2024, 9, 1),
            [utc(2024, 9, 30, 20, 30), utc(2024, 10, 31, 20, 30), utc(2024, 11, 29, 21, 30)],
        ),
        # Sao Paulo 2018 springs forward on the first Sunday of November: 00:30 does not exist on 11-04 -> once at
        # 01:00 -02 = 03:00Z. Before: 10-07 00:30 -03 = 03:30Z; after: 12-02 00:30 -02 = 02:30Z.
        (
            "30 0 * * 0#1",
            SAO_PAULO,
            utc(2018, 10, 1),
            [utc(2018, 10, 7, 3, 30), utc(2018, 11, 4, 3), utc(2018, 12, 2, 2, 30)],
        ),
        # And falls back on the night of the third Saturday of February 2019: 23:30 on 02-16 twice -> once, at
        # -02 = 02-17 01:30Z; 03-16 23:30 -03 = 03-17 02:30Z.
        ("30 23 * * SAT#3", SAO_PAULO, utc(2019, 2, 1), [utc(2019, 2, 17, 1, 30), utc(2019, 3, 17, 2, 30)]),
    ],
)
def test_fixed_time_entries_keep_the_dst_rules(expression, zone, after, expected):
    assert occurrences(expression, zone, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # A wildcard entry in London's missing hour on 2026-03-29 never fires; the next last Sunday is 04-26
        # (BST): 01:00 = 00:00Z, 01:30 = 00:30Z.
        ("*/30 1 * * 0L", LONDON, utc(2026, 3, 28), [utc(2026, 4, 26, 0), utc(2026, 4, 26, 0, 30)]),
        # ... and fires in both passes of the repeated hour on 2026-10-25: BST 00:00Z, 00:30Z, then GMT 01:00Z,
        # 01:30Z; then 11-29 01:00 GMT.
        (
            "*/30 1 * * 0L",
            LONDON,
            utc(2026, 10, 24),
            [
                utc(2026, 10, 25, 0),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 25, 1),
                utc(2026, 10, 25, 1, 30),
                utc(2026, 11, 29, 1),
            ],
        ),
        # Cairo's repeated 23:00 hour on the last weekday of October 2024: EEST 20:00Z, 20:30Z, EET 21:00Z, 21:30Z.
        (
            "*/30 23 LW * *",
            CAIRO,
            utc(2024, 10, 31),
            [utc(2024, 10, 31, 20), utc(2024, 10, 31, 20, 30), utc(2024, 10, 31, 21), utc(2024, 10, 31, 21, 30)],
        ),
        # Cairo's missing midnight hour on the last Friday of April 2024: the wildcard entry skips it; the next
        # last Friday is 05-31 (EEST): 00:00 = 05-30 21:00Z.
        ("*/30 0 * * 5L", CAIRO, utc(2024, 4, 25, 12), [utc(2024, 5, 30, 21), utc(2024, 5, 30, 21, 30)]),
    ],
)
def test_wildcard_entries_keep_the_dst_rules(expression, zone, after, expected):
    assert occurrences(expression, zone, after, len(expected)) == expected


def test_after_inside_the_repeated_hour_still_sees_the_second_pass():
    # Cairo 2024-10-31: after 23:10 EEST (20:10Z) the wildcard entry still fires at 23:30 EEST (20:30Z) and then in
    # the second pass at 23:00 and 23:30 EET (21:00Z, 21:30Z).
    found = occurrences("*/30 23 LW * *", CAIRO, utc(2024, 10, 31, 20, 10), 3)
    assert found == [utc(2024, 10, 31, 20, 30), utc(2024, 10, 31, 21), utc(2024, 10, 31, 21, 30)]


# --- Validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("0 9 * * 8L", "day of week"),  # 0-7 only
        ("0 9 * * L#2", "day of week"),
        ("0 9 * * L", "day of week"),  # L alone means nothing in the day of week
        ("0 9 * * LW", "day of week"),
        ("0 9 * * L5", "day of week"),  # croniter's spelling; cronsim's (and ours) is 5L
        ("0 9 * * FRIL", "day of week"),  # as in cronsim, only a number before L
        ("0 9 * * 5L-6", "day of week"),
        ("0 9 * * 5L#1", "day of week"),
        ("0 9 * * 5L/3", "day of week"),
        ("0 9 * * 1#0", "day of week"),
        ("0 9 * * 1#6", "day of week"),
        ("0 9 * * 8#1", "day of week"),
        ("0 9 * * #2", "day of week"),
        ("0 9 * * 2#", "day of week"),
        ("0 9 * * 1##1", "day of week"),
        ("0 9 * * 1-5#2", "day of week"),
        ("0 9 * * 15W", "day of week"),
        ("0 9 * * 1,?", "day of week"),
        ("0 9 LW5 * *", "day of month"),
        ("0 9 5L * *", "day of month"),
        ("0 9 L5 * *", "day of month"),
        ("0 9 LL * *", "day of month"),
        ("0 9 LWX * *", "day of month"),
        ("0 9 WL * *", "day of month"),
        ("0 9 W15 * *", "day of month"),  # croniter's spelling; ours is 15W
        ("0 9 0W * *", "day of month"),
        ("0 9 32W * *", "day of month"),
        ("0 9 15W/2 * *", "day of month"),
        ("0 9 1-L * *", "day of month"),
        ("0 9 L/2 * *", "day of month"),
        ("0 9 1#2 * *", "day of month"),
        ("0 9 R * *", "day of month"),  # croniter's random day
        ("0 9 * L *", "month"),
        ("0 9 * ? *", "month"),
        ("0 L * * *", "hour"),
        ("? 9 * * *", "minute"),
        ("0 9 * * SAT-SUN", "day of week"),  # SUN is 0: a reversed range
    ],
)
def test_malformed_forms_name_their_field(expression, field):
    with pytest.raises(ScheduleError) as excinfo:
        parse_cron(expression)
    assert f"the {field} field" in str(excinfo.value).lower()


@pytest.mark.parametrize(
    "expression",
    ["0 9 * * 0L", "0 9 * * 7L", "0 9 * * 7#5", "0 9 * * sun#1", "0 9 lw * *", "0 9 * * 5l", "0 9 31W * *"],
)
def test_forms_cronsim_accepts_are_accepted(expression):
    assert parse_cron(expression).expression == expression


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 9 * * 8L", "The day of week field '8L' is not valid"),
        ("0 9 LW5 * *", "The day of month field 'LW5' is not valid"),
        ("0 9 * * L#2", "The day of week field 'L#2' is not valid"),
        ("0 9 * * 1#6", "The day of week field '1#6' is not valid"),
        ("0 9 L/2 * *", "The day of month field 'L/2' is not valid"),
    ],
)
def test_the_job_form_shows_a_cron_field_error(cron, message):
    form = JobForm(data=form_data(cron=cron))
    assert not form.is_valid()
    assert any(error.startswith(message) for error in form.errors["cron"])


@pytest.mark.django_db
@pytest.mark.parametrize("cron", ["0 9 * * 5L", "0 9 LW * *", "0 9 15W * *", "0 9 * * 1#2", "0 9 * * 0L"])
def test_the_job_form_accepts_the_new_forms(cron):
    form = JobForm(data=form_data(cron=cron))
    form.is_valid()
    assert "cron" not in form.errors


# --- Words in the editor ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "english", "portuguese"),
    [
        ("0 9 * * 5L", "At 09:00, on the last Friday of the month", "Às 09:00, na última sexta-feira do mês"),
        ("0 9 * * 0L", "At 09:00, on the last Sunday of the month", "Às 09:00, no último domingo do mês"),
        ("0 9 * * 6#1", "At 09:00, on the first Saturday of the month", "Às 09:00, no primeiro sábado do mês"),
        ("0 9 * * 1#2", "At 09:00, on the second Monday of the month", "Às 09:00, na segunda segunda-feira do mês"),
        ("0 9 LW * *", "At 09:00, on the last weekday of the month", "Às 09:00, no último dia útil do mês"),
        ("0 9 lw * *", "At 09:00, on the last weekday of the month", "Às 09:00, no último dia útil do mês"),
        (
            "0 9 15W * *",
            "At 09:00, on the weekday nearest day 15 of the month",
            "Às 09:00, no dia útil mais próximo do dia 15 do mês",
        ),
        # Either day field suffices: the words say "or".
        (
            "0 9 1 * 5L",
            "At 09:00, on day 1 of the month, or on the last Friday of the month",
            "Às 09:00, no dia 1 do mês, ou na última sexta-feira do mês",
        ),
        (
            "0 9 L * 0L",
            "At 09:00, on the last day of the month, or on the last Sunday of the month",
            "Às 09:00, no último dia do mês, ou no último domingo do mês",
        ),
        # Both must match (the day of month starts with `*`): no "or".
        (
            "0 9 */2 * 5L",
            "At 09:00, every 2 days, on the last Friday of the month",
            "Às 09:00, a cada 2 dias, na última sexta-feira do mês",
        ),
    ],
)
def test_words_for_the_new_forms(expression, english, portuguese):
    assert cron_text.describe(expression, "en") == english
    assert cron_text.describe(expression, "pt-br") == portuguese


@pytest.mark.parametrize("expression", ["0 9 * * 1,5L", "0 9 * * 1#2,FRI", "0 9 1,LW * *", "0 9 15W,L * *"])
def test_lists_mixing_special_days_are_shown_as_written(expression):
    # cron_descriptor would word "1,5L" as "the last Monday and Friday"; the expression itself is not wrong.
    assert cron_text.describe(expression, "en") == expression
    assert cron_text.describe(expression, "pt-br") == expression


def test_preview_of_a_mixed_list_lists_its_runs():
    # Every Monday and the last Friday, 09:00 in London (GMT in January): Mon 26, Fri 30, Mon Feb 2.
    result = cron_text.preview("0 9 * * 1,5L", LONDON, count=3, after=utc(2026, 1, 25))
    assert not result.error and result.description == "0 9 * * 1,5L"
    assert result.occurrences == [utc(2026, 1, 26, 9), utc(2026, 1, 30, 9), utc(2026, 2, 2, 9)]


def test_preview_of_a_malformed_form_is_an_error_without_words():
    result = cron_text.preview("0 9 * * 8L", "UTC")
    assert result.error.startswith("The day of week field '8L' is not valid")
    assert not result.description and not result.occurrences
