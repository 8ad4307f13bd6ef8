"""The scraper-kind registry: one small module per kind (html, json, feed, page_watch, an organizer's site).

A kind declares `name`, `label`, a Django form `Config` that validates its configuration (so the admin, the
import and the preview report the same field errors), and `parse(document, config, source=None)`, which
returns ParsedItems. Fetching, dedupe, revisions and events are not its business (scrapers.checks).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError


@dataclass
class Document:
    """A fetched page, already decoded to text."""

    url: str  # final URL, after redirects: the base for relative links
    text: str
    content_type: str = ""
    headers: dict = field(default_factory=dict)


@dataclass
class ParsedItem:
    title: str = ""
    url: str = ""
    body: str = ""
    key: str | None = None  # from the configured id selector/field; None: the link, else a content hash
    published_at: datetime | None = None
    raw: dict = field(default_factory=dict)


class ParseError(Exception):
    """The document cannot be parsed as this kind expects (invalid JSON, not a feed...). Permanent."""


class ScraperKind:
    name = ""
    label = ""

    class Config(forms.Form):
        pass

    def parse(self, document, config, source=None):  # pragma: no cover - interface
        raise NotImplementedError


_kinds: dict[str, ScraperKind] = {}


def register(cls):
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name")
    if cls.name in _kinds and type(_kinds[cls.name]) is not cls:
        raise ValueError(f"scraper kind {cls.name!r} is already registered")
    _kinds[cls.name] = cls()
    return cls


def get(name):
    try:
        return _kinds[name]
    except KeyError:
        raise KeyError(f"unknown scraper kind {name!r}") from None


def names():
    return sorted(_kinds)


def choices():
    return [(name, _kinds[name].label or name) for name in names()]


def clean_config(kind_name, config):
    """Validate a kind's configuration; errors are keyed `config.<field>` (or `kind`)."""
    if kind_name not in _kinds:
        raise ValidationError({"kind": f"Unknown kind '{kind_name}'. Choose one of: {', '.join(names())}."})
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValidationError({"config": "The configuration must be a JSON object."})
    form = _kinds[kind_name].Config(data=config)
    if not form.is_valid():
        errors = {}
        for name, messages in form.errors.items():
            errors.setdefault("config" if name == "__all__" else f"config.{name}", []).extend(messages)
        raise ValidationError(errors)
    unknown = sorted(set(config) - set(form.fields))
    if unknown:
        raise ValidationError({"config": f"Unknown setting(s): {', '.join(unknown)}."})
    return {key: value for key, value in form.cleaned_data.items() if value not in (None, "", [], {})}
