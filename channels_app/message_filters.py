"""Filters of the message templates (channels_app.rendering's engine, for the built-in wordings and the
operators' alike).

`{{ date|local_date }}`: a date an event carries as ISO text ("2026-03-02", as the API and webhooks receive it)
written the way the message's language writes dates (settings.LANGUAGE_CODE: 02/03/2026 in pt-BR).
"""

from datetime import date, datetime

from django import template
from django.utils import formats

register = template.Library()


@register.filter
def local_date(value: object) -> object:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return value
