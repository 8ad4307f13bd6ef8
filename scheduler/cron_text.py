"""Cron expressions in words, in the operator's language, and the preview the job editor shows as you type.

The words come from `cron_descriptor`. Its Portuguese (pt_PT) leaves weekday and month names in English
("Às 09:00, de Monday a Friday"), says "na última" even before a masculine day and calls a weekday (Monday to
Friday) "dia da semana", so we mend those here. It words `L`, `LW`, `15W`, `5L` and `1#2` alone, but not in a
list with other days ("1,5L" would read "the last Monday and Friday"): such an entry is shown as written.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime

from cron_descriptor import Options, get_description
from django.utils import timezone
from django.utils.translation import get_language

from scheduler import schedules

PT_NAMES = {
    "Monday": "segunda-feira",
    "Tuesday": "terça-feira",
    "Wednesday": "quarta-feira",
    "Thursday": "quinta-feira",
    "Friday": "sexta-feira",
    "Saturday": "sábado",
    "Sunday": "domingo",
    "January": "janeiro",
    "February": "fevereiro",
    "March": "março",
    "April": "abril",
    "May": "maio",
    "June": "junho",
    "July": "julho",
    "August": "agosto",
    "September": "setembro",
    "October": "outubro",
    "November": "novembro",
    "December": "dezembro",
}
# cron_descriptor puts "or" before a plain day of week when either day field may match, not before "the last
# Friday" or "the second Monday", which it starts as below; the last such start is the day of week's.
EITHER_DAY = {"en_US": (", on the ", ", or on the "), "pt_PT": (", na ", ", ou na ")}
_PT_PATTERN = re.compile(r"\b(" + "|".join(PT_NAMES) + r")\b")
# "na última Sunday" -> "no último domingo": sábado and domingo are masculine.
PT_MASCULINE = {"primeira": "primeiro", "segunda": "segundo", "terceira": "terceiro", "quarta": "quarto"}
PT_MASCULINE |= {"quinta": "quinto", "última": "último"}
_PT_MASCULINE_PATTERN = re.compile(r"\bna (" + "|".join(PT_MASCULINE) + r") (Saturday|Sunday)\b")
# A weekday in the sense of Monday to Friday is a "dia útil"; "dia da semana" is any day of the week.
PT_WEEKDAY = {
    "último dia da semana do mês": "último dia útil do mês",
    "dia da semana mais próximo": "dia útil mais próximo",
}


def _locale(language: str | None) -> str:
    return "pt_PT" if (language or "").lower().startswith("pt") else "en_US"


def describe(expression: str | None, language: str | None = None) -> str:
    """`expression` in words ("At 09:00, Monday through Friday"). Raises schedules.ScheduleError when it is
    not a valid cron entry; `language` is a Django language code (default: the active one)."""
    spec = schedules.parse_cron(expression)
    # 5-field form when there are no seconds, so the text does not mention "0 seconds past the minute".
    fields = [value.upper() for value in (spec.fields[1:] if spec.fields[0] == "0" else spec.fields)]
    day, weekday = fields[-3], fields[-1]
    if ("," in day and any(mark in day for mark in "LW")) or ("," in weekday and any(mark in weekday for mark in "L#")):
        return spec.expression  # a list mixing days with L, W or #: cron_descriptor would misword it
    options = Options()
    options.locale_code = _locale(language or get_language())
    options.use_24hour_time_format = True
    try:
        text = get_description(" ".join(fields), options)
    except Exception:  # noqa: BLE001 - we accept a few forms cron_descriptor cannot word; not an error
        return spec.expression
    if spec.day_or and any(mark in weekday for mark in "L#"):
        plain, either = EITHER_DAY[options.locale_code]
        head, found, tail = text.rpartition(plain)
        text = head + either + tail if found else text
    if options.locale_code == "pt_PT":
        text = _PT_MASCULINE_PATTERN.sub(lambda match: f"no {PT_MASCULINE[match.group(1)]} {match.group(2)}", text)
        for wrong, right in PT_WEEKDAY.items():
            text = text.replace(wrong, right)
        text = _PT_PATTERN.sub(lambda match: PT_NAMES[match.group(1)], text)
    return text


@dataclass
class Preview:
    """What the editor shows under the cron field: an error, or the words and the next occurrences."""

    expression: str = ""
    zone: str = ""
    error: str = ""
    description: str = ""
    occurrences: list[datetime] = field(default_factory=list)  # aware datetimes (UTC); templates show them in `zone`


def preview(
    expression: str | None,
    zone_name: str | None,
    count: int = 5,
    after: datetime | None = None,
    language: str | None = None,
) -> Preview:
    """A bad expression gives only an error; a bad zone keeps the words and says what is wrong with the zone."""
    expression = " ".join(str(expression or "").split())
    result = Preview(expression=expression, zone=(zone_name or "").strip())
    if not expression:
        return result
    try:
        result.description = describe(expression, language)
        result.occurrences = schedules.next_occurrences(expression, result.zone, after or timezone.now(), count)
    except schedules.ScheduleError as exc:
        result.error = str(exc)
    return result
