"""The `page_watch` kind: announce any change in a page (or in the part a selector picks).

It yields one item per distinct text, keyed by the text's hash, so a change is a new item; the diff against
the source's latest item travels in raw["diff"].
"""

import difflib
import hashlib
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy

from scrapers.sources.kinds import css
from scrapers.sources.kinds.base import Document, ParsedItem, ParseError, ScraperKind, register
from scrapers.sources.kinds.html import SelectorField

if TYPE_CHECKING:
    from scrapers.sources.models import Item, Source

DIFF_MAX = 20_000


@register
class PageWatchKind(ScraperKind):
    name = "page_watch"
    label = gettext_lazy("Page change")

    class Config(forms.Form):
        selector = SelectorField(
            label=gettext_lazy("Selector"),
            attribute_allowed=False,
            required=False,
            help_text=gettext_lazy("CSS selector of the part to watch. Empty: the page."),
        )
        ignore = SelectorField(
            label=gettext_lazy("Ignore"),
            attribute_allowed=False,
            required=False,
            help_text=gettext_lazy("CSS selector(s) of parts to ignore (.clock, .ads)."),
        )

    def parse(self, document: Document, config: dict[str, Any], source: "Source | None" = None) -> list[ParsedItem]:
        watched = css.spec(config["selector"], False).selector if config.get("selector") else None
        ignored = css.spec(config["ignore"], False).selector if config.get("ignore") else None
        page = css.load(document.text, [s for s in (watched, ignored) if s])
        if ignored:
            for node in page.select(ignored):
                page.remove(node)
        if watched:
            nodes = page.select(watched)
            if not nodes:
                raise ParseError(f"selector '{watched.css}' matched nothing")
            text = "\n".join(filter(None, (page.text(node, lines=True) for node in nodes)))
        else:
            text = page.text(page.whole(), lines=True)
        item = ParsedItem(
            title=f"Change on {page.title() or document.url}",
            url=document.url,
            body=text,
            key="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        )
        previous = _previous(source)
        if previous is not None and previous.body != text:
            item.raw = {"previous_key": previous.key, "diff": diff(previous.body, text)}
        return [item]


def _previous(source: "Source | None") -> "Item | None":
    if source is None or source.pk is None:  # a preview: nothing stored to compare with
        return None
    return source.items.order_by("-first_seen", "-pk").first()


def diff(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="")
    text = "\n".join(lines)
    if len(text) > DIFF_MAX:
        cut = text.rfind("\n", 0, DIFF_MAX)
        text = text[: cut if cut > 0 else DIFF_MAX] + "\n… (diff truncated)"
    return text
