"""The job-kind registry: the one way in for anything a job can do.

A kind declares its `name`, a `label`, a Django form that validates its parameters (so the admin, the
commands, the import and the API report the same field errors) and `run(params, context)`, which
returns a small JSON-able dict for the run's result or raises a scheduler.errors.JobError.
"""

from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError


@dataclass
class RunContext:
    run_id: int | None
    job_id: int | None
    job_name: str
    attempt: int
    scheduled_for: datetime
    timeout_seconds: float


class JobKind:
    name = ""
    label = ""
    description = ""

    class Params(forms.Form):
        pass

    def run(self, params, context):  # pragma: no cover - interface
        raise NotImplementedError


_kinds: dict[str, JobKind] = {}


def register(cls):
    """Class decorator: `@register class Ping(JobKind): name = "ping" ...`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name")
    if cls.name in _kinds and type(_kinds[cls.name]) is not cls:
        raise ValueError(f"job kind {cls.name!r} is already registered by {type(_kinds[cls.name]).__name__}")
    _kinds[cls.name] = cls()
    return cls


def get(name):
    try:
        return _kinds[name]
    except KeyError:
        raise KeyError(f"unknown job kind {name!r}") from None


def choices():
    return sorted((name, kind.label or name) for name, kind in _kinds.items())


def names():
    return sorted(_kinds)


def clean_params(kind_name, params):
    """Validate `params` for a kind; return the cleaned dict or raise ValidationError.

    Errors are keyed `params.<field>` so every entry point can show them next to the field.
    """
    if kind_name not in _kinds:
        raise ValidationError({"kind": f"Unknown kind '{kind_name}'. Choose one of: {', '.join(names())}."})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"params": "Parameters must be a JSON object."})
    form = _kinds[kind_name].Params(data=params)
    if not form.is_valid():
        errors = {}
        for field, messages in form.errors.items():
            key = "params" if field == "__all__" else f"params.{field}"
            errors.setdefault(key, []).extend(messages)
        raise ValidationError(errors)
    unknown = sorted(set(params) - set(form.fields))
    if unknown:
        raise ValidationError({"params": f"Unknown parameter(s): {', '.join(unknown)}."})
    return {key: value for key, value in form.cleaned_data.items() if value not in (None, "", [], {})}
