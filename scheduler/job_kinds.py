"""The job-kind registry: the one way in for anything a job can do.

A kind declares its `name`, a `label`, a Django form that validates its parameters (so the admin, the
commands, the import and the API report the same field errors) and `run(params, context)`, which
returns a small JSON-able dict for the run's result or raises a scheduler.errors.JobError.
"""

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms

from scheduler.shared.bounds import SECRET_MASK as MASK
from scheduler.shared.crypto import SecretsUnreadable
from scheduler.shared.kind_registry import Registry

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from scheduler.models import Job


@dataclass
class RunContext:
    run_id: int | None
    job_id: int | None
    job_name: str
    attempt: int
    scheduled_for: datetime
    timeout_seconds: float


def deadline(context: RunContext) -> float:
    """A monotonic instant a kind should finish its work by: a margin inside the run's timeout is left for
    recording the outcome."""
    return time.monotonic() + context.timeout_seconds * 0.9


class JobKind:
    name = ""
    label: "StrOrPromise" = ""
    description: "StrOrPromise" = ""
    # Params holding {name: secret value} (http_request's headers): their values live encrypted in Job.secrets,
    # the params keep {name: MASK} (seal), and a run gets them merged back (unsealed_params).
    secret_params: tuple[str, ...] = ()

    class Params(forms.Form):
        pass

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError


job_kinds: Registry[JobKind] = Registry("job kind", form="Params", field="params", noun="parameter")
register = job_kinds.register  # `@register class Ping(JobKind): name = "ping" ...`
get, find, names, choices = job_kinds.get, job_kinds.find, job_kinds.names, job_kinds.choices
clean_name = job_kinds.clean_name
clean_params = job_kinds.clean  # errors keyed `params.<field>`


# --- secret params ---------------------------------------------------------------------------------


def secret_params(kind: str) -> tuple[str, ...]:
    entry = job_kinds.find(kind)
    return tuple(entry.secret_params) if entry is not None else ()


def seal(job: "Job") -> bool:
    """Move the values of the kind's secret params out of `job.params` into `job.secrets` (encrypted), leaving
    {name: MASK} in the params; a value given as MASK keeps the stored one of that name (a name with nothing
    stored is dropped), a name left out is removed. True when `job.secrets` was set. Called by Job.save."""
    if "params" not in job.__dict__ or not isinstance(job.params, dict):  # deferred, or not an object
        return False
    keys = secret_params(job.kind)
    if not keys and "secrets" not in job.__dict__ and job.pk is not None:
        return False  # nothing to seal, and no secrets loaded to clear (the usual save of another kind)
    try:
        stored = dict(job.secrets or {})
    except SecretsUnreadable:  # a lost key: the stored values cannot be kept, new ones can still be sealed
        stored = {}
    params, found = dict(job.params), {}
    for key in keys:
        value = params.pop(key, None)
        held = stored.get(key)
        old: dict[str, Any] = held if isinstance(held, dict) else {}
        if not isinstance(value, dict):
            continue
        kept = {
            name: old[name] if item == MASK else item for name, item in value.items() if item != MASK or name in old
        }
        if kept:
            found[key], params[key] = kept, {name: MASK for name in kept}
    job.params = params
    if found == stored:
        return False
    job.secrets = found
    return True


def unsealed_params(job: "Job") -> dict[str, Any]:
    """`job.params` with the secret params' values put back (for the run): SecretsUnreadable (a transient
    JobError naming the job) when no key opens them."""
    keys = secret_params(job.kind)
    params = job.params
    if not keys or not isinstance(params, dict) or not any(isinstance(params.get(key), dict) for key in keys):
        return params
    stored, merged = job.secrets or {}, dict(params)
    for key in keys:
        if isinstance(params.get(key), dict):
            held = stored.get(key)
            values: dict[str, Any] = held if isinstance(held, dict) else {}
            merged[key] = {name: values.get(name, item) if item == MASK else item for name, item in params[key].items()}
    return merged
