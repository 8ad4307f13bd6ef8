"""Digests: a subscription that gets one message every few hours, or once a day, listing what happened since
the last one, instead of one message per event (a law office reads its 40 publications of the day at once).

- Periods, on the recipient's clock (Recipient.time_zone, else settings.TIME_ZONE), DST-safe with zoneinfo:
  - "hours", N ≤ 24: boundaries at local midnight + k × N hours, restarting every midnight (N=5: 00:00,
    05:00, 10:00, 15:00, 20:00; the last period of a day is shorter when N does not divide 24). N > 24:
    every N hours of wall-clock time counted from Monday 2000-01-03 00:00 (N=48: every other midnight,
    N=168: Mondays at midnight).
  - "daily": each day at `digest_at`.
  A wall time skipped by spring-forward falls right after the jump; a repeated one (fall-back) once, on its
  first pass. Periods missed while nothing ran (the scheduler down for two days) are one digest, up to the
  latest boundary: the recipient gets one message that lists everything since the last one.
- sweep() (a leader chore, every 30 s) handles each recipient with a subscription whose latest boundary
  passed its `digest_through`. Under the recipient's row lock (select_for_update(skip_locked=True): two
  leaders, or a leader and one that lost its lease, never both work on it), the events of each due
  subscription's window (digest_through, boundary] that it matches (as channels_app.events.subscribers
  matches: exact topic, `*`, fnmatch pattern; `sources:broken` also hears the source events published on it
  with `also`) become ONE event of type "digest" per recipient and schedule: a firm subscribed to 40 people,
  each a subscription of its own (the people import makes one per person), gets one message a day, grouped
  by person, not 40. That event is keyed by recipient, schedule and boundary, and delivered to that
  recipient alone through the usual Delivery (sent once, retried, paced); the key makes a repeated sweep,
  another process or a restart send nothing twice, and `digest_through` moves to the boundary in the same
  transaction. A window without events sends nothing and only moves `digest_through`.
- A period is swept SETTLE after its boundary, so that events published by a transaction still open at the
  boundary (created before it, committed after) are seen: an event committed later than that is missed by
  the digests (a known limit of windows by creation time).
"""

import fnmatch
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app import events, topics
from channels_app.links import absolute
from channels_app.models import Event, Recipient, Subscription
from scheduler import periodic
from scheduler.shared import rawsql

log = logging.getLogger("vigia.deliveries")

EVENT_TYPE = "digest"
# Events addressed to one recipient by whoever created them (not published to subscribers): never in a digest.
ADDRESSED = ("digest", "message.api", "test")
SETTLE = timedelta(seconds=60)  # how long after its boundary a period is swept (see the module's docstring)
MAX_LINES = 200  # the body's lines at most, then "… and N more"
TITLE_CHARS = 160
HOURS_MIN, HOURS_MAX = 1, 168
EPOCH = datetime(2000, 1, 3)  # a Monday, midnight: where periods longer than a day are counted from
EVERY = 30  # seconds between sweeps on the leader


# --- periods -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    since: datetime  # exclusive: the previous boundary (or when the subscription began)
    through: datetime  # inclusive: the boundary the digest is made for (its key)


@dataclass(frozen=True)
class Matched:
    """One event of a digest's window, without its payload."""

    pk: int
    topic: str
    type: str
    created_at: datetime


def zone_of(recipient: Recipient) -> ZoneInfo:
    """The recipient's zone; the site's when it has none (or one this host cannot read)."""
    for name in (recipient.time_zone, settings.TIME_ZONE):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a local wall time (naive) falls on: a repeated time's first pass; a time skipped by
    spring-forward, the instant right after the jump."""
    first = wall.replace(tzinfo=zone, fold=0)
    found = first.astimezone(UTC)
    if found.astimezone(zone).replace(tzinfo=None) == wall:
        return found
    # In the gap: the jump lies between the two readings of the wall time (offset before, offset after).
    low = min(found, wall.replace(tzinfo=zone, fold=1).astimezone(UTC))
    high = max(found, wall.replace(tzinfo=zone, fold=1).astimezone(UTC))
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return low.replace(microsecond=0) + timedelta(seconds=1)  # transitions fall on whole seconds


def _walls(subscription: Subscription, day: date) -> list[datetime]:
    """The boundaries' local wall times on `day` (for "daily", and "hours" up to 24), in order."""
    midnight = datetime.combine(day, time())
    if subscription.digest == Subscription.Digest.DAILY:
        return [datetime.combine(day, subscription.digest_at)] if subscription.digest_at else []
    hours = subscription.digest_hours or 0
    return [midnight + timedelta(hours=h) for h in range(0, 24, hours)] if hours else []


def latest_boundary(subscription: Subscription, now: datetime) -> datetime | None:
    """The subscription's latest period boundary at or before `now` (None: not a digest, or incomplete)."""
    hours = subscription.digest_hours
    if subscription.digest == Subscription.Digest.HOURS and not (hours and HOURS_MIN <= hours <= HOURS_MAX):
        return None
    if subscription.digest not in (Subscription.Digest.HOURS, Subscription.Digest.DAILY):
        return None
    zone = zone_of(subscription.recipient)
    wall_now = now.astimezone(zone).replace(tzinfo=None)
    if subscription.digest == Subscription.Digest.HOURS and hours and hours > 24:
        step = timedelta(hours=hours)
        k = (wall_now - EPOCH) // step
        candidates = [EPOCH + j * step for j in (k, k - 1)]
    else:
        today = wall_now.date()
        candidates = [wall for back in range(3) for wall in reversed(_walls(subscription, today - timedelta(back)))]
    for wall in candidates:
        found = instant(wall, zone)
        if found <= now:
            return found
    return None


def due_periods(subscription: Subscription, now: datetime) -> Period | None:
    """The window (digest_through or created_at, latest boundary ≤ now] when a digest is due for it; None
    when its latest boundary is not after what was already handled. Periods missed are one window."""
    through = latest_boundary(subscription, now)
    since = subscription.digest_through or subscription.created_at
    if through is None or through <= since:
        return None
    return Period(since, through)


# --- validation (the forms, the admin and any API share it) --------------------------------------------------


def check(digest: str, hours: int | None, at: time | None) -> dict[str, ValidationError]:
    """Errors by field ("digest_hours", "digest_at") of a subscription's delivery settings; {} when fine."""
    errors: dict[str, ValidationError] = {}
    if digest == Subscription.Digest.HOURS:
        if hours is None:
            errors["digest_hours"] = ValidationError(
                _("Say every how many hours (%(min)s to %(max)s)."), params={"min": HOURS_MIN, "max": HOURS_MAX}
            )
        elif not HOURS_MIN <= hours <= HOURS_MAX:
            errors["digest_hours"] = ValidationError(
                _("Choose between %(min)s and %(max)s hours."), params={"min": HOURS_MIN, "max": HOURS_MAX}
            )
        if at is not None:
            errors["digest_at"] = ValidationError(_("Only for a daily digest: leave it empty."))
    elif digest == Subscription.Digest.DAILY:
        if at is None:
            errors["digest_at"] = ValidationError(_("Choose the time of day the digest goes out."))
        if hours is not None:
            errors["digest_hours"] = ValidationError(_("Only for a digest every few hours: leave it empty."))
    else:
        if hours is not None:
            errors["digest_hours"] = ValidationError(_("Only for a digest every few hours: leave it empty."))
        if at is not None:
            errors["digest_at"] = ValidationError(_("Only for a daily digest: leave it empty."))
    return errors


def in_words(subscription: Subscription) -> str:
    """ "daily digest at 08:00", "digest every 6 h"; "" for a subscription told at once."""
    if subscription.digest == Subscription.Digest.DAILY and subscription.digest_at:
        words = _("daily digest at %(time)s") % {"time": subscription.digest_at.strftime("%H:%M")}
    elif subscription.digest == Subscription.Digest.HOURS and subscription.digest_hours:
        hours = subscription.digest_hours
        words = ngettext("digest every hour", "digest every %(hours)s h", hours) % {"hours": hours}
    else:
        return ""
    zone = subscription.recipient.time_zone
    if zone and zone != settings.TIME_ZONE:
        words = _("%(words)s (%(zone)s)") % {"words": words, "zone": zone}
    return words


# --- the sweep -----------------------------------------------------------------------------------------------


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Make the digests that are due: {"sent": digests queued, "empty": windows with nothing to tell, "busy":
    recipients another process holds, "done": digests made before (their key taken)}. Quick when nothing is
    due (one light query)."""
    now = now or timezone.now()
    cutoff = now - SETTLE
    counts = {"sent": 0, "empty": 0, "busy": 0, "done": 0}
    rows = (
        Subscription.objects.exclude(digest="")
        .select_related("recipient")
        .only("pk", "digest", "digest_hours", "digest_at", "digest_through", "created_at", "recipient__time_zone")
        .order_by("recipient_id", "pk")
    )
    due = dict.fromkeys(row.recipient_id for row in rows.iterator(chunk_size=500) if due_periods(row, cutoff))
    for recipient_id in due:
        for outcome, number in sweep_recipient(recipient_id, cutoff).items():
            counts[outcome] = counts.get(outcome, 0) + number
    return counts


def schedule_of(subscription: Subscription) -> str:
    """A digest's schedule as text ("daily@08:00", "hours/6"): a recipient's subscriptions that share it
    share one message."""
    if subscription.digest == Subscription.Digest.DAILY and subscription.digest_at:
        return f"daily@{subscription.digest_at.strftime('%H:%M')}"
    return f"{subscription.digest}/{subscription.digest_hours}"


def sweep_recipient(recipient_id: int, now: datetime) -> dict[str, int]:
    """A recipient's due digests, in one transaction under its row lock (so two leaders, or a leader and a
    late one, never both work on them): for each schedule, the events of all its subscriptions that share it
    in one message (a firm subscribed to 40 people gets one digest, not 40). Returns the outcomes' counts."""
    counts = {"sent": 0, "empty": 0, "busy": 0, "done": 0}
    with transaction.atomic():
        recipient = (
            Recipient.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel")
            .filter(pk=recipient_id)
            .first()
        )
        if recipient is None:
            counts["busy"] += 1  # (or deleted meanwhile)
            return counts
        groups: dict[str, list[tuple[Subscription, Period]]] = {}
        for subscription in Subscription.objects.filter(recipient=recipient).exclude(digest="").order_by("pk"):
            subscription.recipient = recipient
            period = due_periods(subscription, now)
            if period is not None:
                groups.setdefault(schedule_of(subscription), []).append((subscription, period))
        for schedule, due in groups.items():
            outcome = _make(recipient, schedule, due)
            counts[outcome] += 1
            through = due[0][1].through
            Subscription.objects.filter(pk__in=[subscription.pk for subscription, _period in due]).update(
                digest_through=through
            )
            log.info(
                "digest",
                extra={"recipient": recipient.pk, "schedule": schedule, "outcome": outcome, "through": through},
            )
    return {outcome: number for outcome, number in counts.items() if number}


def key_of(recipient: Recipient, schedule: str, boundary: datetime) -> str:
    """The digest event's key: a repeated sweep, another process or a restart finds it taken."""
    return f"digest:{recipient.pk}:{schedule}:{boundary.astimezone(UTC).isoformat()}"


def _make(recipient: Recipient, schedule: str, due: Sequence[tuple[Subscription, Period]]) -> str:
    """One schedule's digest for a recipient: "sent" (its event and delivery recorded and queued), "empty"
    (nothing to tell, or nobody to tell it to) or "done" (made before: its key is taken)."""
    if not (recipient.active and recipient.channel.enabled):  # publish() would skip them too: nothing owed
        return "empty"
    found: dict[int, Matched] = {}
    for subscription, period in due:
        found.update((row.pk, row) for row in matching(subscription, period))
    if not found:
        return "empty"
    matched = sorted(found.values(), key=lambda row: (row.created_at, row.pk))
    period = Period(min(period.since for _subscription, period in due), due[0][1].through)
    subject, text = compose(recipient, period, matched)
    payload: dict[str, Any] = {
        "type": EVENT_TYPE,
        "recipient": recipient.pk,
        "subscriptions": [subscription.pk for subscription, _period in due],
        "schedule": schedule,
        "since": period.since.isoformat(),
        "through": period.through.isoformat(),
        "count": len(matched),
        "events": [row.pk for row in matched[:1000]],
    }
    key = key_of(recipient, schedule, period.through)
    recorded = Event(topic=f"digest:{recipient.pk}", type=EVENT_TYPE, key=key, payload=payload)
    insert = rawsql.statement("digest_event_insert", _insert_new_event)
    ids = insert.insert([recorded])
    if not ids:  # another process, or this one before a restart, made this digest already
        return "done"
    recorded.pk, recorded._state.adding, recorded._state.db = ids[0], False, insert.conn.alias
    events.deliver(recorded, [recipient], subject, text, new=True)
    return "sent"


def _insert_new_event(conn: BaseDatabaseWrapper) -> rawsql.InsertNew[Event]:
    return rawsql.InsertNew(conn, Event, unique=["key"], returning="id")


# --- which events ----------------------------------------------------------------------------------------------


def _wildcard_prefix(topic: str) -> str | None:
    """The fixed start of an fnmatch pattern ("source:" of "source:*"); None when `topic` has no wildcard."""
    positions = [topic.index(char) for char in "*?[" if char in topic]
    return topic[: min(positions)] if positions else None


def _alias(topic: str) -> tuple[str, tuple[str, ...]] | None:
    """A registered pattern that is published on with `also` (`sources:broken`): the family prefix it covers
    and its event types, so the events recorded on that family's topics count for it."""
    pattern = topics.pattern(topic)
    if pattern is None or not pattern.covers or "*" in topic:
        return None
    return pattern.covers, tuple(name for _words, names in pattern.events for name in names)


def candidates(subscription: Subscription, period: Period) -> QuerySet[Event]:
    """The events of the window that may match, bounded by the window and the topic (or its prefix)."""
    found = Event.objects.filter(created_at__gt=period.since, created_at__lte=period.through).exclude(
        type__in=ADDRESSED
    )
    if subscription.event_types:
        found = found.filter(type__in=subscription.event_types)
    topic = subscription.topic
    if topic == topics.EVERYTHING:
        return found
    prefix = _wildcard_prefix(topic)
    if prefix is not None:
        return found.filter(topic__startswith=prefix) if prefix else found
    wanted = Q(topic=topic)
    if alias := _alias(topic):
        wanted |= Q(topic__startswith=f"{alias[0]}:", type__in=alias[1])
    return found.filter(wanted)


def matches(subscription: Subscription, topic: str, event_type: str) -> bool:
    """Whether an event on `topic` of `event_type` is the subscription's (channels_app.events.subscribers)."""
    if subscription.event_types and event_type not in subscription.event_types:
        return False
    if subscription.topic in (topic, topics.EVERYTHING) or fnmatch.fnmatchcase(topic, subscription.topic):
        return True
    alias = _alias(subscription.topic)
    parsed = topics.parse(topic)
    return bool(alias and parsed and parsed[0].prefix == alias[0] and event_type in alias[1])


def matching(subscription: Subscription, period: Period) -> list[Matched]:
    """The window's events the subscription matches (their payloads are read later, for those shown)."""
    rows = candidates(subscription, period).values_list("pk", "topic", "type", "created_at")
    return [Matched(*row) for row in rows.iterator(chunk_size=2000) if matches(subscription, row[1], row[2])]


# --- the message ------------------------------------------------------------------------------------------------


def compose(recipient: Recipient, period: Period, matched: Sequence[Matched]) -> tuple[str, str]:
    """(subject, text) of a digest: a heading, then the events grouped by their object (a source, a person,
    a job…), each group's name in *bold* with its dashboard link, then one line per event; at most MAX_LINES
    lines, then "… and N more". Plain text, in the messages' language (settings.LANGUAGE_CODE)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _compose(recipient, period, matched)


def _compose(recipient: Recipient, period: Period, matched: Sequence[Matched]) -> tuple[str, str]:
    count = len(matched)
    zone = zone_of(recipient)
    subject = ngettext("Vigia: digest — %(count)s update", "Vigia: digest — %(count)s updates", count) % {
        "count": count
    }
    lines = [
        f"📋 *{subject}*",
        _("From %(since)s to %(through)s")
        % {"since": _when(period.since, zone), "through": _when(period.through, zone)},
    ]
    groups: dict[str, list[int]] = {}
    for row in matched:
        groups.setdefault(row.topic, []).append(row.pk)
    described = topics.describe(groups)
    ordered = sorted(groups, key=lambda topic: (described[topic][0].casefold(), topic))
    # Which events fit in MAX_LINES: a group costs a blank line, its heading and its link, then a line each.
    budget, shown, plan = MAX_LINES - len(lines) - 2, 0, []  # two lines kept for "… and N more"
    for topic in ordered:
        label, url = described[topic]
        head = 3 if url else 2
        if budget - head < 1:
            break
        room = min(len(groups[topic]), budget - head)
        plan.append((topic, groups[topic][:room]))
        budget -= head + room
        shown += room
    payloads = dict(
        Event.objects.filter(pk__in=[pk for _topic, pks in plan for pk in pks]).values_list("pk", "payload")
    )
    types = {row.pk: row.type for row in matched}
    for topic, pks in plan:
        label, url = described[topic]
        total = len(groups[topic])
        lines += ["", f"*{label}* ({total})"]
        if url:
            lines.append(absolute(url))
        lines += [f"• {summary(types[pk], payloads.get(pk) or {})}" for pk in pks]
    if shown < count:
        more = count - shown
        lines += ["", ngettext("… and %(count)s more", "… and %(count)s more", more) % {"count": more}]
        overview = absolute(_overview())
        if overview:
            lines[-1] += f": {overview}"
    return subject, "\n".join(lines)


def _overview() -> str:
    try:
        return reverse("overview")
    except NoReverseMatch:
        return ""


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return formats.date_format(moment.astimezone(zone), "SHORT_DATETIME_FORMAT")


def _date(value: object) -> str:
    if isinstance(value, str) and value:
        try:
            return formats.date_format(date.fromisoformat(value[:10]), "SHORT_DATE_FORMAT")
        except ValueError:
            return value
    return ""


def _clip(value: object, limit: int = TITLE_CHARS) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _joined(parts: Iterable[object]) -> str:
    return " · ".join(str(part) for part in parts if part)


def summary(event_type: str, payload: dict[str, Any]) -> str:
    """One line for an event in a digest: an item's title and link, a publication's court, date and case…"""
    if event_type in ("item.new", "item.updated"):
        title = _clip(payload.get("title")) or _("(untitled)")
        mark = "🆕" if event_type == "item.new" else "✏️"
        words = title if event_type == "item.new" else _("%(title)s (changed)") % {"title": title}
        url = _clip(payload.get("url"), 500)
        return f"{mark} {words}" + (f" — {url}" if url else "")
    if event_type == "publication.new":
        case = payload.get("process")
        parts = [
            payload.get("tribunal"),
            _date(payload.get("date")),
            _clip(payload.get("type_label"), 60),
            _("case %(process)s") % {"process": case} if case else "",
        ]
        return f"⚖️ {_joined(parts) or _('New publication')}"
    if event_type == "job.failed":
        if payload.get("status") == "timed_out":
            words = _("Run timed out (attempt %(attempt)s)")
        else:
            words = _("Run failed (attempt %(attempt)s)")
        error = _clip(payload.get("error"), 120)
        return f"❌ {words % {'attempt': payload.get('attempt', '?')}}" + (f": {error}" if error else "")
    if event_type == "source.broken":
        error = _clip(payload.get("error"), 120)
        return f"⚠️ {_('Failing')}" + (f": {error}" if error else "")
    if event_type == "source.recovered":
        return f"✅ {_('Working again')}"
    if event_type == "people.expired":
        names = [str(person.get("name", "")) for person in payload.get("people") or [] if isinstance(person, dict)]
        count = payload.get("count") or len(names)
        words = ngettext("%(count)s monitoring ended", "%(count)s monitorings ended", int(count)) % {"count": count}
        return f"⌛ {words}: {_clip(', '.join(names), 300)}" if names else f"⌛ {words}"
    title = _clip(payload.get("title") or payload.get("subject") or payload.get("text"), TITLE_CHARS)
    return f"{event_type}: {title}" if title else event_type


periodic.register("send_digests", EVERY, lambda: sweep())
