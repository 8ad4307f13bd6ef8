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
from django.core.validators import URLValidator
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
from scrapers.sources import access, polling
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
    "fallback_urls",
    "login_url",
    "login_fields",
    "login_success_cookie",
    "login_success_text",
    "poll_floor_seconds",
    "poll_ceiling_seconds",
]
MAX_POLL_SECONDS = 86_400
MAX_FALLBACK_URLS = 5


class UrlLinesField(forms.Field):
    """URLs typed one per line (the API sends a JSON list); cleaned to a list, blank lines dropped."""

    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false"})
    json_schema = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_FALLBACK_URLS}

    def to_python(self, value: Any) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            value = value.splitlines()
        if not isinstance(value, list | tuple) or not all(isinstance(line, str) for line in value):
            raise ValidationError(_("One URL per line."), code="invalid")
        return [line.strip() for line in value if line.strip()]

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value or ""


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

    fallback_urls = UrlLinesField(
        required=False,
        label=gettext_lazy("Fallback URLs"),
        help_text=gettext_lazy(
            "Other addresses of the same page (a mirror, a static export), one per line, tried in order when the "
            "URL fails. Items keep their keys: relative links on a fallback's page are read as the URL's."
        ),
    )
    login_fields = bounds.SecretNameValueField(
        required=False,
        label=gettext_lazy("Login fields"),
        help_text=gettext_lazy(
            'The fields the login form posts, one "name: value" per line, e.g. email: … and senha: …. '
            "Write-only: the values are never shown again. Leave it empty to keep the stored fields (a value "
            "******** keeps that field's stored value); type - alone to remove them all."
        ),
    )

    class Meta:
        model = Source
        fields = FIELDS
        help_texts = {
            "login_url": gettext_lazy("For a page behind a login: the address of its login form."),
            "login_success_cookie": gettext_lazy(
                "Optional: a cookie the site sets when the login succeeds (e.g. sessionid)."
            ),
            "login_success_text": gettext_lazy(
                "Optional: a text the page after a successful login shows. With neither, a login succeeds when "
                "the site does not show the login form again."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        instance = kwargs.get("instance")
        self.headers_unreadable = False  # stored headers no configured key opens: they must be typed again
        self.login_unreadable = False  # the same for the login fields
        self.login_before: str | None = None  # the stored login's fingerprint: a change ends its session
        if instance is not None and instance.pk:
            try:
                instance.headers  # noqa: B018  (decrypted now, so a lost key is a field error, not a 500)
            except crypto.SecretsUnreadable:
                self.headers_unreadable, instance.headers = True, {}
            try:
                instance.login_fields  # noqa: B018
                self.login_before = access.login_fingerprint(instance)
            except crypto.SecretsUnreadable:
                self.login_unreadable, instance.login_fields = True, {}
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

    def clean_fallback_urls(self) -> list[str]:
        urls = self.cleaned_data.get("fallback_urls") or []
        if len(urls) > MAX_FALLBACK_URLS:
            raise ValidationError(_("At most %(count)s fallback URLs.") % {"count": MAX_FALLBACK_URLS})
        check = URLValidator(schemes=["http", "https"])
        for number, url in enumerate(urls, 1):
            try:
                if len(url) > 2000:
                    raise ValidationError(_("Too long."))
                if problem := bounds.json_problem(url):  # NUL, a lone surrogate: PostgreSQL refuses them
                    raise ValidationError(problem)
                check(url)
                outbound.validate_url(url)
            except ValidationError as exc:
                message = _("Use an http:// or https:// address.") if exc.code == "invalid" else " ".join(exc.messages)
                raise ValidationError(_("Line %(line)s: %(error)s") % {"line": number, "error": message}) from None
            if url in urls[: number - 1]:
                raise ValidationError(_("Line %(line)s: given twice.") % {"line": number})
        return urls

    def clean_login_success_cookie(self) -> str:
        name = (self.cleaned_data.get("login_success_cookie") or "").strip()
        if name and not bounds.HEADER_NAME.fullmatch(name):  # a cookie's name is an HTTP token
            raise ValidationError(_("A cookie's name: letters, digits and -_.!#$%&'*+^`|~, without spaces."))
        return name

    def clean_login_url(self) -> str:
        url = self.cleaned_data.get("login_url") or ""
        if url and not url.lower().startswith(("http://", "https://")):
            raise ValidationError(_("Use an http:// or https:// address."))
        if url:
            outbound.validate_url(url)
        return url

    def clean_login_fields(self) -> dict[str, Any]:
        """Write-only, as the headers are: empty keeps the stored fields, `-` removes them, lines replace them."""
        fields = self.cleaned_data.get("login_fields")
        stored = self.instance.login_fields if self.instance.pk and not self.login_unreadable else {}
        if fields is None:
            if self.login_unreadable and self.cleaned_data.get("login_url"):  # without a login they do not matter
                raise ValidationError(
                    _(
                        "The stored login fields cannot be decrypted (is a key missing from VIGIA_ENCRYPTION_KEYS?): "
                        "type them again, or - to remove them."
                    )
                )
            return dict(stored or {})
        if fields == bounds.CLEAR:
            return {}
        if not isinstance(fields, dict) or not all(isinstance(value, str) for value in fields.values()):
            raise ValidationError(_('One "name: value" per line, each value text.'))
        return bounds.resolve_masked(fields, stored)

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
        adaptive = self._check_adaptive(data, cron)
        if cron:
            add_cron_error(self, cron)
        elif adaptive and not data.get("interval_seconds"):
            data["interval_seconds"] = data["poll_ceiling_seconds"]  # the interval it backs off to
        elif not data.get("interval_seconds") or data["interval_seconds"] < 1:
            self.add_error("interval_seconds", _("Give a positive interval in seconds, or a cron expression."))
        start, end = data.get("active_from"), data.get("active_until")
        if start and end and end <= start:
            self.add_error("active_until", _("The end must be after the start."))
        self._check_login(data)
        return data

    def _check_adaptive(self, data: dict[str, Any], cron: str) -> bool:
        """Adaptive polling needs a floor and a ceiling (whole seconds, floor ≤ ceiling), an interval schedule,
        and a floor the host's budget can serve. Returns whether the source polls adaptively."""
        if "poll_floor_seconds" not in self.fields or {"poll_floor_seconds", "poll_ceiling_seconds"} & set(self.errors):
            return False
        floor, ceiling = data.get("poll_floor_seconds"), data.get("poll_ceiling_seconds")
        if floor is None and ceiling is None:
            return False
        for name, value in (("poll_floor_seconds", floor), ("poll_ceiling_seconds", ceiling)):
            if value is None:
                self.add_error(name, _("Give both the fastest and the slowest poll, or neither."))
            elif not 1 <= value <= MAX_POLL_SECONDS:
                self.add_error(name, _("Between 1 and %(most)s seconds.") % {"most": MAX_POLL_SECONDS})
        if (
            floor is None
            or ceiling is None
            or self.has_error("poll_floor_seconds")
            or self.has_error("poll_ceiling_seconds")
        ):
            return False
        if floor > ceiling:
            self.add_error("poll_ceiling_seconds", _("The slowest poll must not be faster than the fastest."))
            return False
        if cron:
            self.add_error("cron", _("Adaptive polling works on an interval: remove the cron expression."))
            return False
        url = data.get("url")
        if url and not self.has_error("url"):
            probe = Source(pk=self.instance.pk, url=url)
            if problem := polling.budget_problem(probe, floor):
                self.add_error("poll_floor_seconds", problem)
                return False
        return True

    def _check_login(self, data: dict[str, Any]) -> None:
        """A login needs its form's URL and the fields it posts; the success signs need a login."""
        if {"login_url", "login_fields"} & set(self.errors) or "login_url" not in self.fields:
            return
        url, fields = data.get("login_url"), data.get("login_fields")
        if url and not fields:
            self.add_error("login_fields", _("Give the fields the login form posts (e.g. email: … and senha: …)."))
        elif fields and not url:
            self.add_error("login_url", _("Give the login form's URL, or remove the login fields (type -)."))
        elif not url and (data.get("login_success_cookie") or data.get("login_success_text")):
            self.add_error("login_url", _("Give the login form's URL: the success cookie and text apply to a login."))

    @transaction.atomic
    def save(self, commit: bool = True) -> Source:
        source = super().save(commit=False)
        if commit:
            # An edit writes only what the form shows: a check finishing meanwhile keeps its health
            # and conditional-request state.
            columns = {field.name for field in Source._meta.concrete_fields}
            shown = [name for name in self.fields if name in columns]
            new = source.pk is None
            if not new and "login_url" in self.fields and access.login_fingerprint(source) != self.login_before:
                # Another login: its session (or the site's refusal of the old one) no longer holds.
                source.session_cookies, source.session_started_at = {}, None
                shown += ["session_cookies", "session_started_at"]
            if {"poll_floor_seconds", "poll_ceiling_seconds", "cron"} & set(self.changed_data):
                source.current_interval_seconds = None  # new bounds: start again from the floor
                shown.append("current_interval_seconds")
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
        job.schedule_type, job.cron = Job.ScheduleType.INTERVAL, ""
        job.interval_seconds = polling.job_interval(source)  # an adaptive source's interval in force
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
