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

from scheduler.shared.kind_registry import Registry

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


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

    class Params(forms.Form):
        pass

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError


job_kinds: Registry[JobKind] = Registry("job kind", form="Params", field="params", noun="parameter")
register = job_kinds.register  # `@register class Ping(JobKind): name = "ping" ...`
get, find, names, choices = job_kinds.get, job_kinds.find, job_kinds.names, job_kinds.choices
clean_name = job_kinds.clean_name
clean_params = job_kinds.clean  # errors keyed `params.<field>`
