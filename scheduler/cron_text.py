"""Cron expressions in words, in the operator's language, and the preview the job editor shows as you type.

The words come from `cron_descriptor`. Its Portuguese (pt_PT) leaves weekday and month names in English
("Às 09:00, de Monday a Friday"), so we put them in Portuguese here.
"""

import re
from dataclasses import dataclass, field

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
_PT_PATTERN = re.compile(r"\b(" + "|".join(PT_NAMES) + r")\b")


def _locale(language):
    return "pt_PT" if (language or "").lower().startswith("pt") else "en_US"


def describe(expression, language=None):
    """`expression` in words ("At 09:00, Monday through Friday"). Raises schedules.ScheduleError when it is
    not a valid cron entry; `language` is a Django language code (default: the active one)."""
    spec = schedules.parse_cron(expression)
    # 5-field form when there are no seconds, so the text does not mention "0 seconds past the minute".
    fields = spec.fields[1:] if spec.fields[0] == "0" else spec.fields
    options = Options()
    options.locale_code = _locale(language or get_language())
    options.use_24hour_time_format = True
    try:
        text = get_description(" ".join(fields), options)
    except Exception:  # noqa: BLE001 - croniter accepts a few forms cron_descriptor cannot word; not an error
        return spec.expression
    if options.locale_code == "pt_PT":
        text = _PT_PATTERN.sub(lambda match: PT_NAMES[match.group(1)], text)
    return text


@dataclass
class Preview:
    """What the editor shows under the cron field: an error, or the words and the next occurrences."""

    expression: str = ""
    zone: str = ""
    error: str = ""
    description: str = ""
    occurrences: list = field(default_factory=list)  # aware datetimes (UTC); templates show them in `zone`


def preview(expression, zone_name, count=5, after=None, language=None):
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
