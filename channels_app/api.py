"""The messages API: schedule a message through a channel, read its status, cancel it (composed in config.api).

The logic lives in channels_app.scheduled: these views only translate between HTTP and it.
- Ownership: a caller sees only the messages it created. Another caller's message is 404 to everyone else
  (ids do not leak whose they are). The (service, key) pair is unique across all callers, though:
  repeating another caller's pair is a 409.
- A token limited to channels or address patterns (channels_app.callers.may_send) gets 422 on the field.
"""

from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from django.utils import translation
from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator, BeforeValidator, ConfigDict

from channels_app import callers, scheduled
from channels_app.models import Message
from scheduler.shared import bounds
from scheduler.shared.api import READ_ERRORS, WRITE_ERRORS, ApiError, ErrorOut, invalid, not_found, require

router = Router(tags=["messages"])


# --- Schemas -----------------------------------------------------------------------------------------
def _no_nul[T](value: T) -> T:
    # Valid JSON, but PostgreSQL cannot store U+0000 in text or jsonb, and no database stores a lone surrogate
    # ("\ud800" decodes to a str that is not encodable as UTF-8): refuse them as field errors, not a 500. The
    # rule is the forms' (bounds.json_problem); the API speaks English.
    if isinstance(value, str):
        with translation.override("en"):
            problem = bounds.json_problem(value)
        if problem:
            raise ValueError(problem)
    return value


def _scalar(value: object) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("Each parameter is a text or a number.")
    return _no_nul(value)


Text = Annotated[str, AfterValidator(_no_nul)]
Param = Annotated[str | int | float, BeforeValidator(_scalar)]


class MessageIn(Schema):
    model_config = ConfigDict(extra="forbid")

    channel: Text = Field(max_length=100, description="The channel's name (or its numeric id).")
    to: Text | None = Field(
        None, max_length=300, description="The address: phone or group JID (wuzapi), e-mail (email); empty for some."
    )
    body: Text | None = Field(None, description="The text. Give either `body` or `template` (with `params`).")
    template: Text | None = Field(
        None, max_length=50, description="A message template's name; its {{1}}, {{2}}… are filled from `params`."
    )
    params: list[Param] | None = Field(None, description="Values for the template's {{1}}, {{2}}…, in order.")
    send_at: Text | None = Field(
        None,
        description="When to send: ISO 8601 with a UTC offset (2026-12-01T14:00:00-03:00 or …Z). Empty: now.",
        json_schema_extra={"format": "date-time"},
        examples=["2026-12-01T14:00:00-03:00"],
    )
    service: Text = Field(max_length=100, description="The calling service. With `key`, the message's identity.")
    key: Text = Field(
        max_length=200, description="Unique within `service`: repeating a (service, key) returns the first message."
    )
    callback_url: Text | None = Field(
        None, max_length=2000, description="Told the final status (the same JSON as GET) by a POST."
    )


class MessageOut(Schema):
    id: int
    service: str
    key: str
    channel: str
    to: str
    status: Literal["scheduled", "sending", "sent", "failed", "cancelled"]
    send_at: str = Field(json_schema_extra={"format": "date-time"})
    sent_at: str | None = Field(json_schema_extra={"format": "date-time"})
    attempts: int = Field(description="Sending attempts so far.")
    provider_id: str = Field(description="The provider's message id, once sent.")
    error: str


# --- Endpoints ----------------------------------------------------------------------------------------
def _own(request: HttpRequest, message_id: int, write: bool = False) -> Message:
    who = require(request, "messages", write)
    found = Message.objects.select_related("channel", "delivery").filter(pk=message_id, caller=who.key).first()
    if found is None:
        raise not_found()
    return found


@router.post(
    "/messages",
    response={200: MessageOut, 201: MessageOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Schedule a message",
    description=(
        "Scope messages:write. Validates everything before anything is stored: 201 with the new message's "
        "status. Idempotent on (service, key): repeating a pair returns the message it created first (200) "
        "and queues nothing more; a pair created by another caller is 409."
    ),
    operation_id="create_message",
)
def create_message(request: HttpRequest, payload: MessageIn) -> Status[dict[str, Any]]:
    who = require(request, "messages", write=True)
    if problems := callers.may_send(who, payload.channel, payload.to or ""):
        raise invalid(problems)
    data = scheduled.Request(
        service=payload.service,
        key=payload.key,
        channel=payload.channel,
        to=payload.to or "",
        body=payload.body or "",
        template=payload.template or "",
        params=payload.params,
        send_at=payload.send_at or None,
        callback_url=payload.callback_url or "",
    )
    try:
        message, created = scheduled.create(data, caller=who)
    except DjangoValidationError as exc:
        raise invalid(exc.message_dict) from None
    if message.caller != who.key:
        raise ApiError(409, "This service and key name a message created by another caller.")
    message = Message.objects.select_related("channel", "delivery").get(pk=message.pk)
    return Status(201 if created else 200, scheduled.status_of(message))


@router.get(
    "/messages/{message_id}",
    response={200: MessageOut, **READ_ERRORS},
    summary="A message's status",
    description="Scope messages:read. 404 for an unknown id and for messages created by another caller.",
    operation_id="get_message",
)
def get_message(request: HttpRequest, message_id: int) -> Status[dict[str, Any]]:
    return Status(200, scheduled.status_of(_own(request, message_id)))


@router.delete(
    "/messages/{message_id}",
    response={200: MessageOut, 409: ErrorOut, **READ_ERRORS},
    summary="Cancel a message",
    description=(
        "Scope messages:write. 200 with the status (`cancelled`) when the message had not started sending; "
        "cancelling again is also 200. 409 when it is too late: already sending, sent or failed."
    ),
    operation_id="cancel_message",
)
def cancel_message(request: HttpRequest, message_id: int) -> Status[dict[str, Any]]:
    message = _own(request, message_id, write=True)
    if message.status != Message.Status.CANCELLED and not scheduled.cancel(message):
        message.refresh_from_db()
        if message.status != Message.Status.CANCELLED:  # else cancelled meanwhile by another request: fine
            raise ApiError(409, f"Too late to cancel: the message is already {message.status}.")
    return Status(200, scheduled.status_of(message))
