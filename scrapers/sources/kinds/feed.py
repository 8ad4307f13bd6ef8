"""The `feed` kind: RSS 2.0 (and RSS 1.0/RDF) and Atom, read with lxml.etree.

The parser never resolves entities, loads a DTD or touches the network (no XXE, no billion laughs), and
retries in recovery mode so a feed with one stray `&` still yields its items.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy
from lxml import etree

from scrapers.sources.kinds.base import Document, ParsedItem, ParseError, ScraperKind, register
from scrapers.sources.kinds.textutil import (
    absolute_url,
    attachment_list,
    element_text,
    html_to_text,
    normalize,
    parse_date,
    shorten,
)

if TYPE_CHECKING:
    from scrapers.sources.models import Source

ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"

_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_STRICT = etree.XMLParser(encoding="utf-8", **_SAFE)
_LENIENT = etree.XMLParser(encoding="utf-8", recover=True, **_SAFE)


@register
class FeedKind(ScraperKind):
    name = "feed"
    label = gettext_lazy("RSS / Atom feed")

    class Config(forms.Form):
        limit = forms.IntegerField(
            label=gettext_lazy("Limit"),
            required=False,
            min_value=1,
            help_text=gettext_lazy("Only the first N entries. Empty: all."),
        )

    def parse(self, document: Document, config: dict[str, Any], source: "Source | None" = None) -> list[ParsedItem]:
        root = _parse_xml(document.text)
        local = etree.QName(root).localname
        if local == "rss":
            items = [_rss_item(node, document.url) for node in root.iterfind("channel/item")]
        elif local == "RDF":
            items = [_rss_item(node, document.url, RSS1) for node in root.iterfind(f"{RSS1}item")]
        elif root.tag == f"{ATOM}feed":
            items = [_atom_entry(node, document.url) for node in root.iterfind(f"{ATOM}entry")]
        else:
            raise ParseError(f"not an RSS or Atom feed (the root element is <{local}>)")
        return items[: config["limit"]] if config.get("limit") else items


def _parse_xml(text: str) -> etree._Element:
    # The text is already decoded: hand lxml UTF-8 bytes so an encoding="..." declaration cannot mislead it.
    data = (text or "").lstrip("\ufeff \t\r\n").encode("utf-8")
    if not data:
        raise ParseError("not an RSS or Atom feed (the document is empty)")
    try:
        root = etree.fromstring(data, _STRICT)
    except etree.XMLSyntaxError as exc:
        try:
            root = etree.fromstring(data, _LENIENT)
        except etree.XMLSyntaxError:
            root = None
        if root is None:
            raise ParseError(f"not an RSS or Atom feed (not XML: {exc})") from None
    return root


def _text(node: etree._Element, path: str) -> str:
    found = node.find(path)
    return (found.text or "") if found is not None else ""


def _rss_item(node: etree._Element, base: str, ns: str = "") -> ParsedItem:
    title = html_to_text(_text(node, f"{ns}title"))
    body = html_to_text(_text(node, f"{ns}description") or _text(node, f"{CONTENT}encoded"))
    guid = node.find("guid")
    guid_text = normalize(guid.text) if guid is not None and guid.text else ""
    link = normalize(_text(node, f"{ns}link"))
    if not link and guid_text and guid.get("isPermaLink", "true") != "false":
        link = guid_text  # RSS 2.0: a permalink guid is the item's URL
    date_text = normalize(_text(node, "pubDate") or _text(node, f"{DC}date"))
    raw = {"title": title, "link": link, "guid": guid_text, "date_text": date_text}
    if ns and not guid_text:  # RSS 1.0 identifies items by rdf:about
        guid_text = node.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", "")
    return ParsedItem(
        title=title or shorten(body),
        url=absolute_url(base, link),
        body=body,
        key=guid_text or None,
        published_at=parse_date(date_text),
        raw={key: value for key, value in raw.items() if value},
        attachments=_enclosures(node.iterfind("enclosure"), "url", base),
    )


def _atom_entry(node: etree._Element, base: str) -> ParsedItem:
    title = _atom_text(node.find(f"{ATOM}title"))
    body = _atom_text(node.find(f"{ATOM}summary")) or _atom_text(node.find(f"{ATOM}content"))
    links = [link for link in node.iterfind(f"{ATOM}link") if link.get("href")]
    chosen = next((link for link in links if link.get("rel", "alternate") == "alternate"), None)
    link = normalize(chosen.get("href")) if chosen is not None else ""
    entry_id = normalize(_text(node, f"{ATOM}id"))
    date_text = normalize(_text(node, f"{ATOM}published") or _text(node, f"{ATOM}updated"))
    raw = {"title": title, "link": link, "id": entry_id, "date_text": date_text}
    return ParsedItem(
        title=title or shorten(body),
        url=absolute_url(base, link),
        body=body,
        key=entry_id or None,
        published_at=parse_date(date_text),
        raw={key: value for key, value in raw.items() if value},
        attachments=_enclosures((link for link in links if link.get("rel") == "enclosure"), "href", base),
    )


def _enclosures(nodes: Iterable[etree._Element], attribute: str, base: str) -> list[dict[str, str]]:
    """RSS <enclosure url type length> and Atom <link rel="enclosure" href type title>: the item's files.
    A podcast's audio and video are left out (only images and documents are sent with a message)."""
    found = [
        (node.get(attribute), node.get("title") or "")
        for node in nodes
        if not (node.get("type") or "").lower().startswith(("audio/", "video/"))
    ]
    return attachment_list(base, found)


def _atom_text(node: etree._Element | None) -> str:
    """Atom text constructs: type="text" (default), "html" (escaped markup) or "xhtml" (inline elements)."""
    if node is None:
        return ""
    kind = node.get("type", "text")
    if kind == "xhtml":
        return element_text(node)
    if kind == "html":
        return html_to_text(node.text or "")
    return normalize(node.text or "")
