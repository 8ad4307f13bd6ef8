"""Reading and checking the jobs API's requests: ApiJobForm, the body schemas (one variant per job kind), the
body in the form's names, and writing a job from it."""

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.dateparse import parse_datetime

from scheduler import job_kinds, owners, services
from scheduler.api.documents import MASK
from scheduler.forms import FIELDS, SCHEDULE_FIELDS, JobForm
from scheduler.models import Job
from scheduler.shared import bounds, outbound
from scheduler.shared.api import ApiError, Caller, bind, field_schema, invalid, schema_of, validate

# The API's names for the form's fields (the rest are the same).
API_NAMES = {"external_service": "service", "external_key": "key"}
FORM_NAMES = {api: form for form, api in API_NAMES.items()}
DATETIMES = ("run_at", "start_at", "end_at")
OTHER_CALLER = "This service and key name a job declared by another caller (or on the dashboard)."


class ApiJobForm(JobForm):
    """JobForm as the API uses it: with the callback URL (http(s), public hosts only, as messages'), and
    refusing kinds only an owner makes (check_source), as the dashboard's editor does."""

    initial_is_the_instance = True  # its __init__ sets no initial values: bind() may read them off the job

    class Meta(JobForm.Meta):
        fields = [*FIELDS, "callback_url"]

    def clean_kind(self) -> str:
        return owners.clean_kind(super().clean_kind(), self.instance)

    def clean_callback_url(self) -> str:
        value = (self.cleaned_data.get("callback_url") or "").strip()
        if not value:
            return ""
        sent = str(self.data.get("callback_url") or "").strip().lower()
        if not sent.startswith(("http://", "https://")):  # URLField would have made "example.org" http://…
            raise ValidationError("Use an http:// or https:// address.")
        outbound.validate_url(value)  # loopback, private… (names are resolved when the callback is made)
        return value


# --- Body schemas, one variant per job kind ------------------------------------------------------------
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength")
CREATE_DOC: dict[str, Any] = {}  # filled in place (see schemas()): the operations' openapi_extra hold them
PUT_DOC: dict[str, Any] = {}
PATCH_DOC: dict[str, Any] = {}


@dataclass(frozen=True)
class Schemas:
    names: tuple[str, ...]
    checks: dict[tuple[str, str], dict[str, Any]]  # (mode, kind) → the schema a body is checked against
    generic: dict[str, dict[str, Any]]  # mode → for a body whose kind is missing or unknown (the form says)
    settings: dict[str, frozenset[str]]  # kind → its params' names


_current: Schemas | None = None


def schemas() -> Schemas:
    """The body schemas for the kinds registered now (rebuilt, and the documented ones updated in place, when
    a kind is registered later: test kinds, VIGIA_EXTRA_JOB_KINDS)."""
    global _current
    names = tuple(job_kinds.names())
    if _current is None or _current.names != names:
        _current = _build(names)
    return _current


def _build(names: tuple[str, ...]) -> Schemas:
    with translation.override("en"):
        form = ApiJobForm()
        common = schema_of(form, exclude=("kind", "params", *API_NAMES), required=())["properties"]
        common["name"] = {
            **common["name"],
            "description": "Unique among all jobs. Default: “<service>/<key>”.",
        }
        common["callback_url"] = {
            **common["callback_url"],
            "description": "Told each run's final status by a signed POST (http:// or https://, a public host).",
        }
        for name in DATETIMES:
            said = common[name].get("description", "")
            common[name] = {**common[name], "description": f"{said} ISO 8601 with a UTC offset (…Z or -03:00).".strip()}
        identity = {
            "service": {
                **field_schema(form.fields["external_service"]),
                "description": "The calling service (stored as the job's external service). With `key`, the job's "
                "identity: declaring a (service, key) again answers the job declared first.",
            },
            "key": {
                **field_schema(form.fields["external_key"]),
                "description": "Unique within `service` (stored as the job's external key).",
            },
        }
        params = {name: schema_of(job_kinds.get(name).Params) for name in names}
        labels = {name: job_kinds.get(name) for name in names}

    def variant(name: str, mode: str) -> dict[str, Any]:
        kind = labels[name]
        properties = {
            **common,
            **(identity if mode == "create" else {}),
            "kind": {"const": name, "title": str(kind.label or name), "description": str(kind.description or "")},
            "params": {**params[name], "title": "Parameters", "description": f"The parameters of {name} jobs."},
        }
        required = [] if mode == "patch" else ["kind", *(["params"] if params[name].get("required") else [])]
        schema: dict[str, Any] = {"type": "object", "title": name, "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def generic(mode: str) -> dict[str, Any]:
        properties = {
            **common,
            **(identity if mode == "create" else {}),
            "kind": {"type": "string"},
            "params": {"type": "object"},
        }
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if mode != "patch":
            schema["required"] = ["kind"]
        return schema

    documented: dict[str, dict[str, Any]] = {
        mode: {"oneOf": [variant(name, mode) for name in names]} for mode in ("create", "put")
    }
    patch_properties = {
        **{name: dict(value) for name, value in common.items()},
        "kind": {"type": "string", "enum": list(names), "description": "Changing it needs the new kind's params."},
        "params": {
            "anyOf": [params[name] for name in names],
            "description": "Replaces the parameters wholly, checked against the kind's (the new one, if given).",
        },
    }
    documented["patch"] = {"type": "object", "properties": patch_properties, "additionalProperties": False}
    for target, mode in ((CREATE_DOC, "create"), (PUT_DOC, "put"), (PATCH_DOC, "patch")):
        target.clear()
        target.update(documented[mode])
    return Schemas(
        names=names,
        checks={(mode, name): _unbounded(variant(name, mode)) for mode in ("create", "put", "patch") for name in names},
        generic={mode: _unbounded(generic(mode)) for mode in ("create", "put", "patch")},
        settings={name: frozenset(params[name]["properties"]) for name in names},
    )


def _unbounded(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema without ranges and lengths: the forms check those, with the dashboard's messages."""
    found = {key: value for key, value in schema.items() if key not in BOUNDS}
    if isinstance(schema.get("properties"), dict):
        found["properties"] = {name: _unbounded(inner) for name, inner in schema["properties"].items()}
    for key in ("items",):
        if isinstance(schema.get(key), dict):
            found[key] = _unbounded(schema[key])
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            found[key] = [_unbounded(inner) for inner in schema[key]]
    return found


schemas()  # the URLs (and so this module) load after the apps registered their kinds


def check(data: Mapping[str, Any], mode: str, kind: object) -> Schemas:
    found = schemas()
    schema = found.checks.get((mode, kind)) if isinstance(kind, str) else None
    validate(schema or found.generic[mode], data)
    return found


# --- Reading and checking requests --------------------------------------------------------------------------
def identity(service: object, key: object) -> tuple[str | None, str | None]:
    """(service, key) stripped, None when absent or empty."""
    clean = [value.strip() or None if isinstance(value, str) else None for value in (service, key)]
    return clean[0], clean[1]


def path_identity(service: str, key: str) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    values = {}
    for name, value, limit in (("service", service, 100), ("key", key, 200)):
        value = value.strip()
        with translation.override("en"):
            problem = bounds.json_problem(value)
        if problem:
            errors[name] = [problem]
        elif not value:
            errors[name] = ["Required."]
        elif len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        values[name] = value
    if errors:
        raise invalid(errors)
    return values["service"], values["key"]


def form_data(data: Mapping[str, Any], job: Job | None) -> dict[str, Any]:
    """The body in the form's names; datetimes with their offset (to the second); masked headers restored."""
    found: dict[str, Any] = {FORM_NAMES.get(name, name): value for name, value in data.items()}
    errors: dict[str, list[str]] = {}
    for name in DATETIMES:
        value = found.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            moment = None  # the form says "Enter a valid date/time."
        if moment is not None and moment.tzinfo is None:
            errors[name] = ["Give the UTC offset: 2026-08-15T01:00:00-03:00 or 2026-08-15T04:00:00Z."]
        elif moment is not None:
            found[name] = moment.replace(microsecond=0).isoformat()
    params = found.get("params")
    if isinstance(params, dict) and isinstance(params.get("headers"), dict):
        stored = job_kinds.unsealed_params(job) if job is not None else None  # the values, from Job.secrets
        old = stored.get("headers") if isinstance(stored, dict) else None
        old = old if isinstance(old, dict) else {}
        headers = dict(params["headers"])
        for name, value in headers.items():
            if value == MASK:
                if name in old:
                    headers[name] = old[name]
                else:
                    errors.setdefault("params.headers", []).append(f"{name}: give the value (******** keeps a value).")
        found["params"] = {**params, "headers": headers}
    if errors:
        raise invalid(errors)
    return found


def bound(data: Mapping[str, Any], kind: str, known: Schemas, job: Job | None = None) -> ApiJobForm:
    """ApiJobForm bound over the job's current values (a new job's defaults); its errors in the API's names."""
    try:
        return bind(ApiJobForm, data, instance=job)
    except ApiError as exc:
        raise _renamed(exc, known.settings.get(kind, frozenset())) from None


def _renamed(error: ApiError, settings: frozenset[str]) -> ApiError:
    errors: dict[str, list[str]] = {}
    for name, messages in error.errors.items():
        for message in messages:
            field = "body" if name == "__all__" else API_NAMES.get(name, name)
            if name == "params":
                setting, colon, rest = message.partition(": ")
                if colon and setting in settings:
                    field, message = f"params.{setting}", rest
            errors.setdefault(field, []).append(message)
    return ApiError(error.status, error.detail, errors)


def pair(service: str, key: str) -> Job | None:
    return Job.objects.filter(external_service=service, external_key=key).first()


def claimed(job: Job, who: Caller) -> Job:
    if job.api_caller != who.key:
        raise ApiError(409, OTHER_CALLER)
    return job


def insert(form: ApiJobForm, who: Caller, digest: str | None = None) -> Job:
    """The new job, saved; IntegrityError when a concurrent request took its (service, key) or name first.
    `digest`: the declaring PUT body's (declared_digest)."""
    job = form.save(commit=False)
    job.api_caller = who.key
    if digest is not None:
        job.api_digest = declaration(job, digest)
    with transaction.atomic():
        job.save()
    return job


def declared_digest(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def as_declared(job: Job, who: Caller, digest: str) -> bool:
    """Is this PUT the caller's last declaration of the job again, with the job still as that declaration left it
    (no edit elsewhere, no pause since)? Then it would change nothing: it is answered without a form or a write."""
    return job.api_caller == who.key and job.api_digest == declaration(job, digest)


def declaration(job: Job, digest: str) -> str:
    """`<the body's digest>:<the digest of what the job now declares>` (Job.api_digest)."""
    names = [*ApiJobForm.Meta.fields, "enabled"]
    # The params with their secret values in place, whether the job is saved (sealed) yet or not.
    values = [job_kinds.unsealed_params(job) if name == "params" else getattr(job, name) for name in names]
    state = json.dumps(values, sort_keys=True, default=str)
    return f"{digest[:32]}:{hashlib.sha256(state.encode()).hexdigest()[:32]}"


@cache
def _defaults() -> dict[str, Any]:
    """What a PUT leaves out goes back to: a new job's values as the form shows them (built once: a form costs
    a millisecond)."""
    defaults = ApiJobForm()
    return {name: defaults[name].value() for name in defaults.fields if name not in ("enabled", *API_NAMES)}


def name_taken() -> ApiError:
    return invalid({"name": ["Job with this Name already exists."]})


def update(job: Job, data: Mapping[str, Any], known: Schemas, replace: bool = False, digest: str | None = None) -> Job:
    """Apply a PATCH (only what it names) or a PUT (what it leaves out goes back to the defaults, but for
    `enabled`, which only changes when named). Pause and resume go through services; the schedule is recomputed
    only when a schedule field changed (JobForm.save's rule), and nothing is written when nothing changed."""
    values = dict(data)
    enabled = values.pop("enabled", None)
    kind = str(values.get("kind") or job.kind)
    submitted = form_data(values, job)
    if replace:
        fresh = copy.deepcopy(_defaults())
        fresh["name"] = f"{job.external_service}/{job.external_key}"[:200]
        submitted = {**fresh, **submitted}
    names = [name for name in ApiJobForm.Meta.fields if name != "enabled"]
    before = {name: getattr(job, name) for name in names}
    before["params"] = job_kinds.unsealed_params(job)  # as the form will give them: the secret values in place
    form = bound(submitted, kind, known, job)  # the form wrote its cleaned values on `job`
    changed = {name for name in names if getattr(job, name) != before[name]}
    owner = owners.of(job)
    managed = sorted(changed & set(owner.fields)) if owner is not None else []
    if owner is not None and managed:
        with translation.override("en"):
            label = str(owner.label)
        fields = ", ".join(API_NAMES.get(name, name) for name in managed)
        raise ApiError(409, f"{fields}: this job belongs to {label}, which manages these fields: edit them there.")
    job = form.instance
    toggled = enabled is not None and bool(enabled) != job.enabled
    remembered = declaration(job, digest) if digest is not None and not toggled else job.api_digest
    if changed:
        written = changed | {"updated_at", "api_digest"}
        job.api_digest = remembered
        if changed & set(SCHEDULE_FIELDS):
            services.refresh_schedule(job)
            written |= {"occurrences", "next_run_at", "completed_at"}
        job.save(update_fields=sorted(written))
    elif remembered != job.api_digest:
        Job.objects.filter(pk=job.pk).update(api_digest=remembered)
    if toggled:  # the next identical PUT finds the job paused or resumed as it says, and is remembered then
        (services.resume if enabled else services.pause)([job])
        job.refresh_from_db()  # as pause/resume left it (they write the row themselves)
    return job
