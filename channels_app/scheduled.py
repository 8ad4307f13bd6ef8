"""Messages scheduled through the API: validation, the one-off send_message job, cancel, status callbacks.

create() validates everything (channel, address, body or template with its parameters, send_at with an
offset, the callback URL) before anything is written, and is idempotent on (service, key). At send_at the
job publishes a `message.api` event addressed to the one recipient: the usual Delivery, with its retries,
pace and provider idempotency key. When the delivery ends, the message takes its status and its callback,
if any, is scheduled (channels_app.callbacks: signed, retried with backoff, one per message); the message's
callback_status follows it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils import timezone

from channels_app import callbacks, events, rendering
from channels_app.kinds import base as kinds
from channels_app.models import ApiToken, Channel, Delivery, Event, Message, MessageTemplate, Recipient
from channels_app.sending import delivery_finished
from scheduler import services
from scheduler.models import Job, Run
from scheduler.shared import bounds, outbound
from scheduler.shared.api_callers import Caller

log = logging.getLogger("vigia.deliveries")
MESSAGE_EVENT = "message.api"  # the type of the events scheduled messages are delivered through
STATUS_OF_DELIVERY: dict[str, Message.Status] = {
    Delivery.Status.SENT: Message.Status.SENT,
    Delivery.Status.FAILED: Message.Status.FAILED,
    Delivery.Status.DEAD: Message.Status.FAILED,
    Delivery.Status.CANCELLED: Message.Status.CANCELLED,
}


@dataclass
class Request:
    service: str
    key: str
    channel: str
    to: str = ""
    body: str = ""
    template: str = ""
    params: list | None = None
    send_at: str | datetime | None = None
    callback_url: str = ""


def create(request: Request, caller: Caller | None = None, token: ApiToken | None = None) -> tuple[Message, bool]:
    """(message, created), owned by the API caller (or `token`'s). Raises ValidationError keyed by field;
    writes nothing then."""
    if caller is not None and caller.token_id is not None and token is None:
        token = ApiToken.objects.filter(pk=caller.token_id).first()
    owner = caller.key if caller is not None else (f"token:{token.pk}" if token is not None else "")
    request.service, request.key = (request.service or "").strip(), (request.key or "").strip()
    existing = Message.objects.filter(service=request.service, key=request.key).first()
    if existing is not None:
        return existing, False
    fields = validate(request)
    try:
        with transaction.atomic():
            message = Message.objects.create(token=token, caller=owner, **fields)
            job = Job(
                name=f"API message #{message.pk}: {request.service}/{request.key}"[:200],
                kind="send_message",
                params={"message_id": message.pk},
                schedule_type=Job.ScheduleType.ONCE,
                run_at=message.send_at,
                queue=Job.Queue.HIGH,
                timeout_seconds=120,
                max_attempts=3,
                backoff_base_seconds=5,
                external_service="api-message",
                external_key=str(message.pk),
            )
            services.refresh_schedule(job, now=min(timezone.now(), message.send_at))
            job.save()
            Message.objects.filter(pk=message.pk).update(job=job)
            message.job = job
    except IntegrityError:  # the same (service, key) created meanwhile: theirs stands
        return Message.objects.get(service=request.service, key=request.key), False
    return message, True


def validate(request: Request) -> dict[str, Any]:
    errors: dict[str, str] = {}
    for name in ("service", "key"):
        value = (getattr(request, name) or "").strip()
        if not value:
            errors[name] = "Required."
        elif len(value) > (100 if name == "service" else 200):
            errors[name] = "Too long."
    channel = Channel.objects.filter(name=request.channel).first() if request.channel else None
    if channel is None and bounds.parse_id(str(request.channel or "")) is not None:
        channel = Channel.objects.filter(pk=int(request.channel)).first()
    if channel is None:
        errors["channel"] = f"Unknown channel {request.channel!r}."
    elif not channel.enabled:
        errors["channel"] = f"The channel {channel.name} is disabled."
    elif channel.kind not in kinds.names():
        errors["channel"] = f"The channel's kind {channel.kind!r} is not available."
        channel = None
    address = ""
    if channel is not None:
        try:
            address = kinds.get(channel.kind).clean_address(request.to or "")
        except ValidationError as exc:
            errors["to"] = " ".join(exc.messages)
    text = _text(request, errors)
    if channel is not None and text is not None and "to" not in errors:
        try:
            kinds.get(channel.kind).check_length(text)
        except ValidationError as exc:
            errors["body"] = " ".join(exc.messages)
    send_at = _send_at(request.send_at, errors)
    if request.callback_url and not request.callback_url.startswith(("http://", "https://")):
        errors["callback_url"] = "Use an http:// or https:// address."
    elif request.callback_url:
        try:  # loopback, private, link-local... refused here; names are resolved when the callback is made
            outbound.validate_url(request.callback_url)
        except ValidationError as exc:
            errors["callback_url"] = " ".join(exc.messages)
    if errors:
        raise ValidationError(errors)
    return {
        "service": request.service.strip(),
        "key": request.key.strip(),
        "channel": channel,
        "to": address,
        "body": request.body or "",
        "template": request.template or "",
        "params": list(request.params or []),
        "send_at": send_at,
        "callback_url": request.callback_url or "",
    }


def _text(request: Request, errors: dict[str, str]) -> str | None:
    """The message's final text, or None (errors recorded)."""
    if bool(request.body) == bool(request.template):
        errors["body"] = "Give either a body or a template (with its params)."
        return None
    if request.body:
        return request.body
    template = MessageTemplate.objects.filter(name=request.template).first()
    if template is None:
        errors["template"] = f"Unknown template {request.template!r}."
        return None
    if not isinstance(request.params, list | type(None)):
        errors["params"] = "A list of values for {{1}}, {{2}}…"
        return None
    try:
        return rendering.fill_positional(template.body, [str(p) for p in request.params or []])
    except ValidationError as exc:
        errors["params"] = " ".join(exc.messages)
        return None


def _send_at(value: str | datetime | None, errors: dict[str, str]) -> datetime | None:
    if value in (None, ""):
        return timezone.now()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            errors["send_at"] = "Not an ISO 8601 date and time (e.g. 2026-12-01T14:00:00-03:00)."
            return None
    if value.tzinfo is None or value.utcoffset() is None:
        errors["send_at"] = "Give the UTC offset (e.g. 2026-12-01T14:00:00-03:00 or …Z)."
        return None
    if not bounds.in_range(value):  # before any comparison: 9999-12-31T23:59-03:00 overflows in UTC
        errors["send_at"] = f"Choose a time between {bounds.FIRST_YEAR} and {bounds.LAST_YEAR}."
        return None
    if value < timezone.now() - timedelta(minutes=5):
        errors["send_at"] = "This time is in the past."
        return None
    return value


def text_of(message: Message) -> str:
    """The message's text; ValidationError when its template was deleted or now wants other parameters."""
    if message.body:
        return message.body
    template = MessageTemplate.objects.filter(name=message.template).first()
    if template is None:
        raise ValidationError(f"The template {message.template!r} no longer exists.")
    return rendering.fill_positional(template.body, message.params)


def dispatch(message: Message) -> dict[str, Any]:
    """The send_message job: publish the message's event to its one recipient (once, whatever repeats).

    The message is claimed first (scheduled → sending, one conditional UPDATE), in the transaction that
    creates its delivery: a cancel (the same UPDATE from scheduled) and the send are serialised on that row.
    PostgreSQL makes whichever comes second wait and then see the other's status; SQLite's IMMEDIATE
    transactions run one writer at a time. The `message` given may be stale: only the row is believed."""
    with transaction.atomic():
        if not Message.objects.filter(pk=message.pk, status=Message.Status.SCHEDULED).update(
            status=Message.Status.SENDING
        ):
            return {"skipped": Message.objects.filter(pk=message.pk).values_list("status", flat=True).first()}
        try:
            text = text_of(message)
        except ValidationError as exc:  # the template changed since the message was accepted: tell, do not retry
            message.status, message.error = Message.Status.FAILED, " ".join(exc.messages)
            Message.objects.filter(pk=message.pk).update(status=message.status, error=message.error)
            schedule_callback(message)  # in this transaction: told exactly when the failure is recorded
            return {"failed": message.error}
        recipient, _ = Recipient.objects.get_or_create(channel=message.channel, address=message.to)
        event, created = Event.objects.get_or_create(
            key=f"message:{message.pk}",
            defaults={"topic": f"api:{message.service}", "type": MESSAGE_EVENT, "payload": _payload(message)},
        )
        if created:
            events.deliver(event, [recipient], subject=f"{message.service}", text=text)
        delivery = Delivery.objects.get(event=event, recipient=recipient)
        Message.objects.filter(pk=message.pk).update(delivery=delivery)
    return {"delivery": delivery.pk}


def _payload(message: Message) -> dict[str, Any]:
    return {"message": message.pk, "service": message.service, "key": message.key, "to": message.to}


def cancel(message: Message) -> bool:
    """Cancel a message not sent yet. Returns False when it is too late (sending or done). The conditional
    UPDATE is what serialises it with dispatch(): on PostgreSQL it waits for a send under way to commit,
    then finds the message sending and changes nothing."""
    with transaction.atomic():
        cancelled = Message.objects.filter(pk=message.pk, status=Message.Status.SCHEDULED).update(
            status=Message.Status.CANCELLED
        )
        if cancelled and message.job_id:
            Job.objects.filter(pk=message.job_id).update(enabled=False, next_run_at=None)
            Run.objects.filter(job_id=message.job_id, status__in=[Run.Status.QUEUED, Run.Status.RETRYING]).update(
                status=Run.Status.CANCELLED, finished_at=timezone.now(), error="The message was cancelled."
            )
    if cancelled:
        message.refresh_from_db()
        schedule_callback(message)
    return bool(cancelled)


@receiver(delivery_finished)
def _delivery_finished(sender: type[Delivery], delivery: Delivery, **kwargs: Any) -> None:
    if delivery.event.type != MESSAGE_EVENT:
        return  # not a scheduled message's delivery (most of them): no lookup
    message = Message.objects.filter(delivery=delivery).first()
    if message is None:
        return
    status = STATUS_OF_DELIVERY[delivery.status]
    Message.objects.filter(pk=message.pk).update(status=status, error=delivery.error)
    message.status, message.error = status, delivery.error
    schedule_callback(message, delivery)


def schedule_callback(message: Message, delivery: Delivery | None = None) -> None:
    """Tell the message's callback URL its final status: a durable, signed callback (channels_app.callbacks),
    one per message whatever repeats; the message's callback_status follows it."""
    if message.callback_url:
        callbacks.schedule(f"message:{message.pk}", message.callback_url, status_of(message, delivery), message.caller)


def status_of(message: Message, delivery: Delivery | None = None) -> dict[str, Any]:
    delivery = delivery or message.delivery
    return {
        "id": message.pk,
        "service": message.service,
        "key": message.key,
        "channel": message.channel.name,
        "to": message.to,
        "status": message.status,
        "send_at": message.send_at.isoformat(),
        "sent_at": delivery.sent_at.isoformat() if delivery and delivery.sent_at else None,
        "attempts": delivery.attempts if delivery else 0,
        "provider_id": delivery.provider_id if delivery else "",
        "error": message.error,
    }
