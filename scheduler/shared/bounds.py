"""What an operator may type where Vigia expects a date, a time or a row id, checked before any arithmetic.

Dates: years 1900 to 2199. Every real schedule, source window and message fits; and a date inside that range stays
inside Python's (years 1-9999) and the databases' range after any time zone's offset, a day added for "until",
or a schedule's next occurrence. `9999-12-31T23:59` in America/Sao_Paulo is year 10000 in UTC: an OverflowError
where it is saved, compared or scheduled, never a field error.

Ids: ASCII digits only, 1 to 2**63 - 1 (a bigint). `int()` also takes " 12", "1_000" and Arabic-Indic digits,
and a number beyond a bigint fails in the database driver.
"""

import json
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.forms.fields import InvalidJSONInput, JSONString
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite

FIRST_YEAR, LAST_YEAR = 1900, 2199
MAX_ID = 2**63 - 1
OUT_OF_RANGE = gettext_lazy("Choose a date between %(first)s and %(last)s.")


def in_range(value: date | None) -> bool:
    """True when a date or datetime (aware or naive) is within the years above; None counts as in range."""
    return value is None or FIRST_YEAR <= value.year <= LAST_YEAR


def check_date(value: object) -> None:
    """A model/form field validator for dates and datetimes."""
    if isinstance(value, date | datetime) and not in_range(value):
        raise ValidationError(
            OUT_OF_RANGE, code="date_range", params={"first": f"{FIRST_YEAR}-01-01", "last": f"{LAST_YEAR}-12-31"}
        )


def parse_id(value: object) -> int | None:
    """A row id from a query parameter, or None for anything else (an unknown filter shows everything)."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def bound_dates(form: forms.BaseForm) -> None:
    """Check every date/datetime field of `form` at the field, before the form's own clean() compares or
    schedules with it (a model validator alone runs only after that)."""
    for field in form.fields.values():
        if isinstance(field, forms.DateField | forms.DateTimeField | forms.SplitDateTimeField):
            field.validators = [*field.validators, check_date]


def id_field(**kwargs: Any) -> forms.IntegerField:
    """An optional row-id filter: a number beyond a bigint is a field error, not a database error."""
    return forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, **kwargs)


# --- Text and JSON that every database can store ------------------------------------------------------
MAX_JSON_DEPTH = 20  # far beyond any real config; json.loads itself fails with RecursionError near 1,000


def storable_text(text: str) -> bool:
    """False for text no database stores: a lone surrogate ("\\ud800", from a JSON escape) is not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_problem(value: object, depth: int = 0) -> str | None:
    """Why `value` (decoded JSON) cannot be stored, or None: too deeply nested, NUL (PostgreSQL refuses it in
    text and jsonb) or a lone surrogate in a string or a key."""
    if depth > MAX_JSON_DEPTH:
        return _("Nested more than %(depth)s levels deep.") % {"depth": MAX_JSON_DEPTH}
    if isinstance(value, str):
        if "\x00" in value:
            return _("The NUL character (\\u0000) is not allowed.")
        if not storable_text(value):
            return _("Not valid Unicode text: a lone surrogate (\\ud800-\\udfff) is not a character.")
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        problem = (json_problem(key, depth + 1) if isinstance(key, str) else None) or json_problem(inner, depth + 1)
        if problem:
            return problem
    return None


def _no_constant(name: str) -> NoReturn:
    raise ValueError(_("%(name)s is not a JSON number: write a number, or null.") % {"name": name})


def load_json(text: str | bytes) -> Any:
    """json.loads for what people type or upload: ValueError (with a message to show) for anything a database
    cannot store or Python cannot decode: NaN/Infinity (not JSON, and PostgreSQL's jsonb refuses them), nesting
    deep enough to exhaust the stack, NUL and lone surrogates."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(_("Nested more than %(depth)s levels deep.") % {"depth": MAX_JSON_DEPTH}) from None
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class JSONField(forms.JSONField):
    """forms.JSONField, refusing what a database cannot store (load_json) as a field error instead of a 500, also
    when the refused text is shown back in the form (bound_data decodes it again)."""

    def to_python(self, value: Any) -> Any:
        if self.disabled or not isinstance(value, str) or isinstance(value, JSONString) or not value.strip():
            return super().to_python(value)
        try:
            converted = load_json(value)
        except json.JSONDecodeError:
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid") from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else super().prepare_value(value)  # an empty box, not "null"

    def bound_data(self, data: Any, initial: Any) -> Any:
        if not self.disabled and isinstance(data, dict | list):  # decoded already (an API body, a form's fields)
            return data
        if self.disabled or not isinstance(data, str):
            return super().bound_data(data, initial)
        try:
            return load_json(data)
        except ValueError:
            return InvalidJSONInput(data)


# --- Choices of rows ---------------------------------------------------------------------------------------
def _beyond_bigint(value: object) -> bool:
    """A posted primary key no database column can hold: SQLite's driver raises OverflowError on it, a 500."""
    try:
        return not -MAX_ID - 1 <= int(str(value).strip()) <= MAX_ID
    except ValueError:
        return False


class ModelChoiceField(forms.ModelChoiceField):
    def to_python(self, value: Any | None) -> Model | None:
        if value not in self.empty_values and _beyond_bigint(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class ModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    def _check_values(self, value: Iterable[Any]) -> QuerySet[Any]:
        for pk in value:
            if _beyond_bigint(pk):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)  # type: ignore[misc]  # Django's private method: not in django-stubs


def guard_admin(site: "AdminSite") -> None:
    """Every admin (ours and django.contrib.auth's) refuses row ids beyond a bigint, which SQLite's driver cannot
    even send (OverflowError, a 500): in its forms' row choices, as invalid choices, and in its list's query
    string (`?job=9223372036854775808`), as a disallowed lookup (a 400 page)."""
    from django.db import models

    kinds = (
        (models.ForeignKey, ModelChoiceField),
        (models.OneToOneField, ModelChoiceField),
        (models.ManyToManyField, ModelMultipleChoiceField),
    )
    for model_admin in site._registry.values():
        for kind, form_class in kinds:
            # django-stubs types it as a read-only Mapping; each ModelAdmin holds its own dict (its __init__)
            model_admin.formfield_overrides.setdefault(kind, {}).setdefault("form_class", form_class)  # type: ignore[attr-defined]
        # a wrapper set on each registered admin instance, around its own method
        model_admin.lookup_allowed = _refusing_huge_ids(model_admin.lookup_allowed)  # type: ignore[method-assign]


def _refusing_huge_ids(lookup_allowed: Callable[..., bool]) -> Callable[..., bool]:
    def allowed(lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        values = value if isinstance(value, list | tuple) else str(value or "").split(",")
        return not any(_beyond_bigint(part) for part in values) and lookup_allowed(lookup, value, request)

    return allowed


# --- HTTP header values and tokens ------------------------------------------------------------------------
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


def single_line(value: object) -> None:
    """A validator for a value sent in an HTTP header (a token): a CR, LF or NUL in one would end the header
    early (httpx refuses to send it), so it is refused when saved, not found at the first send."""
    if isinstance(value, str) and any(char in value for char in "\r\n\x00"):
        raise ValidationError(_("Remove the line break: this value must be on one line."), code="line_break")


def header_problem(headers: object) -> str | None:
    """Why a {name: value} of request headers cannot be sent, or None. Messages name the header, never the
    value: header values are often secrets (cookies, API keys)."""
    if not isinstance(headers, dict):
        return _("A JSON object of header names to text values.")
    for name, value in headers.items():
        if not HEADER_NAME.fullmatch(name):
            return _("'%(name)s' is not a valid header name.") % {"name": name[:60]}
        if not isinstance(value, str):
            return _("Header '%(name)s' must have a string value.") % {"name": name}
        if any(char in value for char in "\r\n\x00"):
            return _("Header '%(name)s' contains a line break.") % {"name": name}
    return None


# --- {name: value} objects typed as lines --------------------------------------------------------------------
class NameValueField(JSONField):
    """A {name: value} object (request headers, query parameters, a field-to-path mapping) that a form asks for as
    one `name: value` per line. It also takes a dict (the API's JSON object) or JSON text starting with `{`, so
    values that are not text (numbers, lists) can still be given. Errors name the line, never its value: header
    values are often secrets."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def to_python(self, value: Any) -> Any:
        text = value if isinstance(value, str) and not isinstance(value, JSONString) else None
        if self.disabled or text is None or text.strip().startswith(("{", "[")):
            return super().to_python(value)
        found: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            name, colon, text = line.partition(":")
            name = name.strip()
            if not colon or not name:
                raise ValidationError(_('Line %(line)s: write "name: value".'), code="invalid", params={"line": number})
            if name in found:
                raise ValidationError(
                    _("Line %(line)s: '%(name)s' is given twice."),
                    code="invalid",
                    params={"line": number, "name": name[:60]},
                )
            found[name] = text.strip()
        if problem := json_problem(found):
            raise ValidationError(problem, code="invalid")
        return found or None

    def bound_data(self, data: Any, initial: Any) -> Any:
        return data if isinstance(data, str) and not self.disabled else super().bound_data(data, initial)

    def prepare_value(self, value: Any) -> Any:
        """Lines when every value is one line of text that reads back the same, else JSON (types kept)."""
        if isinstance(value, str) or value is None:
            return value or ""
        if isinstance(value, dict) and all(_as_line(name, item) for name, item in value.items()):
            return "\n".join(f"{name}: {item}" for name, item in value.items())
        return super().prepare_value(value)


def _as_line(name: object, value: object) -> bool:
    return (
        isinstance(name, str)
        and isinstance(value, str)
        and name == name.strip() != ""
        and ":" not in name
        and value == value.strip()
        and not any(char in name + value for char in "\r\n")
    )


# --- write-only {name: value} objects (request headers) -----------------------------------------------------
SECRET_MASK = (
    "********"  # a value shown in place of a secret one (the API, exports); sent back, it keeps the stored one
)
CLEAR = "-"  # typed alone in a write-only field: remove every stored value


class SecretLinesWidget(forms.Textarea):
    """A textarea that never renders a value: below it, the names stored (a dict), each marked "set"."""

    def format_value(self, value: Any) -> None:
        return None

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> Any:
        html = super().render(name, None, attrs, renderer)
        if not isinstance(value, dict) or not value:
            return html
        names = format_html_join(
            " ", '<code>{}</code> <span class="badge healthy">{}</span>', ((key, _("set")) for key in value)
        )
        return format_html('{}<small class="secret-names">{} {}</small>', html, _("Stored:"), names)


class SecretNameValueField(NameValueField):
    """Write-only request headers: a NameValueField that never shows a value, only the names stored ("set").

    What a form does with what it cleans (SourceForm, JobForm through the kind's `secret_params`):
    - None (the field left empty, or absent): keep the stored headers;
    - CLEAR (`-` typed alone, or an empty JSON object): remove them all;
    - a dict: the new headers, replacing the stored ones; a value SECRET_MASK keeps that name's stored value."""

    widget = SecretLinesWidget(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"})

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() == CLEAR:
            return CLEAR
        if isinstance(value, dict) and not value:
            return CLEAR
        found = super().to_python(value)
        return CLEAR if isinstance(found, dict) and not found and isinstance(value, str) and value.strip() else found

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, dict) else ""  # the widget shows the names only

    def has_changed(self, initial: Any, data: Any) -> bool:
        return data not in (None, "")


def resolve_masked(headers: dict[str, Any], stored: object) -> dict[str, Any]:
    """`headers` with each SECRET_MASK value replaced by the stored one of that name; ValidationError naming the
    headers given as SECRET_MASK with nothing stored."""
    old = stored if isinstance(stored, dict) else {}
    missing = [name for name, value in headers.items() if value == SECRET_MASK and name not in old]
    if missing:
        raise ValidationError(
            _("Type the value of %(names)s: %(mask)s keeps a stored value only."),
            code="invalid",
            params={"names": ", ".join(missing), "mask": SECRET_MASK},
        )
    return {name: old[name] if value == SECRET_MASK else value for name, value in headers.items()}


def check_time_zone(value: object) -> None:
    """A model field's validator: an IANA zone name Vigia knows (empty is the field's own business)."""
    if not value:
        return
    from scheduler.schedules import ScheduleError, get_zone  # the schedule math owns the zone list

    try:
        get_zone(str(value))
    except ScheduleError as exc:
        raise ValidationError(str(exc), code="time_zone") from exc


def at_least_a_minute(value: object) -> None:
    """A period an operator sets (a reminder, a dead man's switch): at least a minute, at most a year."""
    if value is None:
        return
    if not isinstance(value, timedelta) or value < timedelta(minutes=1):
        raise ValidationError(_("Choose at least one minute."), code="too_short")
    if value > timedelta(days=366):
        raise ValidationError(_("Choose at most a year."), code="too_long")


def not_negative_duration(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError(_("Choose a period of zero or more."), code="negative")
    if value > timedelta(days=366):
        raise ValidationError(_("Choose at most a year."), code="too_long")
