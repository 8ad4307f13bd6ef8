"""The `html` kind: any list on a web page, one CSS selector for the items and one per field within an item.

A field selector may end with `@attr` to take an attribute (`a@href`, `time@datetime`; `@data-id` is the
item element's own attribute); otherwise the element's visible text, whitespace collapsed.
"""

from typing import TYPE_CHECKING, Any

from bs4 import Tag
from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from lxml import etree

from scrapers.sources.kinds import css
from scrapers.sources.kinds.base import Document, ParsedItem, ScraperKind, register
from scrapers.sources.kinds.textutil import absolute_url, attachment_list, normalize, parse_date, shorten

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


class AttachmentsField(forms.CharField):
    """Comma-separated CSS selectors, each ending with the attribute that holds the file's URL
    (`img@src, a[href$=".pdf"]@href`)."""

    def validate(self, value: str) -> None:
        super().validate(value)
        if value:
            try:
                attachment_specs(value)
            except css.InvalidSelector as exc:
                raise forms.ValidationError(str(exc), code="invalid") from None


def attachment_specs(text: str) -> list[css.Spec]:
    """The selectors of an `attachments` setting; InvalidSelector names the one without an @attribute."""
    specs = []
    for part in _top_level_commas(text):
        found = css.spec(part)
        if found.attribute is None or found.selector is None:
            message = _("'%(selector)s' must name an element and the attribute with the file's URL (img@src).")
            raise css.InvalidSelector(message % {"selector": part})
        specs.append(found)
    return specs


def _top_level_commas(text: str) -> list[str]:
    """Split at the commas outside brackets, parentheses and quotes (`a[href$=","]@href` stays whole)."""
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


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
        attachments = AttachmentsField(
            label=gettext_lazy("Attachments"),
            required=False,
            help_text=gettext_lazy(
                "CSS selectors of the images and documents an item carries, each with the attribute holding "
                'its URL, separated by commas (img@src, a[href$=".pdf"]@href). Sent with the message.'
            ),
        )

    def parse(self, document: Document, config: dict[str, Any], source: "Source | None" = None) -> list[ParsedItem]:
        items = css.spec(config["items"], False).selector
        assert items is not None  # spec() refuses an empty selector, and an @attribute here
        specs = {name: css.spec(config[name]) for name in FIELDS if config.get(name)}
        files = attachment_specs(config["attachments"]) if config.get("attachments") else []
        selectors = [items, *(s.selector for s in [*specs.values(), *files] if s.selector)]
        page = css.load(document.text, selectors)
        nodes = page.select(items)
        parsed = [_item(page, node, specs, document.url) for node in nodes]
        for item, node in zip(parsed, nodes if files else [], strict=False):
            item.attachments = _attachments(page, node, files, document.url)
        return parsed


def _attachments(
    page: css.LxmlPage | css.SoupPage, node: etree._Element | Tag, files: list[css.Spec], base: str
) -> list[dict[str, str]]:
    """Every element each selector finds within the item, in selector order; the file's name is an <a>'s
    `download` attribute when it has one."""
    found: list[tuple[str | None, str]] = []
    for spec in files:
        assert spec.selector is not None and spec.attribute is not None  # attachment_specs() checked
        for element in page.select(spec.selector, node):
            found.append((page.attribute(element, spec.attribute), page.attribute(element, "download") or ""))
    return attachment_list(base, found)


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
