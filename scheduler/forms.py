"""JobForm: the one validation of a job, shared by the admin, the import command and (later) the dashboard/API."""

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import BaseValidator, MaxValueValidator, MinValueValidator
from django.db.models import CheckConstraint, Field, Model
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scheduler import job_kinds, schedules, services
from scheduler.models import BACKOFF_CEILING, INTERVAL_CEILING, MAX_ATTEMPTS, Job
from scheduler.shared import bounds, kind_fields
from scheduler.shared.kind_registry import add_nested_errors

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# A change to any of these (or to `enabled`) recomputes next_run_at.
SCHEDULE_FIELDS = [
    "schedule_type",
    "cron",
    "timezone",
    "interval_seconds",
    "run_at",
    "start_at",
    "end_at",
    "max_occurrences",
]
FIELDS = [
    "name",
    "kind",
    "params",
    *SCHEDULE_FIELDS,
    "enabled",
    "queue",
    "timeout_seconds",
    "max_attempts",
    "backoff_base_seconds",
    "backoff_cap_seconds",
    "backoff_jitter",
    "overlap_policy",
    "misfire_policy",
    "misfire_grace_seconds",
    "external_service",
    "external_key",
]


def model_words(model: type[Model], name: str) -> dict[str, Any]:
    """The label and help text of the model's field `name` (translated there), for a form field a form declares
    itself for its own cleaning: a ModelForm gives those its words only when it builds the field."""
    field = cast("Field[Any, Any]", model._meta.get_field(name))
    return {"label": capfirst(field.verbose_name), "help_text": field.help_text}


def clean_zone_name(value: str | None) -> str:
    """A valid IANA zone name, or a field error (shared by every form with a time zone)."""
    name = (value or "").strip()
    try:
        schedules.get_zone(name)
    except schedules.ScheduleError as exc:
        raise ValidationError(str(exc))
    return name


def add_cron_error(form: forms.BaseForm, expression: str | None, field: str = "cron") -> None:
    try:
        schedules.parse_cron(expression)
    except schedules.ScheduleError as exc:
        form.add_error(field, str(exc))


def _between(low: float, high: float | None, message: "StrOrPromise") -> list[BaseValidator]:
    validators: list[BaseValidator] = [MinValueValidator(low, message)]
    return validators + ([MaxValueValidator(high, message)] if high is not None else [])


def _limits() -> dict[str, list[BaseValidator]]:
    """Field validators stating the limits the database's CheckConstraints enforce (models._job_limits)."""
    top = settings.VIGIA_MAX_TIMEOUT  # a setting, so not a model validator (it would churn migrations)
    return {
        "timeout_seconds": _between(1, top, _("Choose between 1 and %(top)s seconds.") % {"top": top}),
        "max_attempts": _between(
            1, MAX_ATTEMPTS, _("Between 1 (no retry) and %(top)s attempts.") % {"top": MAX_ATTEMPTS}
        ),
        "backoff_base_seconds": _between(
            0.1, BACKOFF_CEILING, _("Between 0.1 and %(top)s seconds.") % {"top": BACKOFF_CEILING}
        ),
        "backoff_cap_seconds": _between(
            0.1, BACKOFF_CEILING, _("Between 0.1 and %(top)s seconds.") % {"top": BACKOFF_CEILING}
        ),
        "backoff_jitter": _between(0, 1, gettext_lazy("A fraction between 0 and 1.")),
        "interval_seconds": _between(
            1, INTERVAL_CEILING, _("Between 1 and %(top)s seconds.") % {"top": INTERVAL_CEILING}
        ),
        "max_occurrences": _between(1, None, gettext_lazy("At least 1, or leave empty for no limit.")),
    }


def apply_limits(form: forms.BaseForm) -> None:
    """Attach the job limits to whichever of those fields a form shows (job form, API schemas, imports)."""
    for name, validators in _limits().items():
        field = form.fields.get(name)
        if field is not None:
            field.validators = [*field.validators, *validators]


class JobForm(forms.ModelForm):
    kind = forms.CharField(widget=forms.Select, **model_words(Job, "kind"))
    params = kind_fields.KindSettingsField(
        job_kinds.job_kinds, endpoint="jobs", required=False, **model_words(Job, "params")
    )

    class Meta:
        model = Job
        fields = FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].widget.choices = [("", "---------"), *job_kinds.choices()]
        kind_fields.follow_kind(self, "params")
        apply_limits(self)
        bounds.bound_dates(self)

    def clean_kind(self) -> str:
        return job_kinds.clean_name(self.cleaned_data["kind"])  # its message lists the kinds that exist

    def clean_params(self) -> dict[str, Any]:
        return self.cleaned_data.get("params") or {}

    def clean_timezone(self) -> str:
        return clean_zone_name(self.cleaned_data.get("timezone"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # a ModelForm's clean() returns its cleaned_data
        self._clean_kind_params(data)
        self._clean_schedule(data)
        base, cap = data.get("backoff_base_seconds"), data.get("backoff_cap_seconds")
        if base is not None and cap is not None and cap < base:
            self.add_error("backoff_cap_seconds", _("The cap cannot be shorter than the base delay."))
        service, key = data.get("external_service") or None, data.get("external_key") or None
        if bool(service) != bool(key):
            self.add_error(
                "external_key" if service else "external_service", _("Give both service and key, or neither.")
            )
        data["external_service"], data["external_key"] = service, key
        return data

    def _clean_kind_params(self, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        if not kind or "params" in self.errors:
            return
        try:
            data["params"] = job_kinds.clean_params(kind, data.get("params") or {})
            self._secret_params(kind, data["params"])
        except ValidationError as exc:
            add_nested_errors(self, "params", exc)

    def _secret_params(self, kind: str, params: dict[str, Any]) -> None:
        """Write-only secret params (http_request's headers, bounds.SecretNameValueField): left empty in the page's
        fields, the stored ones are kept (elsewhere, the API's or an import's params are the whole object: left
        out is removed); CLEAR removes them; given, they replace them (a value MASK keeps that name's stored value,
        which Job.save's job_kinds.seal puts back)."""
        before = self.instance.params if self.instance.pk and self.instance.kind == kind else None
        typed = kind_fields.posted_mode(self.data, self.add_prefix("params")) == "fields"
        for key in job_kinds.secret_params(kind):
            value = params.get(key)
            old = before.get(key) if isinstance(before, dict) and isinstance(before.get(key), dict) else None
            if value is None:
                if old and typed:
                    params[key] = dict(old)  # the names, each MASK: the values stay
            elif value == bounds.CLEAR:
                del params[key]
            elif isinstance(value, dict):
                try:
                    bounds.resolve_masked(value, old)
                except ValidationError as exc:
                    raise ValidationError({f"params.{key}": exc.messages}) from None

    def _clean_schedule(self, data: dict[str, Any]) -> None:
        kind = data.get("schedule_type")
        if kind == Job.ScheduleType.CRON:
            add_cron_error(self, data.get("cron"))
        elif kind == Job.ScheduleType.INTERVAL:
            if "interval_seconds" not in self.errors and not data.get("interval_seconds"):
                self.add_error("interval_seconds", _("Give a positive number of seconds."))
        elif kind == Job.ScheduleType.ONCE:
            run_at = data.get("run_at")
            if run_at is None:
                if "run_at" not in self.errors:
                    self.add_error("run_at", _("Give the date and time to run at."))
            elif run_at <= timezone.now() and run_at != self.instance.run_at:  # an unchanged past time is history
                self.add_error("run_at", _("This time is in the past."))
        start, end = data.get("start_at"), data.get("end_at")
        if start and end and end <= start:
            self.add_error("end_at", _("The end must be after the start."))

    def validate_constraints(self) -> None:
        """The unique constraints only. The CheckConstraints' limits are the fields' own validators (apply_limits)
        and clean()'s "cap ≥ base", with the messages people read, and the database enforces them again; Django
        would also check each with a query of its own, seven round trips (and savepoints) per save."""
        exclude = self._get_validation_exclusions()  # type: ignore[attr-defined]  # ModelForm's own, not in the stubs
        errors: dict[str, list[ValidationError]] = {}
        for constraint in Job._meta.constraints:
            if isinstance(constraint, CheckConstraint):
                continue
            try:
                constraint.validate(Job, self.instance, exclude=exclude)
            except ValidationError as exc:
                errors = exc.update_error_dict(errors)
        if errors:
            self._update_errors(ValidationError(errors))  # type: ignore[attr-defined]  # as above

    def save(self, commit: bool = True) -> Job:
        job = super().save(commit=False)
        if job.pk is None or set(SCHEDULE_FIELDS) & set(self.changed_data) or "enabled" in self.changed_data:
            services.refresh_schedule(job)
        if commit:
            job.save()
        return job
