"""The HTTP API (`/api/v1/`): every app's router under one NinjaAPI, one authentication, one OpenAPI document.

Why django-ninja: one typed definition per endpoint gives the OpenAPI document and the answers' shapes, on
plain Django views, URLs and middleware (no second framework). Request bodies are checked against JSON
schemas derived from the same Django forms the dashboard uses (scheduler.shared.api), so the document, the
API and the dashboard refuse the same things with the same messages.

- Authentication: `Authorization: Bearer <token>`, an API token or a JWT (channels_app.callers); 401
  otherwise. The views are exempt from the session login LoginRequiredMiddleware asks of the rest of the
  site (see `urls()`), never from the bearer check; CSRF does not apply (browsers never send a bearer token
  on their own, as they do cookies).
- Errors: `{"detail": ...}`; invalid requests are 422 `{"detail": "Invalid request.", "errors": {"<field>":
  [...]}}`, unparsable bodies 400 and bodies over DATA_UPLOAD_MAX_MEMORY_SIZE 413 in the same shape.
- No docs UI: ninja's Swagger page loads its assets from a CDN and Vigia must work offline. The document is
  served at `/api/v1/openapi.json` (no login needed).
"""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.security.base import AuthBase

from channels_app import api as messages_api
from channels_app import api_alerts, callers
from scheduler import api as scheduler_api
from scheduler.shared import audit
from scheduler.shared.api import ApiError, Caller, invalid, not_found, require, too_large
from scrapers.people import api as people_api
from scrapers.sources import api as sources_api


class BearerToken(AuthBase):
    openapi_type = "http"

    def __init__(self) -> None:
        self.openapi_scheme = "bearer"
        super().__init__()

    def __call__(self, request: HttpRequest) -> Caller:
        who = callers.identify(request)
        # The audit trail names the caller: an API token by its name, a JWT by its issuer and subject.
        audit.identify(f"token:{who.name}" if who.token_id is not None else f"jwt:{who.name}")
        resource = RESOURCE_OF.get(request.path_info.removeprefix(PREFIX).split("/", 1)[0])
        if resource is not None:  # the one rule, before any body is read: reads need read, the rest write
            request.auth = who  # type: ignore[attr-defined]  # ninja's own attribute, set early for require()
            require(request, resource, write=request.method not in ("GET", "HEAD", "OPTIONS"))
        return who


PREFIX = "/api/v1/"
# The first path segment → the resource whose scope guards it (each view also asks for its own).
RESOURCE_OF = {
    "jobs": "jobs",
    "runs": "jobs",
    "people": "people",
    "publications": "people",
    "sources": "sources",
    "items": "sources",
    "messages": "messages",
    "queue": "queue",
    "alerts": "queue",  # the operators' view of the work, as the queue is (channels_app.api_alerts)
}


class VigiaAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        # The document names every job kind registered by now (test kinds and VIGIA_EXTRA_JOB_KINDS may come after
        # the API module was imported).
        scheduler_api.schemas()
        return super().get_openapi_schema(**kwargs)


api = VigiaAPI(
    title="Vigia API",
    version="1",
    description=(
        "Jobs (scheduled HTTP calls and more), runs, monitored people and their publications, sources and "
        "their items, scheduled messages and the queue. Authenticate with `Authorization: Bearer <token>` "
        "(a Vigia API token or a JWT from a configured issuer); each operation names the scope it needs "
        "(`<resource>:read` or `<resource>:write`; write implies read)."
    ),
    auth=BearerToken(),
    docs_url=None,
    docs_decorator=login_not_required,
    urls_namespace="api-v1",
)
api.add_router("", scheduler_api.router)
api.add_router("", people_api.router)
api.add_router("", sources_api.router)
api.add_router("", messages_api.router)
api.add_router("", api_alerts.router)


def urls() -> tuple[list[URLResolver | URLPattern], str, str]:
    """`api.urls` with every view exempt from the session login LoginRequiredMiddleware asks for: the API
    authenticates each request by its own bearer token (the NinjaAPI's `auth`, on every operation)."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)  # ninja's URLs are all path()s: no include()
        login_not_required(pattern.callback)
    return patterns, app_name, namespace


def _answer(request: HttpRequest, error: ApiError) -> HttpResponse:
    response = api.create_response(request, error.document(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _answer(request, exc)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    error = ApiError(401, "Authentication required: send Authorization: Bearer <token>.")
    error.headers["WWW-Authenticate"] = 'Bearer realm="vigia"'
    return _answer(request, error)


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _answer(request, too_large())


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return _answer(request, invalid({"body": [f"Not valid JSON: {exc.message}"]}, status=400))
    return _answer(request, ApiError(exc.status_code, str(exc.message)))


@api.exception_handler(NinjaValidationError)
def _schema_errors(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    """ninja's own checks (path and query parameters, typed bodies): an id that is not a number is 404, the
    rest 422 by field."""
    if any(error["loc"][0] == "path" for error in exc.errors):
        return _answer(request, not_found())
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        field, where = _field_of(error["loc"])
        message = _message_of(error)
        message = f"{where}: {message}" if where else message
        if message not in errors.setdefault(field, []):
            errors[field].append(message)
    return _answer(request, invalid(errors))


def _field_of(loc: Sequence[str | int]) -> tuple[str, str]:
    """(the request field, where inside it) for ninja's ("body", "payload", "params", 0) or ("query", "limit")."""
    loc = list(loc)
    if loc and loc[0] == "body":
        loc = loc[2:]  # the source and the view's parameter name
    elif loc and loc[0] == "query":
        loc = loc[1:]
    if not loc:
        return "body", ""
    field, inner = str(loc[0]), loc[1:]
    where = field + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in inner)
    return field, where if inner else ""


def _message_of(error: dict[str, Any]) -> str:
    kind, loc = error.get("type", ""), error["loc"]
    if kind == "missing":
        return "Send a JSON object." if len(loc) <= 2 and loc[0] == "body" else "Required."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "Send a JSON object."
    if kind == "extra_forbidden":
        return "Unknown field."
    if kind == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    message = str(error.get("msg", "Invalid value."))
    return message if message.endswith(".") else message + "."
