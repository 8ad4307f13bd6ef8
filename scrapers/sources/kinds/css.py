"""CSS selectors for the html and page_watch kinds: validated by soupsieve, run on lxml whenever possible.

BeautifulSoup builds a Python object per node and soupsieve matches in Python: a 1 MB page of 2,000 items
takes ~220 ms just to parse that way, and each per-item select adds ~20 ms more. lxml parses the same page
in ~10 ms (the same libxml2 parser bs4's "lxml" builder drives, so the same tree), so the common subset of CSS
is translated to XPath and run there. A selector outside the subset (escapes, namespaces, `i` flags,
pseudo-classes beyond the structural ones) makes the whole page go through BeautifulSoup + soupsieve instead:
slower, never wrong. tests/scrapers/test_kinds.py checks the two engines agree on the subset.
"""

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import soupsieve
from bs4 import BeautifulSoup, NavigableString, Tag, XMLParsedAsHTMLWarning
from bs4.element import PreformattedString
from django.utils.translation import gettext as _
from lxml import etree

from scrapers.sources.kinds.textutil import BLOCK, LINE, SKIP, element_text, join_text, normalize

# An XHTML page served as HTML is still scraped as HTML (as the lxml path does, silently).
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)

_SPEC = re.compile(r"(.*?)\s*@([A-Za-z_:][-\w:.]*)", re.DOTALL)


class InvalidSelector(ValueError):
    pass


class Selector:
    """A compiled CSS selector; `xpath` is None when only soupsieve can run it."""

    def __init__(self, css: str) -> None:
        self.css = css
        self.tag = css.lower() if _NAME.fullmatch(css) and css != "*" else None
        try:
            self.soup = soupsieve.compile(css)
        except soupsieve.SelectorSyntaxError as exc:
            message = _("Invalid CSS selector '%(css)s': %(error)s")
            raise InvalidSelector(message % {"css": css, "error": str(exc).splitlines()[0]}) from None
        try:
            path = to_xpath(css)
            # Within an item the item itself is excluded (as soupsieve's select does); on the page it is not.
            self.xpath = etree.XPath(path.replace("{axis}", "descendant::"))
            self.xpath_page = etree.XPath(path.replace("{axis}", "descendant-or-self::"))
        except (Unsupported, etree.XPathSyntaxError):
            self.xpath = self.xpath_page = None


@lru_cache(maxsize=1024)
def compile(css: str) -> Selector:  # shadows the builtin on purpose: css.compile, like re.compile
    return Selector(css.strip())


@dataclass(frozen=True)
class Spec:
    """What a field selector asks for: an element (None: the item itself) and maybe one of its attributes."""

    selector: Selector | None
    attribute: str | None
    text: str


@lru_cache(maxsize=1024)
def spec(text: str, attribute_allowed: bool = True) -> Spec:
    """Parse `h3`, `a@href`, `time@datetime` or `@data-id`; raise InvalidSelector naming the problem."""
    text = text.strip()
    match = _SPEC.fullmatch(text)
    css, attribute = (match[1], match[2].lower()) if match else (text, None)
    if attribute and not attribute_allowed:
        raise InvalidSelector(
            _("'%(selector)s' selects elements: remove '@%(attribute)s'.") % {"selector": text, "attribute": attribute}
        )
    if not css and not attribute:
        raise InvalidSelector(_("Empty selector."))
    return Spec(compile(css) if css else None, attribute, text)


def load(text: str, selectors: Iterable[Selector]) -> "LxmlPage | SoupPage":
    """Parse a page with the fastest engine that can run all of `selectors`."""
    if all(selector.xpath is not None for selector in selectors):
        return LxmlPage(text)
    return SoupPage(text)


class LxmlPage:
    def __init__(self, text: str) -> None:
        # Plain etree elements: lxml.html's element classes cost a lookup per node for helpers not needed here.
        try:
            root = etree.fromstring(text, _PARSER) if text and text.strip() else None
        except ValueError:  # a str that starts with <?xml ... encoding=...?>
            root = etree.fromstring(text.encode(), _UTF8_PARSER)
        self.root = root if root is not None else etree.fromstring("<html></html>", _PARSER)

    def select(self, selector: Selector, scope: etree._Element | None = None) -> list[etree._Element]:
        return selector.xpath(scope) if scope is not None else selector.xpath_page(self.root)

    def first(self, selector: Selector, scope: etree._Element) -> etree._Element | None:
        if selector.tag:  # a bare element name: lxml's C iterator beats an XPath call per item
            return next(scope.iterdescendants(selector.tag), None)
        found = selector.xpath(scope)
        return found[0] if found else None

    def first_link(self, node: etree._Element) -> etree._Element | None:
        if node.tag == "a" and node.get("href") is not None:
            return node
        found = _FIRST_LINK(node)
        return found[0] if found else None

    @staticmethod
    def attribute(node: etree._Element, name: str) -> str | None:
        return node.get(name)

    @staticmethod
    def text(node: etree._Element, lines: bool = False) -> str:
        return element_text(node, lines=lines)

    def title(self) -> str:
        found = self.root.find(".//title")
        return element_text(found) if found is not None else ""

    def whole(self) -> etree._Element:
        body = self.root.find("body")
        return body if body is not None else self.root

    @staticmethod
    def remove(node: etree._Element) -> None:
        parent = node.getparent()
        if parent is None:
            return
        if node.tail:  # the text after the element belongs to the parent: keep it
            previous = node.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + node.tail
            else:
                parent.text = (parent.text or "") + node.tail
        parent.remove(node)


_PARSER = etree.HTMLParser()
_UTF8_PARSER = etree.HTMLParser(encoding="utf-8")
_FIRST_LINK = etree.XPath("descendant::a[@href][1]")


class SoupPage:
    def __init__(self, text: str) -> None:
        self.root = BeautifulSoup(text or "", "lxml")

    def select(self, selector: Selector, scope: Tag | None = None) -> list[Tag]:
        return selector.soup.select(scope if scope is not None else self.root)

    @staticmethod
    def first(selector: Selector, scope: Tag) -> Tag | None:
        return selector.soup.select_one(scope)

    def first_link(self, node: Tag) -> Tag | None:
        if node.name == "a" and node.get("href") is not None:
            return node
        return node.find("a", href=True)

    @staticmethod
    def attribute(node: Tag, name: str) -> str | None:
        value = node.get(name)
        return " ".join(value) if isinstance(value, list) else value  # bs4 splits class, rel...

    @staticmethod
    def text(node: Tag, lines: bool = False) -> str:
        parts: list[str] = []
        _collect_soup(node, parts, LINE if lines else " ")
        return join_text(parts, lines)

    def title(self) -> str:
        return normalize(self.root.title.get_text()) if self.root.title else ""

    def whole(self) -> Tag:
        return self.root.body or self.root

    @staticmethod
    def remove(node: Tag) -> None:
        if not node.decomposed:  # already gone with an ancestor
            node.decompose()


def _collect_soup(node: Tag, parts: list[str], sep: str) -> None:
    """The same text as textutil.element_text, from a bs4 tree."""
    block = node.name in BLOCK
    if block:
        parts.append(sep)
    for child in node.children:
        if isinstance(child, Tag):
            if child.name not in SKIP:
                _collect_soup(child, parts, sep)
        elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
            parts.append(str(child))
    if block:
        parts.append(sep)


# CSS → XPath for the subset that covers real scraping configs. Anything else raises Unsupported.


class Unsupported(Exception):
    pass


_IDENT = r"-?[^\W\d][\w-]*"
_NAME = re.compile(r"\*|[A-Za-z][A-Za-z0-9-]*")
_PART = re.compile(
    rf"""\#(?P<id>{_IDENT})
    | \.(?P<cls>{_IDENT})
    | \[\s*(?P<attr>[A-Za-z_][A-Za-z0-9_-]*)\s*
        (?:(?P<op>[~|^$*]?=)\s*(?:"(?P<dq>[^"\\]*)"|'(?P<sq>[^'\\]*)'|(?P<bare>[\w-]+))\s*)?\]
    | :(?P<pseudo>first-child|last-child|only-child|first-of-type|last-of-type)(?![\w(-])
    | :nth-child\(\s*(?P<nth>\d+|odd|even)\s*\)
    | (?P<not>:not\(\s*)""",
    re.VERBOSE,
)
_COMBINATOR = re.compile(r"\s*([>+~,])\s*|\s+")
# Written right to left, as browsers match: `ul > li` is "an li whose parent is a ul", wherever that ul is.
_BACKWARDS = {" ": "ancestor::", ">": "parent::", "~": "preceding-sibling::", "+": "+"}


def to_xpath(css: str) -> str:
    """Translate; the axis of the final step is left as `{axis}` for the caller to choose."""
    alternatives, relation, pos = [], None, 0
    while True:
        tag, predicates, pos = _compound(css, pos)
        if relation:
            predicates.append(relation)
        match = _COMBINATOR.match(css, pos) if pos < len(css) else None
        combinator = match and (match[1] or " ")
        if combinator in (None, ","):
            alternatives.append(_step("{axis}", tag, predicates))
            relation = None
        else:
            relation = _step(_BACKWARDS[combinator], tag, predicates)
        if match is None:
            if pos != len(css):
                raise Unsupported(css)
            break
        pos = match.end()
        if pos == len(css):
            raise Unsupported(css)
    return " | ".join(alternatives)


def _step(axis: str, tag: str, predicates: list[str]) -> str:
    tests = "".join(f"[{predicate}]" for predicate in predicates)
    if axis == "+":
        return "preceding-sibling::*[1]" + ("" if tag == "*" else f"[self::{tag}]") + tests
    return axis + tag + tests


def _compound(css: str, pos: int) -> tuple[str, list[str], int]:
    start, tag, predicates = pos, "*", []
    if name := _NAME.match(css, pos):
        tag, pos = name[0].lower(), name.end()  # HTML element names are case-insensitive; lxml lowercases
    while part := _PART.match(css, pos):
        pos = part.end()
        if part["not"]:
            inner_tag, inner, pos = _compound(css, pos)
            close = re.compile(r"\s*\)").match(css, pos)
            if not close:
                raise Unsupported(css)
            pos = close.end()
            predicates.append(f"not({_step('self::', inner_tag, inner)})")
        else:
            predicates.append(_predicate(part, tag, css))
    if pos == start or css[pos : pos + 1] == "|":
        raise Unsupported(css)
    return tag, predicates, pos


def _predicate(part: re.Match[str], tag: str, css: str) -> str:
    if part["id"]:
        return f"@id={_literal(part['id'])}"
    if part["cls"]:
        return _word("@class", part["cls"])
    if part["attr"]:
        name, op = "@" + part["attr"].lower(), part["op"]
        value = next((v for v in (part["dq"], part["sq"], part["bare"]) if v is not None), None)
        if op is None:
            return name
        assert value is not None  # the pattern has a value wherever it has an operator
        if op == "=":
            return f"{name}={_literal(value)}"
        if op == "~=":
            return _word(name, value) if value and len(value.split()) == 1 and value.strip() == value else "false()"
        if op == "|=":
            return f"({name}={_literal(value)} or starts-with({name}, {_literal(value + '-')}))"
        if not value:  # [a^=""], [a$=""], [a*=""] match nothing
            return "false()"
        if op == "^=":
            return f"starts-with({name}, {_literal(value)})"
        if op == "*=":
            return f"contains({name}, {_literal(value)})"
        return f"substring({name}, string-length({name}) - {len(value) - 1})={_literal(value)}"  # $=
    if part["nth"]:
        nth = part["nth"]
        position = "count(preceding-sibling::*)"
        if nth in ("odd", "even"):
            return f"{position} mod 2 = {0 if nth == 'odd' else 1}"
        return f"{position} = {int(nth) - 1}"
    pseudo = part["pseudo"]
    if pseudo.endswith("of-type") and tag == "*":
        raise Unsupported(css)
    return {
        "first-child": "not(preceding-sibling::*)",
        "last-child": "not(following-sibling::*)",
        "only-child": "not(preceding-sibling::*) and not(following-sibling::*)",
        "first-of-type": f"not(preceding-sibling::{tag})",
        "last-of-type": f"not(following-sibling::{tag})",
    }[pseudo]


def _word(attribute: str, word: str) -> str:
    """`word` is one of the whitespace-separated words of the attribute (how class matching works)."""
    return f"contains(concat(' ', normalize-space({attribute}), ' '), {_literal(' ' + word + ' ')})"


def _literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    pieces = value.split("'")
    return "concat(" + ', "\'", '.join(f"'{piece}'" for piece in pieces) + ")"
