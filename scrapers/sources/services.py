"""SourceForm (the one validation of a source) and the source's one schedule: its check_source job.

The source owns its job (Job.owner "source:<id>", registered with scheduler.owners): the job's schedule is
edited on the source only and follows it; the job is deleted with the source and never alone (Source.job
is PROTECT, and the Jobs pages and admin refuse). Pausing is one path, scheduler.services.pause / resume,
whether it starts on the source, its admin or the Jobs pages: the jobs_paused / jobs_resumed signals keep
Source.enabled equal to Job.enabled in the same transaction.
"""

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scheduler import owners, services, signals
from scheduler.forms import add_cron_error, clean_zone_name
from scheduler.models import Job, Run
from scheduler.shared import audit, bounds, crypto, kind_fields, outbound
from scheduler.shared.kind_registry import add_nested_errors
from scrapers.models import Source
from scrapers.sources.kinds import base as kinds

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
    # Declared here, so the model's words are not used: without a label Django shows the field's name, in English.
    kind = forms.CharField(widget=forms.Select, label=gettext_lazy("Kind"))
    config = kind_fields.KindSettingsField(
        kinds.scraper_kinds,
        endpoint="sources",
        required=False,
        label=gettext_lazy("Settings of the kind"),
        help_text=gettext_lazy("JSON object; the settings depend on the kind."),
    )
    headers = bounds.SecretNameValueField(
        required=False,
        label=gettext_lazy("Headers"),
        help_text=gettext_lazy(
            'One "Name: value" per line (or a JSON object), e.g. Cookie: session=…. Write-only: the values are '
            "never shown again. Leave it empty to keep the stored headers; lines typed here replace them all "
            "(a value ******** keeps that header's stored value); type - alone to remove them all."
        ),
    )

    class Meta:
        model = Source
        fields = FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        instance = kwargs.get("instance")
        self.headers_unreadable = False  # stored headers no configured key opens: they must be typed again
        if instance is not None and instance.pk:
            try:
                instance.headers  # noqa: B018  (decrypted now, so a lost key is a field error, not a 500)
            except crypto.SecretsUnreadable:
                self.headers_unreadable, instance.headers = True, {}
        super().__init__(*args, **kwargs)
        cast(forms.Select, self.fields["kind"].widget).choices = [("", "---------"), *kinds.choices()]
        kind_fields.follow_kind(self, "config")
        bounds.bound_dates(self)

    def clean_kind(self) -> str:
        return kinds.clean_name(self.cleaned_data["kind"])  # its message lists the kinds that exist

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url") or ""
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError(_("Use an http:// or https:// address."))
        outbound.validate_url(url)  # loopback, private... unless allowed (names are resolved at each check)
        return url

    def clean_headers(self) -> dict[str, Any]:
        """Write-only (bounds.SecretNameValueField): empty keeps the stored headers, `-` removes them, lines
        replace them."""
        headers = self.cleaned_data.get("headers")
        stored = self.instance.headers if self.instance.pk else {}
        if headers is None:
            if self.headers_unreadable:
                raise ValidationError(
                    _(
                        "The stored headers cannot be decrypted (is a key missing from VIGIA_ENCRYPTION_KEYS?): "
                        "type them again, or - to remove them."
                    )
                )
            return dict(stored or {})
        if headers == bounds.CLEAR:
            return {}
        if problem := bounds.header_problem(headers):
            raise ValidationError(problem)
        return bounds.resolve_masked(headers, stored)

    def clean_timeout_seconds(self) -> float | None:
        value = self.cleaned_data.get("timeout_seconds")
        if value is not None and not 0.5 <= value <= 120:
            raise ValidationError(_("Between 0.5 and 120 seconds."))
        return value

    def clean_timezone(self) -> str:
        return clean_zone_name(self.cleaned_data.get("timezone"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # a ModelForm's clean returns its cleaned_data
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
    def save(self, commit: bool = True) -> Source:
        source = super().save(commit=False)
        if commit:
            # An edit writes only what the form shows: a check finishing meanwhile keeps its health
            # and conditional-request state.
            columns = {field.name for field in Source._meta.concrete_fields}
            shown = [name for name in self.fields if name in columns]
            new = source.pk is None
            source.save(update_fields=None if new else [*shown, "updated_at"])
            # The pause state changes only when the operator changed it here; otherwise the source follows
            # its job, so a pause made on the Jobs pages (or by the scheduler) survives this save.
            toggled = new or ("enabled" in self.fields and "enabled" in self.changed_data)
            sync_job(source, enabled=source.enabled if toggled else None)
        return source


def force_sync() -> int:
    """One manual run of every enabled source's check now (the overview's button); sources with a run
    already waiting are skipped. Returns the count."""
    enabled = Source.objects.filter(enabled=True).select_related("job").order_by("pk")
    count = services.run_many([job_of(source) for source in enabled], trigger=Run.Trigger.MANUAL)
    audit.record(None, "force sync", {"queued": [None, count]}, object_type=Source._meta.label_lower)
    return count


def job_of(source: Source) -> Job:
    """The source's check_source job; a source left without one (its job was deleted before sources owned
    their jobs) gets it back."""
    return source.job or sync_job(source)


@transaction.atomic
def set_enabled(sources: Iterable[Source], enabled: bool) -> int:
    """Pause or resume sources: their jobs through scheduler.services (the path the Jobs pages take too),
    which brings the sources along. Returns the number of jobs paused or resumed."""
    jobs = [job_of(source) for source in sources]
    return services.resume(jobs) if enabled else services.pause(jobs)


@transaction.atomic
def sync_job(source: Source, enabled: bool | None = None) -> Job:
    """Create or update the source's check_source job so its schedule and window follow the source.

    `enabled` True/False resumes or pauses the job (through scheduler.services); None keeps the job's state
    and the source follows it. A job created here starts as the source's `enabled` says.
    """
    job = Job.objects.select_for_update().filter(pk=source.job_id).first() if source.job_id else None
    created = job is None
    if job is None:  # created
        job = Job(kind="check_source", queue=Job.Queue.HIGH, max_attempts=1)
        job.enabled = source.enabled if enabled is None else enabled
    job.owner = source.topic
    job.name = f"Source #{source.pk}: {source.name}"[:200]
    job.params = {"source_id": source.pk}
    if source.cron:
        job.schedule_type, job.cron, job.interval_seconds = Job.ScheduleType.CRON, source.cron, None
    else:
        job.schedule_type, job.cron, job.interval_seconds = Job.ScheduleType.INTERVAL, "", source.interval_seconds
    job.timezone = source.timezone
    job.start_at, job.end_at = source.active_from, source.active_until
    # Room for the fetch's own retries and a rate-limit wait; the next poll is the real retry.
    job.timeout_seconds = int(source.timeout_seconds * 4 + 30)
    services.refresh_schedule(job)
    job.save()
    if source.job_id != job.pk:
        Source.objects.filter(pk=source.pk).update(job=job)
    source.job = job
    if not created and enabled is not None and enabled != job.enabled:
        (services.resume if enabled else services.pause)([job])
        job.refresh_from_db()
    if source.enabled != job.enabled:  # the source follows its job
        source.enabled = job.enabled
        Source.objects.filter(pk=source.pk).update(enabled=job.enabled)
    return job


@receiver(post_delete, sender=Source)
def _delete_job(sender: type[Source], instance: Source, **kwargs: Any) -> None:
    if instance.job_id:  # the source's row is gone, so its job is no longer protected
        Job.objects.filter(pk=instance.job_id).delete()


@receiver(signals.jobs_paused)
def _pause_sources(sender: type[Job], job_ids: list[int], **kwargs: Any) -> None:
    Source.objects.filter(job_id__in=job_ids, enabled=True).update(enabled=False, updated_at=timezone.now())


@receiver(signals.jobs_resumed)
def _resume_sources(sender: type[Job], job_ids: list[int], **kwargs: Any) -> None:
    Source.objects.filter(job_id__in=job_ids, enabled=False).update(enabled=True, updated_at=timezone.now())


def _owner(pk: str) -> owners.Owner | None:
    """What the Jobs pages show about the source that owns a job (scheduler.owners)."""
    source = Source.objects.filter(pk=pk).only("pk", "name").first() if pk.isdigit() else None
    if source is None:
        return None
    return owners.Owner(
        key=source.topic,
        label=_("source “%(name)s”") % {"name": source.name},
        url=reverse("scrapers:source", args=[source.pk]),
        admin_url=reverse("admin:scrapers_source_change", args=[source.pk]),
        fields=(*owners.MANAGED, "timeout_seconds"),
        refusal=_("This job belongs to source “%(name)s”: delete the source instead.") % {"name": source.name},
    )


owners.register(
    "source",
    _owner,
    kinds={"check_source": gettext_lazy("Each source has its own check_source job: add or edit the source instead.")},
)
