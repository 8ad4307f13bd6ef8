"""How alert notices reach people: grouped, and not at night.

- Grouped: an alert, reminder or recovery delivery is held VIGIA_ALERT_GROUP_SECONDS (1 s) before it is sent,
  and, when VIGIA_ALERT_FLOOD_SECONDS is set, until that long after the recipient's previous alert message; the
  one that goes first takes every other held alert of the same recipient into its message (their deliveries
  become `grouped`, pointing at it). A hundred sources failing at once are one message per recipient, as
  healthchecks sums up "other checks down", and with a flood window a slower avalanche is one message a window;
  a lone alert still arrives within about two seconds (the soak benchmark measures it). The combined text is
  stored on the delivery before it is sent, so a retry sends the same message and nothing is told twice. A short
  hold is a queued task that starts at its time; a long one (quiet hours) waits for the leader's requeue sweep.
- Quiet hours: a reminder or a recovery (not urgent) for a recipient inside their quiet hours waits until the
  hours end, in the recipient's zone; a new alert is urgent and goes at once.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels_app import alerts
from channels_app.models import Delivery, Recipient
from scheduler.schedules import ScheduleError, get_zone

MAX_GROUPED = 1000  # alerts taken into one message; later ones go in the next
FULL_BELOW = 5  # up to this many alerts are told in full; more, one line each
MAX_CHARS = 3900  # a grouped message fits one WhatsApp message (4096), counting the rest when it must


def release_at(event_type: str, recipient: Recipient, now: datetime) -> datetime | None:
    """When a new delivery of `event_type` to `recipient` may go: None for at once."""
    if event_type not in alerts.alert_types():
        return None
    release = None
    hold = settings.VIGIA_ALERT_GROUP_SECONDS
    if hold > 0:
        release = now + timedelta(seconds=hold)
    flood = settings.VIGIA_ALERT_FLOOD_SECONDS
    if flood > 0:  # an alert message went to them a moment ago: this one waits to go with the next ones
        last = (
            Delivery.objects.filter(
                recipient=recipient, event__type__in=alerts.alert_types(), created_at__gt=now - timedelta(seconds=flood)
            )
            .exclude(status__in=[Delivery.Status.GROUPED, Delivery.Status.CANCELLED])
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is not None:
            release = max(release or now, last + timedelta(seconds=flood))
    if event_type in alerts.reminder_types():
        morning = quiet_until(recipient, now)
        if morning is not None:
            release = max(release or morning, morning)
    return release


def quiet_until(recipient: Recipient, now: datetime) -> datetime | None:
    """The end of the recipient's quiet hours when `now` is inside them, else None. The hours may span midnight
    (22:00 to 07:00)."""
    start, end = recipient.quiet_from, recipient.quiet_until
    if start is None or end is None or start == end:
        return None
    zone = zone_of(recipient)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return _at(day, end, zone)


def zone_of(recipient: Recipient) -> ZoneInfo:
    try:
        return get_zone(recipient.time_zone or settings.TIME_ZONE)
    except ScheduleError:  # a zone removed from tzdata since it was saved
        return get_zone(settings.TIME_ZONE)


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """`clock` on `day` in `zone`, in UTC (a time a DST jump skips reads as the moment after the jump)."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def absorb(delivery: Delivery) -> Delivery:
    """Take the recipient's other held alert notices into `delivery` (claimed, about to be sent): its text then
    lists them all. Returns the delivery with its (possibly new) subject and body saved."""
    if delivery.event.type not in alerts.alert_types():
        return delivery
    types = alerts.alert_types()
    # The held notices that would go within one hold from now: not those waiting for a flood window or the end
    # of quiet hours (they go together later).
    horizon = timezone.now() + timedelta(seconds=settings.VIGIA_ALERT_GROUP_SECONDS)
    with transaction.atomic():
        others = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(
                recipient_id=delivery.recipient_id,
                status=Delivery.Status.PENDING,
                attempts=0,
                event__type__in=types,
                next_attempt_at__lte=horizon,
            )
            .exclude(pk=delivery.pk)
            .order_by("created_at", "pk")[:MAX_GROUPED]
        )
        if not others:
            return delivery
        Delivery.objects.filter(pk__in=[other.pk for other in others], status=Delivery.Status.PENDING).update(
            status=Delivery.Status.GROUPED, grouped_into=delivery, next_attempt_at=None, sent_at=None
        )
        notices = [delivery, *others]
        delivery.subject, delivery.body = _grouped_text(notices)
        Delivery.objects.filter(pk=delivery.pk).update(subject=delivery.subject[:300], body=delivery.body)
    return delivery


def _grouped_text(notices: list[Delivery]) -> tuple[str, str]:
    """One message listing every notice: in full when they are few, else one line each (its subject) within
    one WhatsApp message's length. Written in Portuguese, as the built-in wordings are
    (channels_app.rendering.DEFAULTS); an operator's templates shape each notice inside it."""
    count = len(notices)
    plural = "s" if count != 1 else ""
    head = f"🔔 {count} alerta{plural}:"
    if count <= FULL_BELOW:
        return f"Vigia: {count} alerta{plural}", "\n\n".join([head, *(notice.body.strip() for notice in notices)])
    lines, used = [head], len(head)
    for shown, notice in enumerate(notices):
        line = f"• {notice.subject.strip() or notice.body.strip().splitlines()[0]}"
        if used + len(line) + 1 > MAX_CHARS:
            lines.append(f"… e mais {count - shown}.")
            break
        lines.append(line)
        used += len(line) + 1
    return f"Vigia: {count} alerta{plural}", "\n".join(lines)


def mark_sent(delivery: Delivery) -> None:
    """The grouped ones went out with `delivery`: they are sent when it is."""
    Delivery.objects.filter(grouped_into=delivery, status=Delivery.Status.GROUPED).update(sent_at=timezone.now())
