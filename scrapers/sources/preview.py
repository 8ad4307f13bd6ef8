"""The source editor's Preview: what the form's current values extract from the page right now, saving nothing.

Validation is SourceForm's (the same field errors as saving); fetching and parsing are checks.preview's, so
the preview sees exactly what a check would.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from scheduler.errors import JobError
from scrapers.sources import checks
from scrapers.sources.kinds.base import ParsedItem
from scrapers.sources.kinds.textutil import shorten

if TYPE_CHECKING:
    from scrapers.sources.services import SourceForm

log = logging.getLogger("vigia.sources")

# What the preview needs; errors on the other fields (name, schedule) don't stop a preview.
FIELDS = ("kind", "url", "config", "method", "headers", "timeout_seconds", "user_agent", *checks.REACHING)
SHOWN = 20
MAX_TIMEOUT = 20.0  # a preview holds a web request: a slower site is better checked by "check now"


@dataclass
class Row:
    title: str
    url: str
    href: str  # the link, only when it is http(s): a scraped "javascript:" must never become a link
    key: str
    published_at: datetime | None
    body: str
    fields: list[tuple[str, str]]  # (name, text) from the parser's raw values


@dataclass
class Preview:
    rows: list[Row] = field(default_factory=list)
    found: int = 0
    http_status: int | None = None
    elapsed_ms: int | None = None
    unchanged: bool = False
    error: str = ""


def safe_href(url: str) -> str:
    return url if (url or "").lower().startswith(("http://", "https://")) else ""


def run(form: "SourceForm") -> Preview | None:
    """Validate `form` (a bound SourceForm) for a preview; returns a Preview, or None when the form shows
    field errors. Only errors on FIELDS are kept on the form, so it can be re-rendered as is."""
    form.is_valid()
    for name in list(form.errors):
        if name not in FIELDS:
            del form.errors[name]
    if form.errors:
        return None
    data = form.cleaned_data
    try:
        outcome = checks.preview(
            data["url"],
            data["kind"],
            data.get("config") or {},
            method=data.get("method") or "GET",
            headers=data.get("headers") or {},
            timeout=min(data.get("timeout_seconds") or MAX_TIMEOUT, MAX_TIMEOUT),
            user_agent=data.get("user_agent") or "",
            reaching={name: data[name] for name in checks.REACHING if data.get(name)},
        )
    except ValidationError as exc:  # the kind refused the configuration
        form.add_error("config", exc.messages)
        return None
    except JobError as exc:  # timeout, HTTP status, unparsable page: the message names the host, not the path
        return Preview(error=str(exc))
    except Exception as exc:  # a parser bug must not look like an empty page
        log.exception("source preview crashed", extra={"url_kind": data.get("kind")})
        return Preview(error=_("The preview failed: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"})
    items = outcome.items
    return Preview(
        rows=[_row(item) for item in items[:SHOWN]],
        found=len(items),
        http_status=outcome.http_status,
        elapsed_ms=outcome.elapsed_ms,
        unchanged=outcome.status == "unchanged",
    )


def _row(item: ParsedItem) -> Row:
    fields = [(name, display_text(value)) for name, value in (item.raw or {}).items()]
    return Row(
        title=item.title,
        url=item.url,
        href=safe_href(item.url),
        key=item.key or "",
        published_at=item.published_at,
        body=shorten(item.body or "", 300),
        fields=fields,
    )


def display_text(value: object, limit: int | None = 200) -> str:
    """A parser's raw value as text (JSON for numbers, lists and objects), cut at `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return shorten(text, limit) if limit else text
