"""Attachments: the images and documents an event carries (an item's `attachments`), fetched once and sent
with every message about it.

- Once: one Attachment row per URL. The first worker to need it takes a short lease (`fetching_until`, one
  UPDATE) and fetches it; the others wait for its result instead of fetching it again, so five recipients
  of one task cost the organizer's site one request. No lock is held while fetching.
- Safely: through the outbound client (scheduler.shared.outbound: its guard refuses private and loopback
  addresses), taking a slot of the host's budget ("host:<host>", the one the scrapers use), streamed under
  VIGIA_ATTACHMENT_MAX_BYTES, and only the allowed types: the declared Content-Type and the first bytes
  must agree (a "PDF" that starts like an HTML page is refused).
- Stored in the database (every worker host reads the same bytes) until VIGIA_RETAIN_ATTACHMENT_DAYS after
  a message last used it (channels_app.retention).
- Refused (too large, a type not allowed, an address the guard refuses, a 404): the message still goes, text
  only, with a note saying which file was left out and why; the reason is kept on the Attachment and on the
  delivery (Delivery.attachments). A transient failure (a timeout, a 5xx) is retried by the delivery's own
  retry; on its last attempt the message goes without that file, with a note.
"""

import hashlib
import logging
import mimetypes
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from channels_app.kinds.base import File, url_file_name
from channels_app.models import Attachment, Delivery
from scheduler.errors import JobError
from scheduler.shared import answers, budgets, outbound, recorded

log = logging.getLogger("vigia.deliveries")

TIMEOUT = 20.0  # one request of a fetch, body included
LEASE = timedelta(seconds=TIMEOUT * 3)  # a fetch (its redirects and budget wait included) ends well within this
POLL = 0.2  # seconds between looks while another worker fetches
USE_PRECISION = timedelta(hours=1)  # last_used_at is kept to this (retention counts in days)
MAX_REDIRECTS = 5
GENERIC = ("", "application/octet-stream", "binary/octet-stream", "application/x-download", "application/download")

# Allowed types and how their content starts. Office documents are ZIP (Office Open XML, OpenDocument) or OLE2
# (the older .doc/.xls/.ppt) containers: their first bytes say which container, not which document.
ZIP, OLE = (b"PK\x03\x04",), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
ALLOWED: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8 (below)
    "application/pdf": (b"%PDF-",),
    "application/msword": OLE,
    "application/vnd.ms-excel": OLE,
    "application/vnd.ms-powerpoint": OLE,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ZIP,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ZIP,
    "application/vnd.oasis.opendocument.text": ZIP,
    "application/vnd.oasis.opendocument.spreadsheet": ZIP,
    "application/vnd.oasis.opendocument.presentation": ZIP,
}

# Why a file is not sent: recorded in English (Attachment.error, Delivery.attachments), shown and put in the
# message's note in the reader's language (scheduler.shared.recorded).
TOO_LARGE = recorded.message(gettext_noop("larger than %(limit)s"))
NOT_ALLOWED = recorded.message(gettext_noop("its type (%(type)s) is not allowed"))
MISMATCH = recorded.message(gettext_noop("its content is not the %(type)s it claims to be"))
NOT_PUBLIC = recorded.message(gettext_noop("its address is not public (%(host)s)"))
UNAVAILABLE = recorded.message(gettext_noop("could not be fetched (%(error)s)"))
NOT_A_LINK = recorded.message(gettext_noop("not a web address"))
NOTE = gettext_noop("(attachment not sent: %(name)s, %(reason)s)")


class Refusal(Exception):
    """The file cannot be sent, whatever is tried: the reason is recorded and the message goes without it."""


def obtain(url: str, name: str = "") -> Attachment:
    """The Attachment for `url`, stored or refused: fetched now unless it already was (or another worker is
    fetching it: then its result). Raises TransientError when the fetch may succeed later."""
    row = _row(url, name)
    while row.status == Attachment.Status.PENDING:
        now = timezone.now()
        free = Q(fetching_until__isnull=True) | Q(fetching_until__lt=now)
        claimed = Attachment.objects.filter(Q(pk=row.pk, status=Attachment.Status.PENDING) & free)
        if claimed.update(fetching_until=now + LEASE):
            return _fetch_and_record(row)
        time.sleep(POLL)  # another worker is fetching it: its result is ours too
        row = Attachment.objects.defer("data").get(pk=row.pk)
    now = timezone.now()
    if row.last_used_at < now - USE_PRECISION:  # pruning counts days: not a write per file per delivery
        Attachment.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def _row(url: str, name: str) -> Attachment:
    found = Attachment.objects.defer("data").filter(url=url).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Attachment.objects.create(url=url, name=name[:200])
    except IntegrityError:  # another worker created it first
        return Attachment.objects.defer("data").get(url=url)


def _fetch_and_record(row: Attachment) -> Attachment:
    try:
        content_type, data = fetch(row.url, row.name)
    except Refusal as refusal:
        row.status, row.error = Attachment.Status.REFUSED, str(refusal)[:500]
        row.fetched_at = row.last_used_at = timezone.now()
        row.fetching_until = None
        row.save(update_fields=["status", "error", "fetched_at", "last_used_at", "fetching_until"])
        log.warning("attachment refused: %s", row.error, extra={"attachment": row.pk})
        return row
    except BaseException:  # transient, or the worker is stopping: the next one may try at once
        Attachment.objects.filter(pk=row.pk).update(fetching_until=None)
        raise
    row.status, row.content_type, row.data = Attachment.Status.STORED, content_type, data
    row.size, row.sha256, row.error = len(data), hashlib.sha256(data).hexdigest(), ""
    row.fetched_at = row.last_used_at = timezone.now()
    row.fetching_until = None
    row.save()
    log.info("attachment stored", extra={"attachment": row.pk, "size": row.size, "content_type": content_type})
    return row


def fetch_again(rows: Any) -> int:
    """Refused files back to "not fetched yet", so the next message that needs one fetches it again (after
    the cap, the allowed hosts or the organizer's file changed). Messages already sent stay as they went."""
    refused = rows.filter(status=Attachment.Status.REFUSED)
    return int(refused.update(status=Attachment.Status.PENDING, error="", fetched_at=None, fetching_until=None))


# --- fetching -------------------------------------------------------------------------------------------


def fetch(url: str, name: str = "") -> tuple[str, bytes]:
    """(content type, bytes) of an allowed file. Raises Refusal (recorded, never retried) or TransientError."""
    current = _checked(url)
    limit = settings.VIGIA_ATTACHMENT_MAX_BYTES
    for _hop in range(MAX_REDIRECTS + 1):
        where = budgets.host_key(current)
        budgets.wait_for_host(where, max_wait=settings.VIGIA_DELIVERY_MAX_PACE_WAIT)  # scrapers' budget too
        with _get(current, where) as response:
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                current = _checked(response.headers["location"], base=current)
                continue
            if not 200 <= status < 300:
                verdict = answers.of_status(status, response.headers)
                if verdict.retried:
                    raise verdict.error(f"the attachment's server answered HTTP {status} ({where})")
                raise Refusal(UNAVAILABLE % {"error": f"HTTP {status}"})
            announced = response.headers.get("content-length", "")
            if announced.isdigit() and int(announced) > limit:
                raise Refusal(TOO_LARGE % {"limit": outbound.size_text(limit)})
            data, more = outbound.read_capped(response, limit, deadline=time.monotonic() + TIMEOUT)
            if more:
                raise Refusal(TOO_LARGE % {"limit": outbound.size_text(limit)})
            return checked_type(response.headers.get("content-type", ""), data, name or str(current)), data
    raise Refusal(UNAVAILABLE % {"error": "too many redirects"})


def _checked(url: str, base: httpx.URL | None = None) -> httpx.URL:
    """The URL (a redirect's resolved against `base`) when it is a web address; Refusal otherwise."""
    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except httpx.InvalidURL:
        raise Refusal(NOT_A_LINK) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Refusal(NOT_A_LINK)
    return parsed


@contextmanager
def _get(url: httpx.URL, where: str) -> Iterator[httpx.Response]:
    """A streamed GET through the outbound client, its body read within the block. The guard's refusal and an
    unusable request are Refusals; network trouble and a body too slow to arrive are transient."""
    headers = {"User-Agent": settings.VIGIA_USER_AGENT, "Accept-Encoding": "identity"}  # the cap stays true
    try:
        with (
            outbound.deadline(TIMEOUT),
            outbound.client().stream("GET", url, headers=headers, timeout=TIMEOUT) as response,
        ):
            yield response
    except outbound.Refused:
        raise Refusal(NOT_PUBLIC % {"host": url.host}) from None
    except (httpx.RequestError, TimeoutError) as exc:
        verdict = answers.of_exception(exc, TIMEOUT)
        if not verdict.retried:
            raise Refusal(UNAVAILABLE % {"error": verdict.reason}) from None
        raise verdict.error(f"the attachment could not be fetched: {verdict.reason} ({where})") from None


def checked_type(declared: str, data: bytes, name: str) -> str:
    """The file's type when it is allowed and its first bytes agree with it; Refusal otherwise. A generic
    declaration (application/octet-stream, none) is read from the first bytes (and, for office documents,
    whose first bytes only name their container, from the file name's extension)."""
    kind = declared.split(";")[0].strip().lower()
    if kind in GENERIC:
        sniffed = _sniffed(data, name)
        if sniffed is None:
            raise Refusal(NOT_ALLOWED % {"type": kind or "?"})
        return sniffed
    if kind == "image/jpg":  # a common misspelling
        kind = "image/jpeg"
    if kind not in ALLOWED:
        raise Refusal(NOT_ALLOWED % {"type": kind})
    if not _starts_as(kind, data):
        raise Refusal(MISMATCH % {"type": kind})
    return kind


def _starts_as(kind: str, data: bytes) -> bool:
    if kind == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(ALLOWED[kind])


def _sniffed(data: bytes, name: str) -> str | None:
    for kind, magic in ALLOWED.items():
        if magic not in (ZIP, OLE) and _starts_as(kind, data):
            return kind
    guessed, _encoding = mimetypes.guess_type(name.split("?")[0])
    if guessed in ALLOWED and ALLOWED[guessed] in (ZIP, OLE) and data.startswith(ALLOWED[guessed]):
        return guessed
    return None


# --- for a delivery ---------------------------------------------------------------------------------------


def wanted(payload: dict[str, Any]) -> list[dict[str, str]]:
    """The event's attachments ([{"url", "name"}]), whatever else its payload holds."""
    found = payload.get("attachments")
    if not isinstance(found, list):
        return []
    return [
        {"url": entry["url"], "name": str(entry.get("name") or "")}
        for entry in found
        if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry["url"]
    ]


def prepare(delivery: Delivery, last_attempt: bool) -> tuple[list[File], str]:
    """(the files to send, without their bytes (`load`), the note to add to the text) for a delivery, recorded
    on it (Delivery.attachments). Raises TransientError when a file may be fetched later, unless this is the
    delivery's last attempt: then the message goes without it."""
    entries = wanted(delivery.event.payload)
    if not entries:
        return [], ""
    files: list[File] = []
    record: list[dict[str, Any]] = []
    for entry in entries:
        try:
            attachment = obtain(entry["url"], entry["name"])
        except JobError as exc:  # a Refusal is recorded on the row: this is something else
            if not exc.permanent and not last_attempt:
                raise  # the delivery's own retry fetches it again
            reason = UNAVAILABLE % {"error": str(exc)[:200]}
        else:
            reason = attachment.error if attachment.status == Attachment.Status.REFUSED else ""
        if reason:
            record.append({**entry, "content_type": "", "size": None, "sent": False, "reason": reason})
            continue
        file = File(
            url=attachment.url,
            name=entry["name"] or attachment.name,
            content_type=attachment.content_type,
            size=attachment.size or 0,
        )
        files.append(file)
        record.append({**entry, "content_type": file.content_type, "size": file.size, "sent": True, "reason": ""})
    if record:
        Delivery.objects.filter(pk=delivery.pk).update(attachments=record)
        delivery.attachments = record
    return files, note(record)


def load(files: list[File]) -> None:
    """The files' bytes, in one query: read once the message is about to go (after the pace's slot)."""
    if not files:
        return
    stored = dict(Attachment.objects.filter(url__in={file.url for file in files}).values_list("url", "data"))
    for file in files:
        file.data = bytes(stored.get(file.url) or b"")  # PostgreSQL hands back a memoryview


def note(record: list[dict[str, Any]]) -> str:
    """One line per file left out, in the messages' language."""
    with translation.override(settings.LANGUAGE_CODE):  # as channels_app.rendering words the messages
        return "\n".join(
            _(NOTE)
            % {"name": entry["name"] or url_file_name(entry["url"]), "reason": recorded.translated(entry["reason"])}
            for entry in record
            if not entry["sent"]
        )


def with_note(text: str, extra: str) -> str:
    return f"{text}\n\n{extra}" if extra else text
