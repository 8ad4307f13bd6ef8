"""The HTTP API (`/api/v1/`): schedule a message, read its status, cancel it.

Why django-ninja: one typed definition per endpoint (pydantic schemas and type hints) gives both the
request validation and the OpenAPI document, so the two cannot drift apart; underneath it is plain Django
views, URLs and middleware (no second framework, no separate server); and it is small. The logic lives
in channels_app.scheduled: these views only translate between HTTP and it.

- Authentication: `Authorization: Bearer <token>` (channels_app.tokens). Missing, malformed, unknown or
  revoked tokens get 401 `{"detail": ...}`. The views are exempt from the session login that
  LoginRequiredMiddleware asks of the rest of the site (see `urls()`), never from the bearer check; CSRF
  does not apply (a bearer token is not sent by browsers on their own, as cookies are).
- Ownership: a token sees only the messages it created. Another client's message, or one whose token
  was deleted, is 404 to everyone else (ids do not leak whose they are). The (service, key) pair is
  unique across all clients, though: repeating another client's pair is a 409.
- Errors: `{"detail": "..."}`; invalid requests (schema or scheduled.create errors alike) are 422
  `{"detail": "Invalid request.", "errors": {"<field>": ["...", ...]}}` with the request's field names;
  a body that is not JSON is 400 in the same shape, under `body`.
- No docs UI: ninja's Swagger page loads its assets from a CDN and Vigia must work offline. The OpenAPI
  document is served at `/api/v1/openapi.json` (no login needed).
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from django.utils import translation
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import AfterValidator, BeforeValidator, ConfigDict

from channels_app import scheduled, tokens
from channels_app.models import ApiToken, Message
from scheduler.shared import bounds

INVALID = "Invalid request."
NOT_FOUND = "Not found."


class ApiRequest(HttpRequest):
    """The request an endpoint gets: BearerToken put the caller's token on `auth` (for type checkers; nothing
    changes at run time)."""

    auth: ApiToken


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


class Error(Schema):
    detail: str


class InvalidRequest(Schema):
    detail: str = Field(examples=[INVALID])
    errors: dict[str, list[str]] = Field(
        description="Messages by request field.", examples=[{"to": ["'123' is not a valid e-mail address."]}]
    )


# --- Authentication, parsing, errors ---------------------------------------------------------------------
class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`, checked against the live (not revoked) API tokens."""

    def __call__(self, request: HttpRequest) -> ApiToken:
        value = request.headers.get("Authorization", "").strip()
        if not value:
            raise AuthenticationError(message="Authentication required: send Authorization: Bearer <token>.")
        scheme, _, raw = value.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise AuthenticationError(message="Use Authorization: Bearer <token>.")
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = tokens.authenticate(token)
        if found is None:
            raise AuthenticationError(message="Invalid or revoked token.")
        return found


class MalformedBody(ValueError):
    pass


class JsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            return super().parse_body(request)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise MalformedBody(f"Not valid JSON: {exc}.") from None


api = NinjaAPI(
    title="Vigia API",
    version="1",
    description=(
        "Schedule messages through Vigia's channels, read their status, cancel them. Authenticate with "
        "`Authorization: Bearer <token>`; a token sees only the messages it created."
    ),
    auth=BearerToken(),
    docs_url=None,
    docs_decorator=login_not_required,
    parser=JsonParser(),
    urls_namespace="api-v1",
)


def urls() -> tuple[list[URLResolver | URLPattern], str, str]:
    """`api.urls` with every view exempt from the session login LoginRequiredMiddleware asks for: the API
    authenticates each request by its own bearer token (the NinjaAPI's `auth`, on every operation)."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)  # ninja's URLs are all path()s: no include()
        login_not_required(pattern.callback)
    return patterns, app_name, namespace


def invalid(request: HttpRequest, errors: dict[str, list[str]], status: int = 422) -> HttpResponse:
    return api.create_response(request, {"detail": INVALID, "errors": errors}, status=status)


def not_found(request: HttpRequest) -> HttpResponse:
    return api.create_response(request, {"detail": NOT_FOUND}, status=404)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(request, {"detail": exc.message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="vigia"'
    return response


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
    return invalid(request, {"body": [f"Too large: send at most {limit} KiB."]}, status=413)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, MalformedBody):
        return invalid(request, {"body": [str(exc.__cause__)]}, status=400)
    return api.create_response(request, {"detail": exc.message}, status=exc.status_code)


@api.exception_handler(NinjaValidationError)
def _schema_errors(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    if any(error["loc"][0] == "path" for error in exc.errors):
        return not_found(request)  # /messages/abc: no such message
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        field, where = _field_of(error["loc"])
        message = _message_of(error)
        message = f"{where}: {message}" if where else message
        if message not in errors.setdefault(field, []):
            errors[field].append(message)
    return invalid(request, errors)


def _field_of(loc: Sequence[str | int]) -> tuple[str, str]:
    """(the request field, where inside it) for ninja's ("body", "payload", "params", 0)."""
    loc = list(loc)
    if loc and loc[0] == "body":
        loc = loc[2:]  # the source and the view's parameter name
    if not loc:
        return "body", ""
    field, inner = str(loc[0]), loc[1:]
    where = field + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in inner)
    return field, where if inner else ""


def _message_of(error: dict[str, Any]) -> str:
    kind, loc = error.get("type", ""), error["loc"]
    if kind == "missing":
        return "Send a JSON object." if len(loc) <= 2 else "Required."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "Send a JSON object."
    if kind == "extra_forbidden":
        return "Unknown field."
    if kind == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    message = str(error.get("msg", "Invalid value."))
    return message if message.endswith(".") else message + "."


# --- Endpoints ----------------------------------------------------------------------------------------
def _own(request: ApiRequest, message_id: int) -> Message | None:
    return Message.objects.select_related("channel", "delivery").filter(pk=message_id, token=request.auth).first()


@api.post(
    "/messages",
    response={
        200: MessageOut,
        201: MessageOut,
        400: InvalidRequest,
        401: Error,
        409: Error,
        413: InvalidRequest,
        422: InvalidRequest,
    },
    summary="Schedule a message",
    description=(
        "Validates everything before anything is stored: 201 with the new message's status. Idempotent on "
        "(service, key): repeating a pair returns the message it created first (200) and queues nothing "
        "more; a pair created with another token is 409."
    ),
    tags=["messages"],
    operation_id="create_message",
)
def create_message(request: ApiRequest, payload: MessageIn) -> HttpResponse | Status[dict[str, Any]]:
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
        message, created = scheduled.create(data, token=request.auth)
    except DjangoValidationError as exc:
        return invalid(request, exc.message_dict)
    if message.token_id != request.auth.pk:
        return Status(409, {"detail": "This service and key name a message created with another token."})
    message = Message.objects.select_related("channel", "delivery").get(pk=message.pk)
    return Status(201 if created else 200, scheduled.status_of(message))


@api.get(
    "/messages/{message_id}",
    response={200: MessageOut, 401: Error, 404: Error},
    summary="A message's status",
    description="404 for an unknown id and for messages created with another token.",
    tags=["messages"],
    operation_id="get_message",
)
def get_message(request: ApiRequest, message_id: int) -> HttpResponse | Status[dict[str, Any]]:
    message = _own(request, message_id)
    if message is None:
        return not_found(request)
    return Status(200, scheduled.status_of(message))


@api.delete(
    "/messages/{message_id}",
    response={200: MessageOut, 401: Error, 404: Error, 409: Error},
    summary="Cancel a message",
    description=(
        "200 with the status (`cancelled`) when the message had not started sending; cancelling again is "
        "also 200. 409 when it is too late: already sending, sent or failed."
    ),
    tags=["messages"],
    operation_id="cancel_message",
)
def cancel_message(request: ApiRequest, message_id: int) -> HttpResponse | Status[dict[str, Any]]:
    message = _own(request, message_id)
    if message is None:
        return not_found(request)
    if message.status != Message.Status.CANCELLED and not scheduled.cancel(message):
        message.refresh_from_db()
        if message.status != Message.Status.CANCELLED:  # else cancelled meanwhile by another request: fine
            return Status(409, {"detail": f"Too late to cancel: the message is already {message.status}."})
    return Status(200, scheduled.status_of(message))
