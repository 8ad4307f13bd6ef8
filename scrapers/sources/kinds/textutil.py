"""Helpers the scraper kinds share: whitespace, element text, HTML fragments to text, dates."""

import re
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from urllib.parse import unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from lxml import etree
from lxml import html as lxml_html

from scheduler.shared import bounds

# Elements that start a new line where a browser would: their text must not run into the neighbours'.
BLOCK = frozenset(
    "address article aside blockquote br dd details dialog div dl dt fieldset figcaption figure footer form h1 h2 "
    "h3 h4 h5 h6 header hr li main nav ol option p pre section summary table tbody td tfoot th thead tr ul".split()
)
SKIP = frozenset({"script", "style", "template", "noscript"})  # never visible text


def normalize(text: str | None) -> str:
    """Collapse runs of whitespace (including non-breaking spaces) and strip."""
    return " ".join(text.split()) if text else ""


def shorten(text: str, limit: int = 200) -> str:
    """A title made up from a longer text (a body, a link's text)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def normalize_lines(text: str) -> str:
    """Normalize each line and drop the empty ones (for texts whose line structure matters: diffs)."""
    return "\n".join(line for line in map(normalize, text.split("\n")) if line)


LINE = "\ue000"  # marks a block boundary; the newlines of the HTML source are only whitespace


def element_text(element: etree._Element, lines: bool = False) -> str:
    """The visible text of an lxml element, normalized; with `lines`, one line per block (p, li, br...)."""
    if not lines and not len(element) and element.tag not in SKIP:  # a leaf (h3, a, p): the common case
        return normalize(element.text)
    parts: list[str] = []
    _collect(element, parts, LINE if lines else " ")
    return join_text(parts, lines)


def join_text(parts: list[str], lines: bool) -> str:
    text = "".join(parts)
    if not lines:
        return normalize(text)
    return "\n".join(line for line in map(normalize, text.split(LINE)) if line)


def _collect(element: etree._Element, parts: list[str], sep: str) -> None:
    tag = element.tag
    if not isinstance(tag, str):  # comments, processing instructions (their tail is the parent's)
        return
    if tag[0] == "{":  # XHTML inside an Atom feed: {http://www.w3.org/1999/xhtml}p
        tag = tag.rpartition("}")[2]
    if tag in SKIP:
        return
    block = tag in BLOCK
    if block:
        parts.append(sep)
    if element.text:
        parts.append(element.text)
    for child in element:
        _collect(child, parts, sep)
        if child.tail:
            parts.append(child.tail)
    if block:
        parts.append(sep)


_LOOKS_LIKE_HTML = re.compile(r"<[A-Za-z/!]|&[#A-Za-z]")


def html_to_text(fragment: str | None, lines: bool = False) -> str:
    """Text of an HTML fragment (feed summaries, API bodies); plain text passes through normalized."""
    if not fragment:
        return ""
    if not _LOOKS_LIKE_HTML.search(fragment):
        return normalize_lines(fragment) if lines else normalize(fragment)
    try:
        element = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return normalize(fragment)
    return element_text(element, lines=lines)


URL_MAX = 2000  # Item.url's max_length


def absolute_url(base: str, href: str | None) -> str:
    """Resolve a link against the page's URL; "" for what is not a web link (javascript:, mailto:, too long)."""
    if not href:
        return ""
    href = href.strip()
    if href[:1] == "/" and href[1:2] != "/" and "/." not in href:
        url = _origin(base) + href  # the common case, without urljoin's cost (it adds up over 2,000 items)
    else:
        try:
            url = urljoin(base, href)
        except ValueError:  # a malformed IPv6 host and the like
            return ""
    return url if url[:8].lower().startswith(("http://", "https://")) and len(url) <= URL_MAX else ""


MAX_ATTACHMENTS = 10  # per item: a task's images and documents, never a whole gallery


def attachment_list(base: str, found: list[tuple[str | None, str]]) -> list[dict[str, str]]:
    """[{"url", "name"}] from (link, name) pairs: resolved against the page's URL, web links only, each URL
    once, at most MAX_ATTACHMENTS. An empty name is the last segment of the URL's path, when it has one."""
    result: list[dict[str, str]] = []
    seen: set[str] = set()
    for href, name in found:
        url = absolute_url(base, href)
        if not url or url in seen:
            continue
        seen.add(url)
        result.append({"url": url, "name": normalize(name)[:200] or _file_name(url)})
        if len(result) == MAX_ATTACHMENTS:
            break
    return result


def _file_name(url: str) -> str:
    return unquote(urlsplit(url).path.rpartition("/")[2])[:200]


@lru_cache(maxsize=64)
def _origin(base: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# The zone naive dates on a page are read in: the source's own, set by scrapers.sources.checks while it parses
# (an organizer in Lisbon writes Lisbon times); settings.TIME_ZONE otherwise (previews, tests).
page_zone: ContextVar[str | None] = ContextVar("page_zone", default=None)


def aware(value: datetime) -> datetime | None:
    """Naive datetimes are wall-clock times in the page's zone (page_zone, else settings.TIME_ZONE). A date
    outside bounds.in_range (a page's "31/12/9999") is None, as an unknown format is: it could not be stored."""
    if not bounds.in_range(value):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=_zone(page_zone.get() or settings.TIME_ZONE))
    return value


_NUMERIC = re.compile(
    # 22/11/2026, 22/11/26, 22/11/2026 14:30, 22/11/2026 às 14h30, 22-11-2026 14:30:15 (day first: Brazil)
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})"
    r"(?:[\s,]+(?:(?:às|as|-|–)\s*)?(\d{1,2})(?:[:h](\d{2}))?(?::(\d{2}))?\s*h?)?",
    re.IGNORECASE,
)
_MONTHS = {m: i for i, m in enumerate("jan fev mar abr mai jun jul ago set out nov dez".split(), 1)}
_MONTHS |= {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_WORDS = re.compile(
    # 22 de novembro de 2026, 22 nov 2026 14:30, 1º de dezembro de 2026 às 9h
    r"(\d{1,2})º?\s+(?:de\s+)?([a-zç]{3})[a-zç]*\.?\s+(?:de\s+)?(\d{4})"
    r"(?:[\s,]+(?:(?:às|as|-|–)\s*)?(\d{1,2})(?:[:h](\d{2}))?(?::(\d{2}))?\s*h?)?",
    re.IGNORECASE,
)


def parse_date(text: str | None) -> datetime | None:
    """An aware datetime from ISO 8601, RFC 2822 or common Brazilian formats; None when not understood."""
    text = normalize(text)
    if not text:
        return None
    try:
        return aware(datetime.fromisoformat(text))
    except ValueError:
        pass
    try:
        if match := _NUMERIC.fullmatch(text):
            day, _, month, year, hour, minute, second = match.groups()
            year = int(year) + (2000 if len(year) == 2 else 0)
            return aware(datetime(year, int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)))
        if (match := _WORDS.fullmatch(text)) and match[2].lower() in _MONTHS:
            day, month, year, hour, minute, second = match.groups()
            month = _MONTHS[month.lower()]
            return aware(datetime(int(year), month, int(day), int(hour or 0), int(minute or 0), int(second or 0)))
        return aware(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):  # impossible dates (31/02), unknown formats
        return None


def from_timestamp(value: float) -> datetime | None:
    """Epoch seconds (or milliseconds, as JavaScript APIs send) to an aware datetime; None when absurd."""
    try:
        value = float(value)
        if abs(value) > 1e11:
            value /= 1000
        return aware(datetime.fromtimestamp(value, tz=UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        return None
