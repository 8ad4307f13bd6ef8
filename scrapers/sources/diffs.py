"""Word diffs between an item's versions, for the dashboard's item page.

Diffs are plain (op, text) pairs, never HTML: the template wraps them in <ins>/<del> and escapes the text,
so scraped markup can never reach the page as markup.
"""

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from scrapers.sources.models import Item, ItemRevision

FIELDS = [
    ("title", _("Title")),
    ("url", _("Link")),
    ("body", _("Text")),
    ("published_at", _("Published")),
    ("attachments", _("Attachments")),
]
# Words with the whitespace after them (and any leading whitespace): the text rejoins exactly, and a changed
# phrase shows as one deletion and one insertion rather than interleaved with the shared spaces.
TOKENS = re.compile(r"^\s+|\S+\s*")


@dataclass
class Change:
    label: "StrOrPromise"
    pieces: list[tuple[str, str]]  # (op, text): op is "equal", "insert" or "delete"


@dataclass
class Step:
    """What changed from one version of an item to the next."""

    since: datetime  # when the older version was first seen
    until: datetime  # when the newer version replaced it
    changes: list[Change]


def diff_text(old: str | None, new: str | None) -> list[tuple[str, str]]:
    """(op, text) pairs turning `old` into `new`, word by word; adjacent pieces of one op are merged."""
    before, after = TOKENS.findall(old or ""), TOKENS.findall(new or "")
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            _add(pieces, "delete", "".join(before[i1:i2]))
        if tag in ("insert", "replace"):
            _add(pieces, "insert", "".join(after[j1:j2]))
        if tag == "equal":
            _add(pieces, "equal", "".join(before[i1:i2]))
    return pieces


def _add(pieces: list[tuple[str, str]], op: str, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1][0] == op:
        pieces[-1] = (op, pieces[-1][1] + text)
    else:
        pieces.append((op, text))


def steps(item: "Item", revisions: Sequence["ItemRevision"]) -> list[Step]:
    """The changes between consecutive versions, newest first. `revisions` are the item's older versions
    (ItemRevision rows, any order); the item itself is the newest version."""
    versions = sorted(revisions, key=lambda revision: revision.replaced_at)
    found = []
    newer_versions = [*versions[1:], item] if versions else []
    for older, newer in zip(versions, newer_versions, strict=True):
        changes = []
        for name, label in FIELDS:
            old, new = _text(getattr(older, name)), _text(getattr(newer, name))
            if old != new:
                changes.append(Change(label=label, pieces=diff_text(old, new)))
        until = older.replaced_at
        found.append(Step(since=older.valid_from, until=until, changes=changes))
    return found[::-1]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # shown in the operator's active time zone, as the page's other times
        return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
    if isinstance(value, list):  # attachments: a file a line, by its address (a name alone may stay the same)
        return "\n".join(str(entry.get("url", "")) if isinstance(entry, dict) else str(entry) for entry in value)
    return str(value)
