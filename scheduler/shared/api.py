"""What every API resource shares: the caller and its scopes, errors, JSON bodies checked by the forms, cursors.

Each app declares its endpoints on a ninja Router in its own `api.py` (jobs and runs here in `scheduler.api`,
people and sources in `scrapers`, messages in `channels_app`); `config.api` composes them into one NinjaAPI
with one authentication and one OpenAPI document. The views stay thin: a body is parsed (`body`), checked
against the JSON schema derived from the same Django form the dashboard uses (`validate`, `bind`), and the
form's own field errors are the API's 422 — the API cannot accept what the dashboard refuses, or the reverse.

- Scopes are `<resource>:read` and `<resource>:write`; write implies read. `require()` is the one check: a
  missing scope is 403 naming the scope.
- Errors are `ApiError`: `{"detail": ...}`, with `errors` by field for 400/413/422.
- Cursors are opaque strings (a base64 primary key): lists page newest first (`?cursor=` from `next_cursor`),
  feeds read oldest first after a point (`?since=`, answered with `next_since`).
"""

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import takewhile
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinLengthValidator, MinValueValidator
from django.db.models import Model, QuerySet
from django.forms.models import model_to_dict
from django.http import HttpRequest
from django.utils import timezone, translation
from ninja import Field, Schema

from scheduler.shared import bounds
from scheduler.shared.api_callers import RESOURCES, SCOPES, Caller  # noqa: F401  (re-exported: the API names them too)

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

INVALID = "Invalid request."
NOT_FOUND = "Not found."
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500


class ApiError(Exception):
    """An answer other than success: raised anywhere in a view, turned into JSON by config.api."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Mapping[str, Sequence[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}
        self.errors = {name: [str(m) for m in messages] for name, messages in (errors or {}).items()}

    def document(self) -> dict[str, Any]:
        return (
            {"detail": self.detail, "errors": self.errors}
            if self.errors or self.status in (400, 413, 422)
            else {"detail": self.detail}
        )


def caller(request: HttpRequest) -> Caller:
    found = getattr(request, "auth", None)
    if not isinstance(found, Caller):  # every operation is authenticated; this is a programming error
        raise ApiError(401, "Authentication required: send Authorization: Bearer <token>.")
    return found


def require(request: HttpRequest, resource: str, write: bool = False) -> Caller:
    """The caller, when it holds the scope; else 403 naming the scope it lacks."""
    who = caller(request)
    if not who.allows(resource, write):
        scope = f"{resource}:{'write' if write else 'read'}"
        raise ApiError(403, f"This token lacks the scope {scope}.")
    return who


def not_found() -> ApiError:
    return ApiError(404, NOT_FOUND)


def invalid(errors: Mapping[str, Sequence[str]], status: int = 422) -> ApiError:
    return ApiError(status, INVALID, errors)


def too_large() -> ApiError:
    return invalid({"body": [f"Too large: send at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KiB."]}, 413)


# --- Bodies ----------------------------------------------------------------------------------------------
def body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; 400 for anything else, 413 beyond DATA_UPLOAD_MAX_MEMORY_SIZE."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_large() from None
    if not raw.strip():
        return {}
    try:
        with translation.override("en"):
            value = bounds.load_json(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, NaN, NUL…
        raise invalid({"body": [f"Not valid JSON: {exc}."]}, status=400) from None
    if not isinstance(value, dict):
        raise invalid({"body": ["Send a JSON object."]}, status=400)
    return value


def validate(schema: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """422 with every place where `data` breaks `schema` (the one the OpenAPI document shows)."""
    errors: dict[str, list[str]] = {}
    for error in _validator(schema).iter_errors(data):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "additionalProperties":
            extra = (
                set(error.instance) - set(error.schema.get("properties", {}))
                if isinstance(error.instance, dict)
                else set()
            )
            for name in sorted(extra):
                errors.setdefault(".".join([*path, name]), []).append("Unknown field.")
            continue
        if error.validator == "required":
            missing = str(error.message).split("'")[1] if "'" in error.message else ""
            errors.setdefault(".".join([*path, missing]) if missing else ".".join(path) or "body", []).append(
                "Required."
            )
            continue
        name = ".".join(path) or "body"
        message = _message(error)
        if message not in errors.setdefault(name, []):
            errors[name].append(message)
    if errors:
        raise invalid(errors)


_validators: dict[int, tuple[Mapping[str, Any], "Draft202012Validator"]] = {}


def _validator(schema: Mapping[str, Any]) -> "Draft202012Validator":
    from jsonschema import Draft202012Validator  # on the first body checked: 3 MB a web process need not hold idle

    # Schemas are module constants built once: keep one compiled validator each (the schema kept alive with it,
    # so its id is never reused).
    found = _validators.get(id(schema))
    if found is None:
        found = _validators[id(schema)] = (schema, Draft202012Validator(schema))
    return found[1]


def _message(error: Any) -> str:
    kind = error.validator
    if kind == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return f"Expected {wanted}."
    if kind == "enum":
        return "Choose one of: " + ", ".join(map(str, error.validator_value)) + "."
    if kind == "maxLength":
        return f"At most {error.validator_value} characters."
    if kind == "minLength":
        return "Required." if error.validator_value == 1 else f"At least {error.validator_value} characters."
    if kind in ("minimum", "maximum"):
        return f"{'At least' if kind == 'minimum' else 'At most'} {error.validator_value}."
    if kind in ("oneOf", "anyOf"):
        return "Does not match any allowed form."
    message = str(error.message)
    return message if message.endswith(".") else message + "."


def form_errors(form: forms.BaseForm) -> ApiError:
    return invalid({name: [str(m) for m in messages] for name, messages in form.errors.items()})


def bind[F: forms.BaseForm](
    form_class: Callable[..., F], data: Mapping[str, Any], instance: Model | None = None, **kwargs: Any
) -> F:
    """The form bound to `data` over the instance's current values (a PATCH changes only what it names; a
    create starts from the model's defaults), validated; 422 with its field errors when it refuses."""
    if isinstance(form_class, type) and issubclass(form_class, forms.ModelForm):
        kwargs["instance"] = instance
    if getattr(form_class, "initial_is_the_instance", False) and isinstance(form_class, type):
        # The form's initial values are its fields' and the instance's, nothing its __init__ computes: read them
        # without building a form (a millisecond each, on every API write).
        model = form_class._meta.model  # type: ignore[attr-defined]  # a ModelForm's, as the flag says
        fields = form_class.base_fields  # type: ignore[attr-defined]
        current = {
            name: field.initial() if callable(field.initial) else field.initial for name, field in fields.items()
        }
        current.update(model_to_dict(instance if instance is not None else model(), fields=list(fields)))
    else:
        blank = form_class(**kwargs)
        current = {name: blank[name].value() for name in blank.fields}
    with translation.override("en"):
        form = form_class(data={**current, **data}, **kwargs)
        if not form.is_valid():
            raise form_errors(form)
    return form


# --- JSON schemas derived from forms ------------------------------------------------------------------
def schema_of(
    form: type[forms.BaseForm] | forms.BaseForm,
    *,
    only: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    required: Iterable[str] | None = None,
    partial: bool = False,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A JSON schema (2020-12, as OpenAPI 3.1 uses) for a JSON object the form accepts: one property per field,
    typed from the field's class and bounded by its validators. `partial` (PATCH) requires nothing."""
    with translation.override("en"):
        instance = form() if isinstance(form, type) else form
        names = [n for n in (only or instance.fields) if n in instance.fields and n not in set(exclude)]
        properties: dict[str, Any] = {name: field_schema(instance.fields[name]) for name in names}
        properties.update({name: dict(value) for name, value in (extra or {}).items()})
        needed = list(required) if required is not None else [n for n in names if instance.fields[n].required]
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if needed and not partial:
        schema["required"] = needed
    return schema


def field_schema(field: forms.Field) -> dict[str, Any]:
    schema = dict(getattr(field, "json_schema", None) or _typed(field))
    if field.label:
        schema.setdefault("title", str(field.label))
    if field.help_text:
        schema.setdefault("description", str(field.help_text))
    if not field.required and "type" in schema and not isinstance(field, forms.BooleanField):
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*kinds, "null"] if "null" not in kinds else kinds
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def _bounds(field: forms.Field) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for validator in field.validators:
        limit = getattr(validator, "limit_value", None)
        if limit is None or callable(limit) or isinstance(limit, Decimal | datetime | date):
            continue
        if isinstance(validator, MinValueValidator):
            found["minimum"] = max(found.get("minimum", limit), limit)
        elif isinstance(validator, MaxValueValidator):
            found["maximum"] = min(found.get("maximum", limit), limit)
        elif isinstance(validator, MaxLengthValidator):
            found["maxLength"] = min(found.get("maxLength", limit), limit)
        elif isinstance(validator, MinLengthValidator):
            found["minLength"] = max(found.get("minLength", limit), limit)
    return found


def _typed(field: forms.Field) -> dict[str, Any]:
    if isinstance(field, forms.ModelMultipleChoiceField):
        return {"type": "array", "items": {"type": "integer", "minimum": 1}}
    if isinstance(field, forms.ModelChoiceField):
        return {"type": "integer", "minimum": 1}
    if isinstance(field, forms.MultipleChoiceField):
        return {"type": "array", "items": {"enum": [str(v) for v, _ in _flat(field.choices) if v != ""]}}
    if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.NullBooleanField):
        values = [v for v, _ in _flat(field.choices) if v not in ("", None)]
        if values and all(type(v) is int for v in values):
            return {"type": "integer", "enum": values}
        return {"type": "string", "enum": [str(v) for v in values]} if values else {"type": "string"}
    if isinstance(field, forms.NullBooleanField):
        return {"type": ["boolean", "null"]}
    if isinstance(field, forms.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, forms.FloatField | forms.DecimalField):  # before IntegerField: FloatField subclasses it
        return {"type": "number", **_bounds(field)}
    if isinstance(field, forms.IntegerField):
        return {"type": "integer", **_bounds(field)}
    if isinstance(field, forms.DateTimeField):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, forms.DateField):
        return {"type": "string", "format": "date"}
    if isinstance(field, forms.JSONField):
        return {}
    if isinstance(field, forms.CharField):
        found = {"type": "string", **_bounds(field)}
        if field.required:
            found["minLength"] = max(found.get("minLength", 1), 1)
        return found
    return {}


def _flat(choices: Any) -> list[tuple[Any, Any]]:
    flat: list[tuple[Any, Any]] = []
    for value, label in choices:
        if isinstance(label, list | tuple):
            flat.extend(label)
        else:
            flat.append((value, label))
    return flat


def request_body(schema: Mapping[str, Any], description: str = "") -> dict[str, Any]:
    """An operation's `openapi_extra` documenting its JSON body (the views read it with body() themselves)."""
    content = {"application/json": {"schema": dict(schema)}}
    return {
        "requestBody": {"required": True, "content": content, **({"description": description} if description else {})}
    }


# --- Cursors ------------------------------------------------------------------------------------------
class ErrorOut(Schema):
    detail: str


class InvalidOut(Schema):
    detail: str = Field(examples=[INVALID])
    errors: dict[str, list[str]] = Field(description="Messages by request field.")


# The error answers operations document, by what they read: every operation can be refused (401/403/429); one
# naming an object can be 404; one reading a body can be 400/413/422; a list's filters and cursor can be 422.
AUTH_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 429: ErrorOut}
BODY_ERRORS: dict[int, type[Schema]] = {400: InvalidOut, 413: InvalidOut, 422: InvalidOut}
READ_ERRORS: dict[int, type[Schema]] = {**AUTH_ERRORS, 404: ErrorOut}
LIST_ERRORS: dict[int, type[Schema]] = {**AUTH_ERRORS, 422: InvalidOut}
WRITE_ERRORS: dict[int, type[Schema]] = {**AUTH_ERRORS, **BODY_ERRORS}


def encode(pk: int) -> str:
    return base64.urlsafe_b64encode(str(pk).encode()).decode().rstrip("=")


def decode(cursor: str | None, name: str = "cursor") -> int | None:
    """The primary key a cursor holds; 422 on `name` for a cursor this API did not give."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    pk = bounds.parse_id(text) if text.isdigit() else None
    if pk is None:
        raise invalid({name: ["Not a cursor this API gave: use next_cursor/next_since from an answer."]})
    return pk


def page_size(limit: int | None) -> int:
    if limit is None:
        return PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise invalid({"limit": [f"Between 1 and {MAX_PAGE_SIZE}."]})
    return limit


def newest_first[M: Model](queryset: QuerySet[M], cursor: str | None, limit: int | None) -> tuple[list[M], str | None]:
    """One page of a list, newest first; (rows, the cursor of the next page or None)."""
    size, before = page_size(limit), decode(cursor)
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    rows = list(queryset.order_by("-pk")[: size + 1])
    return rows[:size], encode(rows[size - 1].pk) if len(rows) > size else None


def oldest_after[M: Model](
    queryset: QuerySet[M], since: str | None, limit: int | None, settled_by: str | None = None
) -> tuple[list[M], str]:
    """A feed: rows after `since`, oldest first, and the cursor to ask with next (the same one when nothing
    is new, so a poller keeps its place).

    `settled_by` names the row's time of writing: only the prefix of rows at least VIGIA_API_FEED_SETTLE old is
    served. A younger row may have been written alongside lower ids whose transactions are still committing,
    so it and every row after it wait (filtering the young rows out instead would let the cursor step over a
    late one for good)."""
    size, after = page_size(limit), decode(since, "since")
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    rows = list(queryset.order_by("pk")[:size])
    if settled_by is not None:
        cutoff = timezone.now() - timedelta(seconds=settings.VIGIA_API_FEED_SETTLE)
        rows = list(takewhile(lambda row: getattr(row, settled_by) <= cutoff, rows))
    last = rows[-1].pk if rows else after
    return rows, encode(last) if last is not None else ""


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def cast_caller(value: object) -> Caller:
    return cast(Caller, value)
