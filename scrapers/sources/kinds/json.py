"""The `json` kind: an API that returns a list of tasks, with dotted paths to the list and to each field.

`items_path` leads from the document to the list (`data.tasks`; empty: the document is the list); `fields`
maps title, link, body, id and date to paths within an item (`media.0.url`: numeric segments index lists).
"""

import json
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from scheduler.shared import bounds
from scrapers.sources.kinds.base import Document, ParsedItem, ParseError, ScraperKind, register
from scrapers.sources.kinds.textutil import (
    absolute_url,
    attachment_list,
    from_timestamp,
    html_to_text,
    normalize,
    parse_date,
    shorten,
)

if TYPE_CHECKING:
    from scrapers.sources.models import Source

FIELDS = ("title", "link", "body", "id", "date")
_MISSING = object()


def split_path(path: str) -> list[str]:
    """`data.tasks` → ["data", "tasks"]; "" → []. Raises ValueError on an empty segment (`a..b`)."""
    path = path.strip()
    if not path:
        return []
    segments = path.split(".")
    if not all(segments):
        raise ValueError(_("'%(path)s' has an empty segment.") % {"path": path})
    return segments


def follow(value: object, segments: list[str]) -> object:
    """The value at a path, or _MISSING where a segment does not exist."""
    for segment in segments:
        if isinstance(value, dict):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and segment.lstrip("-").isdigit():
            index = int(segment)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return value
    return value


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names: dict[type, str] = {dict: "object", list: "list", str: "string"}
    return names.get(type(value), "number")


class FieldsField(bounds.NameValueField):
    def validate(self, value: object) -> None:
        super().validate(value)
        if value in self.empty_values:
            return
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Must be an object mapping fields to paths, like {"title": "name"}.'))
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise forms.ValidationError(
                ngettext(  # one English wording; the plural form lets other languages agree with the count
                    "Unknown field(s): %(unknown)s. Use: %(fields)s.",
                    "Unknown field(s): %(unknown)s. Use: %(fields)s.",
                    len(unknown),
                ),
                params={"unknown": ", ".join(unknown), "fields": ", ".join(FIELDS)},
            )
        for name, path in value.items():
            if not isinstance(path, str) or not path.strip():
                raise forms.ValidationError(
                    _("The path of '%(name)s' must be a non-empty string."), params={"name": name}
                )
            try:
                split_path(path)
            except ValueError as exc:
                raise forms.ValidationError(
                    _("The path of '%(name)s': %(error)s"), params={"name": name, "error": exc}
                ) from None


class PathField(forms.CharField):
    def validate(self, value: str | None) -> None:
        super().validate(value)
        try:
            split_path(value or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@register
class JsonKind(ScraperKind):
    name = "json"
    label = gettext_lazy("JSON API")

    class Config(forms.Form):
        items_path = PathField(
            label=gettext_lazy("Items path"),
            required=False,
            help_text=gettext_lazy("Dotted path to the list (data.tasks). Empty: the root."),
        )
        fields = FieldsField(  # type: ignore[assignment]  # a form field named "fields": the stubs see BaseForm.fields
            label=gettext_lazy("Fields"),
            help_text=gettext_lazy(
                'Our fields to paths within an item, one "field: path" per line (title: name, link: url).'
            ),
        )
        attachments = PathField(
            label=gettext_lazy("Attachments path"),
            required=False,
            help_text=gettext_lazy(
                "Dotted path within an item to the URL of an image or document, or to a list of them (files); "
                'a list of objects gives each one\'s "url" and "name". Sent with the message.'
            ),
        )

    def parse(self, document: Document, config: dict[str, Any], source: "Source | None" = None) -> list[ParsedItem]:
        try:
            data = json.loads(document.text, parse_constant=lambda name: None)  # NaN/Infinity: not storable
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        if "\\u0000" in document.text:
            data = _without_nul(data)  # PostgreSQL stores no NUL character, in text or in jsonb
        items_path = config.get("items_path", "")
        items = follow(data, split_path(items_path))
        where = f"items_path '{items_path}'" if items_path else "the document root"
        if items is _MISSING:
            raise ParseError(f"{where} was not found")
        if not isinstance(items, list):
            raise ParseError(f"{where} is not a list (found {type_name(items)})")
        paths = {name: split_path(path) for name, path in config["fields"].items()}
        files = split_path(config.get("attachments") or "")
        parsed = []
        for entry in items:
            item = _item(entry, paths, document.url)
            if files:
                item.attachments = _attachments(follow(entry, files), document.url)
            parsed.append(item)
        return parsed


def _item(entry: object, paths: dict[str, list[str]], base: str) -> ParsedItem:
    values = {name: follow(entry, segments) for name, segments in paths.items()}
    values = {name: value for name, value in values.items() if value is not _MISSING and value is not None}
    date = values.get("date")
    if isinstance(date, int | float) and not isinstance(date, bool):
        published_at = from_timestamp(date)
    else:
        published_at = parse_date(_text(date)) if date is not None else None
    body = html_to_text(_text(values.get("body")))  # APIs often send HTML descriptions
    return ParsedItem(
        title=html_to_text(_text(values.get("title"))) or shorten(body),
        url=absolute_url(base, _text(values.get("link"))),
        body=body,
        key=normalize(_text(values.get("id"))) or None,
        published_at=published_at,
        raw=entry if isinstance(entry, dict) else {"value": entry},  # Item.raw is an object
    )


def _attachments(value: object, base: str) -> list[dict[str, str]]:
    """A URL, an object with "url" (and "name"), or a list of either: the item's files."""
    found: list[tuple[str | None, str]] = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, str):
            found.append((entry, ""))
        elif isinstance(entry, dict) and isinstance(entry.get("url"), str):
            name = entry.get("name")
            found.append((entry["url"], name if isinstance(name, str) else ""))
    return attachment_list(base, found)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)  # an object or a list where text was expected


def _without_nul(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value
