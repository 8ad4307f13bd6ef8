"""SourceForm (the one validation of a source) and keeping each source's check_source job in step."""

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scheduler import outbound, services
from scheduler.forms import add_cron_error, clean_zone_name
from scheduler.models import Job, Run
from scheduler.registries import add_nested_errors
from scrapers.kinds import base as kinds
from scrapers.models import Source

FIELDS = [
    "name",
    "kind",
    "url",
    "config",
    "method",
    "headers",
    "timeout_seconds",
    "user_agent",
    "interval_seconds",
    "cron",
    "timezone",
    "active_from",
    "active_until",
    "enabled",
    "announce_first_check",
]


class SourceForm(forms.ModelForm):
    kind = forms.CharField(widget=forms.Select)
    config = forms.JSONField(required=False, help_text=gettext_lazy("JSON object; the settings depend on the kind."))
    headers = forms.JSONField(
        required=False, help_text=gettext_lazy('JSON object of header names to values, e.g. {"Cookie": "…"}.')
    )

    class Meta:
        model = Source
        fields = FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].widget.choices = [("", "---------"), *kinds.choices()]

    def clean_kind(self):
        kind = self.cleaned_data.get("kind")
        if kind not in kinds.names():
            raise ValidationError(
                _("Unknown kind '%(kind)s'. Choose one of: %(kinds)s."),
                params={"kind": kind, "kinds": ", ".join(kinds.names())},
            )
        return kind

    def clean_url(self):
        url = self.cleaned_data.get("url") or ""
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError(_("Use an http:// or https:// address."))
        outbound.validate_url(url)  # loopback, private... unless allowed (names are resolved at each check)
        return url

    def clean_headers(self):
        headers = self.cleaned_data.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and "\n" not in v for k, v in headers.items()
        ):
            raise ValidationError(_("A JSON object of header names to text values."))
        return headers

    def clean_timeout_seconds(self):
        value = self.cleaned_data.get("timeout_seconds")
        if value is not None and not 0.5 <= value <= 120:
            raise ValidationError(_("Between 0.5 and 120 seconds."))
        return value

    def clean_timezone(self):
        return clean_zone_name(self.cleaned_data.get("timezone"))

    def clean(self):
        data = super().clean()
        if data.get("kind") and "config" not in self.errors:
            try:
                data["config"] = kinds.clean_config(data["kind"], data.get("config") or {})
            except ValidationError as exc:
                add_nested_errors(self, "config", exc)
        cron = (data.get("cron") or "").strip()
        if cron:
            add_cron_error(self, cron)
        elif not data.get("interval_seconds") or data["interval_seconds"] < 1:
            self.add_error("interval_seconds", _("Give a positive interval in seconds, or a cron expression."))
        start, end = data.get("active_from"), data.get("active_until")
        if start and end and end <= start:
            self.add_error("active_until", _("The end must be after the start."))
        return data

    @transaction.atomic
    def save(self, commit=True):
        source = super().save(commit=False)
        if commit:
            # An edit writes only what the form shows: a check finishing meanwhile keeps its health
            # and conditional-request state.
            columns = {field.name for field in Source._meta.concrete_fields}
            shown = [name for name in self.fields if name in columns]
            source.save(update_fields=[*shown, "updated_at"] if source.pk else None)
            sync_job(source)
        return source


def force_sync():
    """One manual run of every enabled source's check now (the overview's button); sources with a run
    already waiting are skipped. Returns the count."""
    enabled = Source.objects.filter(enabled=True).select_related("job").order_by("pk")
    return services.run_many([job_of(source) for source in enabled], trigger=Run.Trigger.MANUAL)


def job_of(source):
    """The source's check_source job (created for a source saved before it had one)."""
    return source.job or sync_job(source)


def sync_job(source):
    """Create or update the source's check_source job so its schedule and window follow the source."""
    job = source.job or Job(kind="check_source", queue=Job.Queue.HIGH, max_attempts=1)
    job.name = f"Source #{source.pk}: {source.name}"[:200]
    job.params = {"source_id": source.pk}
    if source.cron:
        job.schedule_type, job.cron, job.interval_seconds = Job.ScheduleType.CRON, source.cron, None
    else:
        job.schedule_type, job.cron, job.interval_seconds = Job.ScheduleType.INTERVAL, "", source.interval_seconds
    job.timezone = source.timezone
    job.start_at, job.end_at, job.enabled = source.active_from, source.active_until, source.enabled
    # Room for the fetch's own retries and a rate-limit wait; the next poll is the real retry.
    job.timeout_seconds = int(source.timeout_seconds * 4 + 30)
    services.refresh_schedule(job)
    job.save()
    if source.job_id != job.pk:
        source.job = job
        Source.objects.filter(pk=source.pk).update(job=job)
    return job


@receiver(post_delete, sender=Source)
def _delete_job(sender, instance, **kwargs):
    if instance.job_id:
        Job.objects.filter(pk=instance.job_id).delete()
