"""publish(topic, event): how the domain apps hand events to delivery.

Topics are plain strings (`source:12`, `person:45`, `job:7:failed`, `sources:broken`); an event is a small
JSON-able dict with at least a `type` (`item.new`, `item.updated`, `publication.new`, `source.broken`, ...).
One transaction (the caller's, when there is one) records the Event, one Delivery per subscribed
recipient (unique per event and recipient) and their sending tasks on the queue: an event exists exactly
when the change it announces was committed, and at-least-once execution never sends it twice.
"""

import fnmatch
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.utils import timezone

from channels_app import alert_notices, rendering
from channels_app.models import Channel, Delivery, Event, Recipient, Subscription
from scheduler import queue
from scheduler.shared import rawsql

log = logging.getLogger("vigia.events")
SEND = "channels_app.sending.send_delivery"


def publish(
    topic: str,
    event: dict[str, Any],
    key: str | None = None,
    also: Sequence[str] = (),
    skip_channel: int | None = None,
) -> Event | None:
    """Record an event and queue a message to each subscriber of `topic`, and of the topics in `also` (a source
    broken is news on `source:12` and on `sources:broken`): one Event, so a recipient subscribed to several of
    them, or to `*`, gets it once. `skip_channel`: nobody on that channel hears of it (a channel's own alert).
    Digest subscriptions get nothing now (channels_app.digests lists the event later). Returns the Event, or
    None when an event with the same `key` was already published (the caller is repeating itself)."""
    # savepoint=False: inside the caller's transaction this adds no savepoint of its own (a check stores
    # and announces in one); a keyed event already recorded is skipped by the insert itself.
    with transaction.atomic(savepoint=False):
        recorded = Event(topic=topic, type=event.get("type", ""), key=key, payload=event)
        if key is None:
            recorded.save(force_insert=True)
        else:
            insert = rawsql.statement("event_insert", _insert_new_event)
            ids = insert.insert([recorded])
            if not ids:  # published before: the caller is repeating itself
                return None
            recorded.pk, recorded._state.adding, recorded._state.db = ids[0], False, insert.conn.alias
        recipients = subscribers(topic, recorded.type)
        for other in also:  # recipients by id: the first subscription found of each is kept
            known = {recipient.pk for recipient in recipients}
            recipients += [found for found in subscribers(other, recorded.type) if found.pk not in known]
        if skip_channel is not None:
            recipients = [recipient for recipient in recipients if recipient.channel_id != skip_channel]
        deliveries = deliver(recorded, recipients, new=True)
    log.info("event", extra={"topic": topic, "type": recorded.type, "event": recorded.pk, "deliveries": deliveries})
    return recorded


def _insert_new_event(conn: BaseDatabaseWrapper) -> rawsql.InsertNew:
    return rawsql.InsertNew(conn, Event, unique=["key"], returning="id")


def subscribers(topic: str, event_type: str) -> list[Recipient]:
    """The active recipients, on enabled channels, whose subscriptions match the topic and the type."""
    sql = rawsql.statement("subscribers", _Subscribers)
    with sql.conn.cursor() as cursor:
        # exact, everything, and patterns (matched below)
        cursor.execute(sql.select, [True, True, topic, "%*%"])
        rows = cursor.fetchall()
    found: dict[int, Recipient] = {}
    for row in rows:
        subscription, recipient, channel = rawsql.split_row(sql.readers, row)
        recipient.channel, subscription.recipient = channel, recipient
        if subscription.topic not in (topic, "*") and not fnmatch.fnmatchcase(topic, subscription.topic):
            continue
        if subscription.event_types and event_type not in subscription.event_types:
            continue
        if subscription.digest:  # told later, in its digest
            continue
        found[subscription.recipient_id] = subscription.recipient
    return list(found.values())


class _Subscribers:
    """The subscriptions a topic may match, each with its recipient and channel, in one prepared SELECT
    (the ORM's query with select_related was compiled anew for every event: 40 % of publish()'s CPU)."""

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        self.conn = conn
        models = (Subscription, Recipient, Channel)
        self.readers = [rawsql.ModelRows(conn, model, "") for model in models]
        table: dict[type[Model], str] = {model: rawsql.quoted(conn, model._meta.db_table) for model in models}

        def column(model: type[Model], name: str) -> str:
            # A concrete field's name: a column (the stubs allow a relation, or None, for get_field().column).
            return f"{table[model]}.{rawsql.quoted(conn, model._meta.get_field(name).column)}"  # type: ignore[union-attr]

        columns = ", ".join(column(model, field.name) for model in models for field in model._meta.concrete_fields)
        self.select = (
            f"SELECT {columns} FROM {table[Subscription]} "
            f"JOIN {table[Recipient]} ON {column(Recipient, 'id')} = {column(Subscription, 'recipient')} "
            f"JOIN {table[Channel]} ON {column(Channel, 'id')} = {column(Recipient, 'channel')} "
            f"WHERE {column(Recipient, 'active')} = %s AND {column(Channel, 'enabled')} = %s "
            f"AND ({column(Subscription, 'topic')} = %s OR {column(Subscription, 'topic')} LIKE %s) "
            f"ORDER BY {column(Subscription, 'id')}"
        )


def deliver(
    event: Event,
    recipients: Sequence[Recipient],
    subject: str | None = None,
    text: str | None = None,
    new: bool = False,
) -> int:
    """One Delivery per recipient (rendered now: every attempt sends the same words), queued for sending.
    Returns how many were created; call inside a transaction. `new`: the event was just created, so it
    has no deliveries yet. Rendering never raises (a failing template gives the built-in wording, its reason
    kept on each delivery): the caller's transaction is the work the event announces."""
    if not recipients:
        return 0
    problem = ""
    if text is None:
        values = {"type": event.type, "topic": event.topic, **event.payload}
        rendered = rendering.render(event.type, values)
        subject, text, problem = rendered.subject, rendered.text, rendered.problem
    assert subject is not None  # given with the text, or rendered with it
    now = timezone.now()
    safety_net = now + timedelta(seconds=settings.VIGIA_DELIVERY_REQUEUE_AFTER)
    held: dict[int, datetime] = {}  # alerts held to be grouped, notices waiting for the end of quiet hours
    rows = []
    for recipient in recipients:
        release = alert_notices.release_at(event.type, recipient, now)
        if release is not None:
            held[recipient.pk] = release
        rows.append(
            Delivery(
                event=event,
                recipient=recipient,
                subject=subject[:300],
                body=text,
                template_error=problem,
                next_attempt_at=release or safety_net,
            )
        )
    if new:  # nothing to collide with: the insert returns the ids
        added: list[tuple[int, int]] = [(row.pk, row.recipient_id) for row in Delivery.objects.bulk_create(rows)]
    else:  # a recipient who already has this event's delivery keeps that one
        existing = set(Delivery.objects.filter(event=event).values_list("pk", flat=True))
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        added = list(Delivery.objects.filter(event=event).exclude(pk__in=existing).values_list("pk", "recipient_id"))
    enqueue([pk for pk, whom in added if whom not in held])
    # Held a moment (to be grouped): queued now, started at their time. Held longer (quiet hours): the requeue
    # sweep queues them when their time comes.
    later: dict[datetime, list[int]] = {}
    for pk, whom in added:
        if whom in held and held[whom] <= safety_net:
            later.setdefault(held[whom], []).append(pk)
    for release, ids in later.items():
        enqueue(ids, not_before=release)
    return len(added)


def enqueue(delivery_ids: Iterable[int], not_before: datetime | None = None) -> None:
    timeout = settings.VIGIA_DELIVERY_SEND_TIMEOUT
    entries = [((pk,), settings.VIGIA_DELIVERY_QUEUE, timeout) for pk in delivery_ids]
    queue.enqueue_tasks(SEND, entries, not_before=not_before)
