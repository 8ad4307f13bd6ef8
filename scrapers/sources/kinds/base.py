"""The scraper-kind registry: one small module per kind (html, json, feed, page_watch, an organizer's site).

A kind declares `name`, `label`, a Django form `Config` that validates its configuration (so the admin, the
import and the preview report the same field errors), and `parse(document, config, source=None)`, which
returns ParsedItems. Fetching, dedupe, revisions and events are not its business (scrapers.sources.checks).
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms

from scheduler.shared.kind_registry import Registry

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from scrapers.sources.models import Source


@dataclass
class Document:
    """A fetched page, already decoded to text."""

    url: str  # final URL, after redirects: the base for relative links
    text: str
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedItem:
    title: str = ""
    url: str = ""
    body: str = ""
    key: str | None = None  # from the configured id selector/field; None: the link, else a content hash
    published_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # Images and documents the item carries: [{"url": absolute URL, "name": a file name or ""}].
    attachments: list[dict[str, str]] = field(default_factory=list)


class ParseError(Exception):
    """The document cannot be parsed as this kind expects (invalid JSON, not a feed...). Permanent."""


class ScraperKind:
    name = ""
    label: "StrOrPromise" = ""

    class Config(forms.Form):
        pass

    def parse(  # pragma: no cover - interface
        self, document: Document, config: dict[str, Any], source: "Source | None" = None
    ) -> list[ParsedItem]:
        raise NotImplementedError


scraper_kinds: Registry[ScraperKind] = Registry("scraper kind", form="Config", field="config", noun="setting")
register, get, names, choices = scraper_kinds.register, scraper_kinds.get, scraper_kinds.names, scraper_kinds.choices
clean_name = scraper_kinds.clean_name
clean_config = scraper_kinds.clean  # errors keyed `config.<field>`
