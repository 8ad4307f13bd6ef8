"""scheduler/cron_text.py: cron in words (English and Portuguese, with Portuguese day and month names) and
the editor's preview (words, next five occurrences, errors)."""

from datetime import UTC, datetime

import pytest
from django.utils import translation

from scheduler import cron_text
from scheduler.schedules import ScheduleError


@pytest.mark.parametrize(
    ("expression", "english", "portuguese"),
    [
        ("0 9 * * 1-5", "At 09:00, Monday through Friday", "Às 09:00, de segunda-feira a sexta-feira"),
        ("*/5 * * * *", "Every 5 minutes", "A cada 5 minutos"),
        ("30 18 * * SAT,SUN", "At 18:30, only on Saturday and Sunday", "Às 18:30, somente de sábado e domingo"),
        ("0 0 1 MAY *", "At 00:00, on day 1 of the month, only in May", "Às 00:00, no dia 1 do mês, somente em maio"),
        ("0 0 L * *", "At 00:00, on the last day of the month", "Às 00:00, no último dia do mês"),
        ("@daily", "At 00:00", "Às 00:00"),
        ("0 30 8 * * *", "At 08:30", "Às 08:30"),  # 6 fields, seconds first
        ("15 0 9 * * *", "At 09:00:15", "Às 09:00:15"),
    ],
)
def test_describe_in_both_languages(expression, english, portuguese):
    assert cron_text.describe(expression, "en").startswith(english)
    assert cron_text.describe(expression, "pt-br").startswith(portuguese)


def test_every_english_name_is_translated():
    months = " ".join(cron_text.describe(f"0 0 1 {month} *", "pt-br") for month in range(1, 13))
    days = " ".join(cron_text.describe(f"0 0 * * {day}", "pt-br") for day in range(7))
    for english, portuguese in cron_text.PT_NAMES.items():
        assert english not in months + days
        assert portuguese in months + days


def test_describe_uses_the_active_language_by_default():
    with translation.override("pt-br"):
        assert cron_text.describe("0 9 * * 1-5") == "Às 09:00, de segunda-feira a sexta-feira"
    with translation.override("en"):
        assert cron_text.describe("0 9 * * 1-5") == "At 09:00, Monday through Friday"


@pytest.mark.parametrize("expression", ["", "61 * * * *", "* * *", "@often", "0 0 30 2 *"])
def test_describe_refuses_what_the_scheduler_refuses(expression):
    with pytest.raises(ScheduleError):
        cron_text.describe(expression, "en")


def test_preview_gives_words_and_five_occurrences_in_the_zone():
    # 09:00 on weekdays in New York (EDT, UTC−4 in June); 2030-06-14 is a Friday.
    result = cron_text.preview("0 9 * * 1-5", "America/New_York", after=datetime(2030, 6, 14, 12, tzinfo=UTC))
    assert not result.error and result.description.startswith("At 09:00")
    assert result.occurrences == [
        datetime(2030, 6, 14, 13, tzinfo=UTC),
        datetime(2030, 6, 17, 13, tzinfo=UTC),
        datetime(2030, 6, 18, 13, tzinfo=UTC),
        datetime(2030, 6, 19, 13, tzinfo=UTC),
        datetime(2030, 6, 20, 13, tzinfo=UTC),
    ]


def test_preview_errors():
    bad_cron = cron_text.preview("0 9 * *", "UTC")
    assert "Expected 5 fields" in bad_cron.error and not bad_cron.description and not bad_cron.occurrences
    bad_zone = cron_text.preview("0 9 * * *", "Nowhere/Land")
    assert "Unknown time zone" in bad_zone.error and bad_zone.description and not bad_zone.occurrences
    empty = cron_text.preview("   ", "UTC")
    assert not empty.error and not empty.description and not empty.expression
