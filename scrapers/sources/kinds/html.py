"""The `html` kind: any list on a web page, one CSS selector for the items and one per field within an item.

A field selector may end with `@attr` to take an attribute (`a@href`, `time@datetime`; `@data-id` is the
item element's own attribute); otherwise the element's visible text, whitespace collapsed.
"""

from typing import TYPE_CHECKING, Any

from bs4 import Tag
from django import forms
from django.utils.translation import gettext_lazy
from lxml import etree

from scrapers.sources.kinds import css
from scrapers.sources.kinds.base import Document, ParsedItem, ScraperKind, register
from scrapers.sources.kinds.textutil import absolute_url, normalize, parse_date, shorten

if TYPE_CHECKING:
    from scrapers.sources.models import Source

FIELDS = ("title", "link", "body", "id", "date")


class SelectorField(forms.CharField):
    """A CSS selector, optionally `@attr`; compiled here so a typo is reported on its own field."""

    def __init__(self, *, attribute_allowed: bool = True, **kwargs: Any) -> None:
        self.attribute_allowed = attribute_allowed
        super().__init__(**kwargs)

    def validate(self, value: str) -> None:
        super().validate(value)
        if value:
            try:
                css.spec(value, self.attribute_allowed)
            except css.InvalidSelector as exc:
                raise forms.ValidationError(str(exc), code="invalid") from None


@register
class HtmlKind(ScraperKind):
    name = "html"
    label = gettext_lazy("HTML list (CSS selectors)")

    class Config(forms.Form):
        # Whole sentences, one per field, so that each translates as a sentence.
        items = SelectorField(
            label=gettext_lazy("Items"),
            attribute_allowed=False,
            help_text=gettext_lazy("CSS selector matching each item (li.task)."),
        )
        title = SelectorField(
            label=gettext_lazy("Title"),
            required=False,
            help_text=gettext_lazy(
                "CSS selector of the title within an item; end with @attr for an attribute (a@href)."
            ),
        )
        link = SelectorField(
            label=gettext_lazy("Link"),
            required=False,
            help_text=gettext_lazy(
                "CSS selector of the link within an item; end with @attr for an attribute (a@href). "
                "Empty: the first a@href."
            ),
        )
        body = SelectorField(
            label=gettext_lazy("Body"),
            required=False,
            help_text=gettext_lazy(
                "CSS selector of the body text within an item; end with @attr for an attribute (a@href)."
            ),
        )
        id = SelectorField(
            label=gettext_lazy("Stable id"),
            required=False,
            help_text=gettext_lazy(
                "CSS selector of the stable id (@data-id) within an item; end with @attr for an attribute (a@href)."
            ),
        )
        date = SelectorField(
            label=gettext_lazy("Date"),
            required=False,
            help_text=gettext_lazy(
                "CSS selector of the date (time@datetime) within an item; end with @attr for an attribute (a@href)."
            ),
        )

    def parse(self, document: Document, config: dict[str, Any], source: "Source | None" = None) -> list[ParsedItem]:
        items = css.spec(config["items"], False).selector
        assert items is not None  # spec() refuses an empty selector, and an @attribute here
        specs = {name: css.spec(config[name]) for name in FIELDS if config.get(name)}
        page = css.load(document.text, [items, *(s.selector for s in specs.values() if s.selector)])
        return [_item(page, node, specs, document.url) for node in page.select(items)]


def _item(
    page: css.LxmlPage | css.SoupPage, node: etree._Element | Tag, specs: dict[str, css.Spec], base: str
) -> ParsedItem:
    raw: dict[str, str]
    elements: dict[str, etree._Element | Tag]
    raw, elements, first_line = {}, {}, ""
    for name, spec in specs.items():
        target = node if spec.selector is None else page.first(spec.selector, node)
        if target is None:
            continue
        elements[name] = target
        if spec.attribute:
            value = page.attribute(target, spec.attribute)
            if value is not None:
                raw[name] = normalize(value)
        elif name == "body":
            lines = page.text(target, lines=True)  # its first line titles an item that has no title
            raw[name], first_line = lines.replace("\n", " "), lines.partition("\n")[0]
        else:
            raw[name] = page.text(target)

    if "link" not in specs and (anchor := page.first_link(node)) is not None:
        raw["link"], elements["link"] = normalize(page.attribute(anchor, "href")), anchor

    title = raw.get("title", "")
    if not title and "link" in elements:
        title = shorten(page.text(elements["link"]))
    if not title:
        title = shorten(first_line or raw.get("body", ""))

    published_at = None
    if "date" in raw:
        raw["date_text"] = raw.pop("date")
        published_at = parse_date(raw["date_text"])
    return ParsedItem(
        title=title,
        url=absolute_url(base, raw.get("link")),
        body=raw.get("body", ""),
        key=raw.get("id") or None,
        published_at=published_at,
        raw=raw,
    )
