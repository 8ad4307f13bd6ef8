"""Sending one delivery, exactly once as far as the provider can tell.

- Claim: a delivery is sent only from `pending`, `retrying` once its backoff is over, or `sending` when the
  worker that took it stopped (claimed more than VIGIA_DELIVERY_STALE_AFTER ago): a duplicate queue
  delivery finds it taken and does nothing.
- The provider gets the delivery's idempotency key (Wuzapi `Id`, webhook `X-Vigia-Delivery`, e-mail
  Message-ID), so the one re-send a crash can cause — after the provider accepted, before we recorded it —
  is the same message to the provider, not a second one.
- Pace: each send takes the channel's next slot (channels_app.pacing); when the slot is further away than
  VIGIA_DELIVERY_MAX_PACE_WAIT, the delivery waits in line (`retrying` until then, no attempt counted)
  instead of holding a worker asleep.
- Transient and rate-limited errors retry with exponential backoff and jitter (never sooner than a
  Retry-After) up to VIGIA_DELIVERY_MAX_ATTEMPTS, then the delivery is `dead`; permanent ones make it
  `failed` at once. "Channel down" (scheduler.errors.ChannelDown: a WhatsApp session logged out, a token the
  provider does not know) fails it at once too, with the reason prefixed "channel down: ", logged as an
  error and announced by the `channel_down` signal: the channel cannot send until an operator fixes it.
  `revive()` (the admin's and the dashboard's "retry") puts dead and failed deliveries back in line.
- An unknown kind (no longer installed) fails the delivery permanently; an exception raised by a kind's own
  code is an ordinary failure, retried as a transient one, with its traceback in the error.
- requeue_due() (the `deliver_due` job, every few seconds) queues retries that are due and anything whose
  queue task was lost.
"""

import logging
import random
import traceback
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Model, Q, Value
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone

from channels_app import alert_notices, alerts, attachments, events, pacing
from channels_app.kinds import base as kinds
from channels_app.models import Callback, Channel, Delivery, Event, Recipient
from scheduler.errors import ChannelDown, JobError, PermanentError
from scheduler.execution import worker_identity
from scheduler.shared import budgets, rawsql
from scheduler.shared.logs import log_context

log = logging.getLogger("vigia.deliveries")
delivery_finished = Signal()  # sender=Delivery, delivery=...: when a delivery reaches a final status
channel_down = Signal()  # sender=Channel, channel=..., reason=...: a provider said the channel cannot send
TRACEBACK_CHARS = 1500  # the end of a crashing kind's traceback kept in the delivery's error


class UnknownKind(PermanentError):
    """The channel's kind is not installed (any more): nothing can send through it."""


def send_delivery(delivery_id: int) -> str:
    """django-q2 task: send one delivery. Returns its status; never raises."""
    me = worker_identity()
    delivery = claim(delivery_id, me)
    if delivery is None:
        return "not claimed"
    with log_context(delivery=delivery.pk, channel=delivery.recipient.channel_id):
        return _send(delivery, me)


def _send(delivery: Delivery, me: str) -> str:
    recipient, channel = delivery.recipient, delivery.recipient.channel
    try:
        if not channel.enabled:
            raise PermanentError(f"the channel {channel.name} is disabled")
        kind = kinds.find(channel.kind)
        if kind is None:  # looked up apart: a KeyError inside a kind's own code is that kind's failure
            raise UnknownKind(f"unknown channel kind {channel.kind!r}: it is not installed")
        if channel.down_since and not _probe_due(channel):
            raise ChannelDown(channel.down_reason or "the provider said it cannot send")
        # Fetched (once for all deliveries) before the pace's slot is taken: a slow file does not hold it.
        last_attempt = delivery.attempts >= settings.VIGIA_DELIVERY_MAX_ATTEMPTS
        files, note = attachments.prepare(delivery, last_attempt=last_attempt)
        later = pacing.reserve(channel, max_wait=settings.VIGIA_DELIVERY_MAX_PACE_WAIT)
        if later is not None:
            return defer(delivery, me, later)
        if kind.sends_files:  # the bytes only now: a delivery deferred for its slot has not read them
            attachments.load(files)
        alert_notices.absorb(delivery)  # other alerts held for this recipient go out in this message
        message = kinds.Outgoing(
            key=delivery.idempotency_key,
            subject=delivery.subject,
            text=attachments.with_note(delivery.body, note),
            event={"type": delivery.event.type, "topic": delivery.event.topic, "event": delivery.event.payload},
            attachments=files,
            done=dict(delivery.parts or {}),
            # Parts are recorded as they go when there are several kinds of them (a text and files).
            record=partial(_record_part, delivery, me) if files else None,
        )
        sent = kind.send(channel.config, channel.secrets, recipient.address, message)
    except ChannelDown as exc:
        _report_down(channel, str(exc))
        return finish(delivery, me, error=ChannelDown(f"channel down: {exc}"))
    except UnknownKind as exc:  # not the provider's doing: no channel alert
        return finish(delivery, me, error=exc)
    except JobError as exc:
        if exc.permanent and (down := _down_for_settings(channel, delivery, me)):
            return down
        return finish(delivery, me, error=exc)
    except Exception as exc:  # a bug in a kind (a KeyError too): retried per policy, with its traceback
        if down := _down_for_settings(channel, delivery, me):
            return down
        log.exception("channel kind crashed", extra={"delivery": delivery.pk, "channel": channel.pk})
        return finish(delivery, me, error=JobError(_crash(exc)))
    if channel.down_since or channel.failing:  # the probe went through: the operator fixed it
        Channel.objects.filter(pk=channel.pk).update(down_since=None, down_reason="", failing=False)
        log.warning("channel up again", extra={"channel": channel.pk})
        _channel_alerts(lambda: alerts.succeeded(f"channel:{channel.pk}"), channel)
    return finish(delivery, me, provider_id=sent.provider_id)


def _record_part(delivery: Delivery, me: str, key: str, provider_id: str) -> None:
    """A part the provider accepted, recorded at once: a retry after a later part failed skips it."""
    delivery.parts = {**(delivery.parts or {}), key: provider_id}
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING, worker=me).update(parts=delivery.parts)


def _probe_due(channel: Channel) -> bool:
    """While a channel is down, one delivery every VIGIA_CHANNEL_PROBE_SECONDS reaches the provider (to notice
    it is fixed); the others fail at once without a request."""
    try:
        budgets.reserve(_probe(channel), 1 / settings.VIGIA_CHANNEL_PROBE_SECONDS, max_wait=0)
    except budgets.SlotTooFar:
        return False
    return True


def _down_for_settings(channel: Channel, delivery: Delivery, me: str) -> str | None:
    """After a failure: when the channel's stored settings no longer pass its kind's validation, the channel
    is down with that reason (it is not this message's fault), and the delivery fails saying so."""
    if not channel.enabled or kinds.find(channel.kind) is None:
        return None  # those failures say so themselves
    invalid = _invalid_settings(channel)
    if not invalid:
        return None
    reason = f"the stored settings are no longer valid: {invalid}"
    _report_down(channel, reason)
    return finish(delivery, me, error=ChannelDown(f"channel down: {reason}"))


def _invalid_settings(channel: Channel) -> str:
    """Why the channel's stored settings fail its kind's validation now ("" when they pass)."""
    try:
        kinds.channel_kinds.clean(channel.kind, {**(channel.config or {}), **(channel.secrets or {})})
    except ValidationError as exc:
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    except Exception:  # noqa: BLE001 - unreadable secrets and the like: not a settings problem we can name
        return ""
    return ""


def _probe(channel: Channel) -> str:
    return f"probe:channel:{channel.pk}"


def _report_down(channel: Channel, reason: str) -> None:
    """The operator's to fix: recorded on the channel (shown on its page), logged as an error, and announced
    to whoever listens. The next probe is a full interval away."""
    Channel.objects.filter(pk=channel.pk).update(
        down_since=Coalesce("down_since", Value(timezone.now())), down_reason=reason[:500]
    )
    budgets.hold(_probe(channel), settings.VIGIA_CHANNEL_PROBE_SECONDS)
    log.error("channel down: %s", reason, extra={"channel": channel.pk, "kind": channel.kind})
    _channel_failed(channel, reason, at_once=True)
    for _listener, problem in channel_down.send_robust(sender=type(channel), channel=channel, reason=reason):
        if isinstance(problem, Exception):
            log.error("channel_down listener failed: %r", problem, extra={"channel": channel.pk})


def _channel_failed(channel: Channel, reason: str, at_once: bool = False) -> None:
    """A message the channel could not deliver for good counts against the channel (its Watch `channel:<id>`;
    N failures in a row alert the *other* channels); `at_once` when the provider says the channel is down."""
    Channel.objects.filter(pk=channel.pk, failing=False).update(failing=True)
    _channel_alerts(
        lambda: alerts.failed(
            f"channel:{channel.pk}", reason, name=channel.name, at_once=at_once, extra={"channel_name": channel.name}
        ),
        channel,
    )


def _channel_alerts(call: Callable[[], object], channel: Channel) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - an alert that cannot be recorded must not change the send's outcome
        log.exception("the channel's alert state could not be updated", extra={"channel": channel.pk})


def _crash(exc: BaseException) -> str:
    """'KeyError: 'x'' and the end of its traceback (the frames nearest the fault), for the delivery's error."""
    trace = "".join(traceback.format_exception(exc)).strip()
    if len(trace) > TRACEBACK_CHARS:
        trace = "…" + trace[-TRACEBACK_CHARS:]
    return f"{type(exc).__name__}: {exc}\n\n{trace}"


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.VIGIA_DELIVERY_STALE_AFTER)


def claim(delivery_id: int, me: str) -> Delivery | None:
    """Take the delivery in one statement (UPDATE ... RETURNING) and return it with its recipient, channel
    and event loaded, or None. On PostgreSQL they come back in the same statement (a data-modifying WITH);
    SQLite cannot join in a RETURNING, so they are a second, prepared statement. (The ORM's update and
    select_related lookup cost more CPU than the rest of a send to a local provider.)"""
    sql = rawsql.statement("claim-delivery", _ClaimStatements)
    now = timezone.now()
    at, stale = rawsql.datetime_param(sql.conn, now), rawsql.datetime_param(sql.conn, _stale_before(now))
    params = [Delivery.Status.SENDING, at, me, delivery_id, Delivery.Status.PENDING, Delivery.Status.RETRYING, at]
    params += [Delivery.Status.SENDING, stale]
    with sql.conn.cursor() as cursor:
        cursor.execute(sql.claim, params)
        row = cursor.fetchone()
        if row is None:
            return None
        if not sql.joined:
            cursor.execute(sql.related, [row[sql.recipient_at], row[sql.event_at]])
            row = row + cursor.fetchone()
    delivery, recipient, channel, event = rawsql.split_row(sql.rows, row)
    recipient.channel, delivery.recipient, delivery.event = channel, recipient, event
    return delivery


class _ClaimStatements:
    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        self.conn = conn
        q = conn.ops.quote_name
        deliveries, recipients = q(Delivery._meta.db_table), q(Recipient._meta.db_table)
        channels, events_ = q(Channel._meta.db_table), q(Event._meta.db_table)
        self.rows = [rawsql.ModelRows(conn, model, "") for model in (Delivery, Recipient, Channel, Event)]
        fields = Delivery._meta.concrete_fields
        self.recipient_at = fields.index(Delivery._meta.get_field("recipient"))
        self.event_at = fields.index(Delivery._meta.get_field("event"))
        # (the stubs type Field.column Optional: a concrete field always has one)
        update = (
            f"UPDATE {deliveries} SET status = %s, attempts = attempts + 1, claimed_at = %s, worker = %s "
            f"WHERE id = %s AND (status = %s OR (status = %s AND next_attempt_at <= %s) "
            f"OR (status = %s AND claimed_at < %s)) RETURNING {', '.join(q(f.column) for f in fields)}"  # type: ignore[arg-type]
        )

        def columns(model: type[Model]) -> str:
            table = q(model._meta.db_table)
            return ", ".join(f"{table}.{q(f.column)}" for f in model._meta.concrete_fields)  # type: ignore[arg-type]

        related = f"{columns(Recipient)}, {columns(Channel)}, {columns(Event)}"
        joins = f"JOIN {channels} ON {channels}.id = {recipients}.channel_id"
        self.joined = conn.vendor == "postgresql"
        if self.joined:
            self.claim = (
                f"WITH claimed AS ({update}) SELECT claimed.*, {related} FROM claimed "
                f"JOIN {recipients} ON {recipients}.id = claimed.recipient_id {joins} "
                f"JOIN {events_} ON {events_}.id = claimed.event_id"
            )
        else:
            self.claim = update
            where = f"WHERE {recipients}.id = %s AND {events_}.id = %s"
            self.related = f"SELECT {related} FROM {recipients} {joins}, {events_} {where}"


def finish(delivery: Delivery, me: str, provider_id: str = "", error: JobError | None = None) -> str:
    now = timezone.now()
    changes: dict[str, object] = {"claimed_at": None}
    if error is None:
        changes.update(status=Delivery.Status.SENT, provider_id=provider_id[:300], sent_at=now, error="")
    elif error.permanent:
        changes.update(status=Delivery.Status.FAILED, error=str(error)[:2000])
    elif delivery.attempts >= settings.VIGIA_DELIVERY_MAX_ATTEMPTS:
        changes.update(status=Delivery.Status.DEAD, error=str(error)[:2000])
    else:
        changes.update(
            status=Delivery.Status.RETRYING, error=str(error)[:2000], next_attempt_at=now + _backoff(delivery, error)
        )
    recorded = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING, worker=me).update(**changes)
    if not recorded:
        log.warning("delivery was taken over before it finished", extra={"delivery": delivery.pk})
        return "taken over"
    for name, value in changes.items():
        setattr(delivery, name, value)
    level = logging.INFO if error is None else logging.WARNING
    log.log(level, "delivery", extra={"delivery": delivery.pk, "status": delivery.status, "attempt": delivery.attempts})
    if error is None and delivery.event.type in alerts.alert_types():
        alert_notices.mark_sent(delivery)
    elif delivery.status in (Delivery.Status.FAILED, Delivery.Status.DEAD) and not isinstance(error, ChannelDown):
        if not isinstance(error, UnknownKind) and delivery.recipient.channel.enabled:
            _channel_failed(delivery.recipient.channel, str(error))
    if delivery.status in Delivery.FINAL:
        for _listener, problem in delivery_finished.send_robust(sender=Delivery, delivery=delivery):
            if isinstance(problem, Exception):  # a listener's bug must not undo or repeat the send
                log.error("delivery listener failed: %r", problem, extra={"delivery": delivery.pk})
    return delivery.status


def defer(delivery: Delivery, me: str, until: datetime) -> str:
    """Back in line until the pace has a slot near `until`: not an attempt, no error."""
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING, worker=me).update(
        status=Delivery.Status.RETRYING, attempts=F("attempts") - 1, next_attempt_at=until, claimed_at=None
    )
    return "deferred"


def _backoff(delivery: Delivery, error: JobError) -> timedelta:
    delay = min(settings.VIGIA_DELIVERY_BACKOFF_CAP, settings.VIGIA_DELIVERY_BACKOFF * 2 ** (delivery.attempts - 1))
    delay = max(delay, error.retry_after or 0)
    return timedelta(seconds=delay * random.uniform(1.0, 1.3))


def requeue_due(now: datetime | None = None) -> int:
    """Queue every delivery whose retry is due, and any pending or sending one whose task was lost.
    Each gets a fresh safety-net time, so the next sweep does not queue it again."""
    now = now or timezone.now()
    if not _any_due(now):
        return 0  # the usual case, every few seconds on the leader: one prepared look, no transaction
    later = now + timedelta(seconds=settings.VIGIA_DELIVERY_REQUEUE_AFTER)
    with transaction.atomic():
        due = Delivery.objects.filter(
            Q(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING], next_attempt_at__lte=now)
            | Q(status=Delivery.Status.SENDING, claimed_at__lt=_stale_before(now))
        )
        # Locked, so a worker claiming one of them now waits for this sweep instead of being undone by it: an
        # unlocked look let a row be claimed between the look and the update below, which then put it back
        # to pending for a second worker to send again. Rows a worker holds at this moment are skipped.
        ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:5000])
        # Back to pending (what claim() takes at once), with a fresh safety-net time: the next sweep does not
        # queue them again, and an abandoned `sending` one is not queued on every sweep meanwhile.
        Delivery.objects.filter(pk__in=ids).update(
            status=Delivery.Status.PENDING, next_attempt_at=later, claimed_at=None, worker=""
        )
        events.enqueue(ids)
    return len(ids)


def _any_due(now: datetime) -> bool:
    return any_due(Delivery, "deliveries_due", now, _stale_before(now))


def any_due(model: type[Delivery] | type[Callback], name: str, now: datetime, stale_before: datetime) -> bool:
    """Is any row of `model` (deliveries, the API's callbacks: both have status, next_attempt_at and claimed_at)
    due for its requeue sweep: pending or retrying and due, or sending but claimed before `stale_before`? Two
    indexed looks in one statement, prepared once per connection as `name`: the ORM's query for it cost the
    leader more CPU than its whole dispatch of an occurrence."""
    sql = rawsql.statement(name, partial(_due_sql, model))
    adapt = connection.ops.adapt_datetimefield_value
    params = ["pending", "retrying", adapt(now), "sending", adapt(stale_before)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _due_sql(model: type[Model], conn: BaseDatabaseWrapper) -> str:
    table = rawsql.quoted(conn, model._meta.db_table)
    names = ("status", "next_attempt_at", "claimed_at")
    # Concrete fields by name: each has a column (the stubs allow a relation, or None, for get_field().column).
    status, at, claimed = (rawsql.quoted(conn, model._meta.get_field(name).column) for name in names)  # type: ignore[union-attr]
    return (
        f"SELECT 1 WHERE EXISTS (SELECT 1 FROM {table} WHERE {status} IN (%s, %s) AND {at} <= %s) "
        f"OR EXISTS (SELECT 1 FROM {table} WHERE {status} = %s AND {claimed} < %s)"
    )


def revive(deliveries: Iterable[Delivery]) -> int:
    """Put dead and failed deliveries back in line (an operator fixed the token, the number, the server)."""
    ids = [delivery.pk for delivery in deliveries]
    with transaction.atomic():
        revived = list(
            Delivery.objects.filter(pk__in=ids, status__in=[Delivery.Status.DEAD, Delivery.Status.FAILED]).values_list(
                "pk", flat=True
            )
        )
        Delivery.objects.filter(pk__in=revived).update(
            status=Delivery.Status.PENDING,
            attempts=0,
            error="",
            next_attempt_at=timezone.now() + timedelta(seconds=settings.VIGIA_DELIVERY_REQUEUE_AFTER),
        )
        # The operator says it is fixed: their channels are tried again at once (a send still refused marks
        # the channel down again).
        Channel.objects.filter(recipients__deliveries__pk__in=revived, down_since__isnull=False).update(
            down_since=None, down_reason=""
        )
        events.enqueue(revived)
    return len(revived)
