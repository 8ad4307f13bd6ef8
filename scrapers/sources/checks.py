"""Checking a source: fetch → parse → key → store each item once (revisions on change) → events → health.

The check_source job kind, the `check_source` command, the admin's "check now" and the dashboard's
preview all come through here, so every path behaves the same.
"""

import copy
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from channels_app import alerts
from channels_app.events import publish
from channels_app.models import Watch
from scheduler.errors import JobDataError, JobError, PermanentError
from scheduler.shared import recorded
from scrapers.models import SELECTORS_BROKEN, Item, ItemRevision, Source
from scrapers.sources import access, polling
from scrapers.sources.kinds import base as kinds
from scrapers.sources.kinds import textutil

log = logging.getLogger("vigia.sources")
# Recorded on the run and the source in English, shown in the reader's language (scheduler.shared.recorded).
EMPTY_PAGE = recorded.message(gettext_noop("Selectors may be broken: 0 items where the last check found %(count)s."))
UNPARSABLE = recorded.message(gettext_noop("Could not parse the page: %(error)s"))
assert EMPTY_PAGE.startswith(SELECTORS_BROKEN)  # Source.health reads the start
MAX_KEY = 500
# A source's settings for reaching its page (scrapers.sources.access), which a preview uses too.
REACHING = ("fallback_urls", "login_url", "login_fields", "login_success_cookie", "login_success_text")
CONTENT = ("title", "url", "body", "published_at", "raw")  # an item as the page gives it


@dataclass
class Outcome:
    status: str  # "checked", "unchanged" (304, or the same page as the last check), "inactive" (outside the window)
    items: list[kinds.ParsedItem] = field(default_factory=list)  # ParsedItems with keys, in page order
    new: list[int] = field(default_factory=list)  # Item ids
    updated: list[int] = field(default_factory=list)
    http_status: int | None = None
    elapsed_ms: int | None = None
    encoding: str = ""
    etag: str = ""
    last_modified: str = ""
    fingerprint: str = ""  # of what was parsed (page, final URL, kind, configuration, zone)
    baseline: bool = False  # the first check: items stored, not announced
    # An unchanged page: when it last changed (the last check that parsed it) and the items that check found.
    since: datetime | None = None
    known_items: int | None = None
    via: str = ""  # the page came from a fallback URL ("fallback 1"...), the source's URL having failed with:
    primary_error: str = ""

    def summary(self) -> dict[str, object]:
        found: dict[str, object] = {
            "status": self.status,
            "baseline": self.baseline,
            "found": len(self.items),
            "new": len(self.new),
            "updated": len(self.updated),
            "http_status": self.http_status,
            "elapsed_ms": self.elapsed_ms,
        }
        if self.status == "unchanged":  # nothing was parsed: "found" 0 would read as an empty page
            found.update(
                not_modified=self.http_status == 304,
                since=self.since.isoformat() if self.since else None,
                items=self.known_items,
            )
        if self.via:
            found.update(via=self.via, primary_error=self.primary_error)
        return found


def in_active_window(source: Source, now: datetime) -> bool:
    return (source.active_from is None or now >= source.active_from) and (
        source.active_until is None or now <= source.active_until
    )


def preview(
    url: str,
    kind: str,
    config: dict[str, Any],
    *,
    method: str = "GET",
    headers: dict[str, object] | None = None,
    timeout: float = 15.0,
    user_agent: str = "",
    reaching: dict[str, Any] | None = None,
) -> Outcome:
    """What a configuration extracts from a page right now, saving nothing (for the dashboard's editor).
    `reaching`: the source's REACHING settings (its login, its fallback URLs), used the way a check uses them,
    the session thrown away.

    Raises ValidationError for a bad configuration and JobError for an upstream problem.
    """
    cleaned = kinds.clean_config(kind, config)
    source = Source(name="preview", kind=kind, url=url, config=cleaned, method=method, headers=headers or {})
    for name, value in (reaching or {}).items():
        setattr(source, name, value)
    source.timeout_seconds, source.user_agent = timeout, user_agent
    return _fetch_and_parse(source, cleaned, conditional=False, deadline=time.monotonic() + timeout * 3, known=None)


def check_source(
    source: Source, *, dry_run: bool = False, respect_window: bool = True, deadline: float | None = None
) -> Outcome:
    """Check one source. Records health (unless dry_run) and raises JobError on failure."""
    now = timezone.now()
    if respect_window and not dry_run and not in_active_window(source, now):
        return Outcome(status="inactive")
    try:
        config = kinds.clean_config(source.kind, source.config)
        # A dry run logs in afresh, as a preview does: a session it stored would be a change it made.
        reaching = _detached(source) if dry_run else source
        outcome = _fetch_and_parse(reaching, config, conditional=not dry_run, deadline=deadline, known=source)
        expected = source.last_item_count or 0
        if outcome.status == "checked" and not outcome.items and expected:
            raise PermanentError(EMPTY_PAGE % {"count": expected})
    except JobError as exc:
        if not dry_run:
            record_failure(source, str(exc), now)
        raise
    except ValidationError as exc:  # the stored configuration no longer validates: the source stops alone
        reason = f"Paused: the stored configuration is no longer valid: {_describe(exc)}"
        if not dry_run:
            record_failure(source, reason, now)
        raise JobDataError(reason) from exc
    except Exception as exc:  # a bug or a database hiccup: recorded on the source and the run, retried
        log.exception("source check crashed", extra={"source": source.pk})
        if not dry_run:
            record_failure(source, _describe(exc), now)
        raise JobError(_describe(exc)) from exc
    if not dry_run:
        if outcome.status == "checked":
            outcome.baseline = source.last_success_at is None and not source.announce_first_check
            outcome.new, outcome.updated = store_items(source, outcome.items, now, announce=not outcome.baseline)
        elif outcome.status == "unchanged":
            outcome.since, outcome.known_items = source.last_changed_at, source.last_item_count
        record_success(source, outcome, now)
    return outcome


def _detached(source: Source) -> Source:
    """The source as an unsaved copy: reaching its page through it stores no session and no rejection."""
    copy_of = copy.copy(source)
    copy_of.pk = None
    return copy_of


def _fetch_and_parse(
    source: Source, config: dict[str, Any], *, conditional: bool, deadline: float | None, known: Source | None
) -> Outcome:
    result = access.fetch_page(source, conditional=conditional, deadline=deadline)  # a login, a fallback URL...
    outcome = Outcome(status="checked", http_status=result.status, elapsed_ms=result.elapsed_ms)
    outcome.encoding = result.encoding or ""
    outcome.via, outcome.primary_error = result.via, result.primary_error
    if not result.via:  # a fallback's validators are its own: kept, they would be sent to the source's URL
        outcome.etag, outcome.last_modified = result.etag or "", result.last_modified or ""
    if result.not_modified:
        outcome.status = "unchanged"
        return outcome
    # The same page parsed the same way yields the same items: like a 304, nothing to parse or store. Most
    # organizers send no validators, and most checks find the page as it was.
    if known is not None:  # a stored source (a preview has nothing to compare with, nor to keep)
        outcome.fingerprint = _digest([result.base, result.text, source.kind, config, source.timezone])
        if conditional and known.content_fingerprint == outcome.fingerprint:
            outcome.status = "unchanged"
            return outcome
    document = kinds.Document(  # a fallback's page is read at the source's URL: the same links, the same keys
        url=result.base, text=result.text, content_type=result.headers.get("content-type", ""), headers=result.headers
    )
    zone = textutil.page_zone.set(source.timezone or None)
    try:
        parsed = kinds.get(source.kind).parse(document, config, source=known)
    except kinds.ParseError as exc:
        raise PermanentError(UNPARSABLE % {"error": exc}) from exc
    finally:
        textutil.page_zone.reset(zone)
    outcome.items = with_keys(parsed)
    return outcome


def with_keys(parsed: Iterable[kinds.ParsedItem]) -> list[kinds.ParsedItem]:
    """Give every item its stable key (id, else link, else a content hash); keep the first of duplicates."""
    seen: set[str]
    keyed: list[kinds.ParsedItem]
    seen, keyed = set(), []
    for item in parsed:
        key = item.key or item.url or "sha256:" + _digest([item.title, item.body])
        if len(key) > MAX_KEY:
            key = "sha256:" + _digest([key])
        if key in seen:
            continue
        seen.add(key)
        item.key = key
        keyed.append(item)
    return keyed


def content_hash(item: kinds.ParsedItem) -> str:
    published = item.published_at.isoformat() if item.published_at else ""
    parts: list[object] = [item.title, item.url, item.body, published]
    if item.attachments:  # only then: items stored before attachments existed keep their hashes (no update flood)
        parts.append([attachment["url"] for attachment in item.attachments])
    return _digest(parts)


def store_items(
    source: Source, items: list[kinds.ParsedItem], now: datetime, announce: bool = True
) -> tuple[list[int], list[int]]:
    """Insert new items, revise changed ones, touch the rest. Returns (new ids, updated ids)."""
    hashes = {item.key: content_hash(item) for item in items}
    with transaction.atomic():
        existing = {row.key: row for row in Item.objects.select_for_update().filter(source=source, key__in=hashes)}
        # First seen when stored, not when the check began: the API's feed serves rows by this time once they
        # are VIGIA_API_FEED_SETTLE old, which only holds if it is taken next to the insert (a slow fetch
        # would otherwise make a row look settled before it is even committed).
        stored = max(now, timezone.now())
        fresh = [_new_row(source, item, hashes[item.key], stored) for item in items if item.key not in existing]
        new_ids = _insert(fresh)
        changed = [row for key, row in existing.items() if row.content_hash != hashes[key]]
        by_key = {item.key: item for item in items}
        for row in changed:
            _revise(row, by_key[row.key], hashes[row.key], now)
        unchanged = [row.pk for key, row in existing.items() if row.content_hash == hashes[key]]
        Item.objects.filter(pk__in=unchanged).update(last_seen=now)
        updated_ids = [row.pk for row in changed]
        if announce:  # in the same transaction: the items and their announcements commit together
            _announce(source, new_ids, updated_ids)
    return new_ids, updated_ids


def _new_row(source: Source, item: kinds.ParsedItem, digest: str, now: datetime) -> Item:
    assert item.key is not None  # with_keys gave every item its key
    return Item(
        source=source,
        key=item.key,
        **_content(item),
        attachments=item.attachments,
        content_hash=digest,
        first_seen=now,
        last_seen=now,
    )


def _content(obj: Item | ItemRevision | kinds.ParsedItem) -> dict[str, Any]:
    """What a page says about an item (an Item, an ItemRevision and a ParsedItem all carry these)."""
    return {name: getattr(obj, name) for name in CONTENT}


def _insert(rows: list[Item]) -> list[int]:
    if not rows:
        return []
    try:
        with transaction.atomic():
            return [row.pk for row in Item.objects.bulk_create(rows)]
    except IntegrityError:
        # A concurrent check (a manual "check now") inserted some of them first: keep what is left.
        ids: list[int] = []
        for row in rows:
            obj, created = Item.objects.get_or_create(source=row.source, key=row.key, defaults=_fields(row))
            if created:
                ids.append(obj.pk)
        return ids


def _fields(row: Item) -> dict[str, Any]:
    return {
        **_content(row),
        "attachments": row.attachments,
        "content_hash": row.content_hash,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
    }


def _revise(row: Item, item: kinds.ParsedItem, digest: str, now: datetime) -> None:
    ItemRevision.objects.create(
        item=row,
        **_content(row),
        attachments=row.attachments,
        content_hash=row.content_hash,
        valid_from=row.revisions.order_by("-replaced_at").values_list("replaced_at", flat=True).first()
        or row.first_seen,
        replaced_at=now,
    )
    for name, value in _content(item).items():
        setattr(row, name, value)
    row.attachments = item.attachments
    row.content_hash, row.last_seen, row.revisions_count = digest, now, row.revisions_count + 1
    row.save()


def _announce(source: Source, new_ids: list[int], updated_ids: list[int]) -> None:
    for event_type, ids in (("item.new", new_ids), ("item.updated", updated_ids)):
        for item in Item.objects.filter(pk__in=ids).order_by("pk"):
            version = f":{item.revisions_count}" if event_type == "item.updated" else ""
            payload = {
                "type": event_type,
                "source": source.pk,
                "source_name": source.name,
                "item": item.pk,
                "title": item.title,
                "url": item.url,
                "body": item.body,
            }
            if item.attachments:  # [{"url", "name"}]: fetched and sent by channels_app.attachments
                payload["attachments"] = [{"url": a["url"], "name": a.get("name", "")} for a in item.attachments]
            publish(
                source.topic,
                payload,
                key=f"{event_type}:{item.pk}{version}",  # a repeated check announces an item (version) once
            )


def record_success(source: Source, outcome: Outcome, now: datetime) -> None:
    changes: dict[str, Any] = {
        "last_checked_at": now,
        "last_success_at": now,
        "last_error": "",
        "consecutive_failures": 0,
        "last_check": outcome.summary(),  # with last_checked_at, in one UPDATE: the page reads both together
    }
    if outcome.status == "checked":
        changes.update(
            last_changed_at=now,
            last_item_count=len(outcome.items),
            etag=outcome.etag,
            last_modified=outcome.last_modified,
            content_fingerprint=outcome.fingerprint,
        )
    failing = source.broken or source.consecutive_failures > 0  # read before this check: no alert look otherwise
    Source.objects.filter(pk=source.pk).update(**changes)
    for name, value in changes.items():
        setattr(source, name, value)
    if failing:
        # The alert's state moves under its row lock, so "recovered" is announced once even with concurrent
        # checks; the page's flag follows it.
        alerts.succeeded(source.topic, extra={"source_name": source.name})
        if source.broken and Source.objects.filter(pk=source.pk, broken=True).update(broken=False):
            source.broken = False
    found = bool(outcome.new or outcome.updated) and not outcome.baseline  # a baseline is not news
    polling.after_check(source, found=found, now=now)  # adaptive sources: faster after a find
    log.info("source checked", extra={"source": source.pk, **outcome.summary()})


def record_failure(source: Source, error: str, now: datetime) -> None:
    Source.objects.filter(pk=source.pk).update(
        last_checked_at=now,
        last_error=error[:5000],
        last_error_at=now,
        last_check={"status": "failed", "found": 0, "new": 0, "updated": 0, "error": error[:5000]},
        consecutive_failures=F("consecutive_failures") + 1,
    )
    source.refresh_from_db()
    # The source's policy (channels_app.alerts: N failures in a row, default VIGIA_SOURCE_BROKEN_AFTER) decides
    # when it is broken; the alert goes to `source:<id>` and `sources:broken`, once per recipient.
    watch = alerts.failed(
        source.topic,
        error,
        name=source.name,
        now=now,
        count=source.consecutive_failures,
        extra={"source_name": source.name},
    )
    if watch.state == Watch.State.ALERTING and not source.broken:
        source.broken = bool(Source.objects.filter(pk=source.pk, broken=False).update(broken=True)) or source.broken
    log.warning("source check failed", extra={"source": source.pk, "error": error[:300]})


def _digest(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def _describe(exc: Exception) -> str:
    message = getattr(exc, "message_dict", None)
    if message:
        return "Invalid configuration: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in message.items())
    return f"{type(exc).__name__}: {exc}"
