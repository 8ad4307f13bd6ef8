"""Sources, the items they yield (each once, with revisions), and the per-host request budgets' admin view."""

from django.db import models
from django.utils.timezone import now as utc_now
from django.utils.translation import gettext, gettext_lazy

from scheduler.models import Budget, Job, default_timezone
from scheduler.shared import bounds
from scheduler.shared.fields import EncryptedJSONField

# The start of a check's error when a page that had items shows none (scrapers.sources.checks): its layout changed.
SELECTORS_BROKEN = "Selectors may be broken"


class Source(models.Model):
    class Method(models.TextChoices):
        GET = "GET", "GET"
        POST = "POST", "POST"

    class Health(models.TextChoices):
        """What a source's badge says, on the dashboard and in the admin alike (Source.health)."""

        OK = "ok", gettext_lazy("ok")
        NEW = "new", gettext_lazy("not checked yet")
        FAILING = "failing", gettext_lazy("failing")
        SELECTORS = "selectors", gettext_lazy("selectors may be broken")
        BROKEN = "broken", gettext_lazy("broken")

    name = models.CharField(verbose_name=gettext_lazy("Name"), max_length=200, unique=True)
    kind = models.CharField(
        verbose_name=gettext_lazy("Kind"),
        max_length=50,
        help_text=gettext_lazy("A scraper kind: html, json, feed, page_watch, ..."),
    )
    url = models.URLField(verbose_name=gettext_lazy("URL"), max_length=2000)
    config = models.JSONField(
        verbose_name=gettext_lazy("Settings"),
        default=dict,
        blank=True,
        help_text=gettext_lazy("Validated by the kind (selectors, paths...)."),
    )

    method = models.CharField(
        verbose_name=gettext_lazy("Method"), max_length=6, choices=Method.choices, default=Method.GET
    )
    # Request headers (a Cookie or Authorization for an organizer's logged-in page): encrypted at rest, write-only
    # everywhere they are edited or shown (scheduler.shared.bounds.SecretNameValueField; the API's "********").
    headers = EncryptedJSONField(verbose_name=gettext_lazy("Headers"), default=dict, blank=True)
    timeout_seconds = models.FloatField(verbose_name=gettext_lazy("Timeout (seconds)"), default=15)
    user_agent = models.CharField(
        verbose_name=gettext_lazy("User agent"),
        max_length=300,
        blank=True,
        help_text=gettext_lazy("Empty: Vigia's identifying agent."),
    )

    # The schedule is a scheduler Job of kind check_source, kept in step with these fields.
    interval_seconds = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Interval (seconds)"), default=60, null=True, blank=True
    )
    cron = models.CharField(
        verbose_name=gettext_lazy("Cron expression"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy("Instead of the interval, when set."),
    )
    timezone = models.CharField(verbose_name=gettext_lazy("Time zone"), max_length=64, default=default_timezone)
    active_from = models.DateTimeField(
        verbose_name=gettext_lazy("Active from"), null=True, blank=True, validators=[bounds.check_date]
    )
    active_until = models.DateTimeField(
        verbose_name=gettext_lazy("Active until"), null=True, blank=True, validators=[bounds.check_date]
    )
    enabled = models.BooleanField(verbose_name=gettext_lazy("Enabled"), default=True)
    announce_first_check = models.BooleanField(
        verbose_name=gettext_lazy("Announce the first check"),
        default=False,
        help_text=gettext_lazy("Announce the items the first check finds (otherwise they are the baseline)."),
    )
    # Adaptive polling: with a floor and a ceiling, the interval drops to the floor when a check finds
    # something (tasks come in bursts) and backs off towards the ceiling while nothing changes.
    poll_floor_seconds = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Fastest poll (seconds)"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Adaptive polling: the interval right after a check found something."),
    )
    poll_ceiling_seconds = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Slowest poll (seconds)"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Adaptive polling: the longest interval while nothing changes."),
    )
    # The adaptive interval now in force (None: the source's fixed interval or cron).
    current_interval_seconds = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Current interval (seconds)"), null=True, blank=True, editable=False
    )
    last_found_at = models.DateTimeField(
        verbose_name=gettext_lazy("Last found something at"), null=True, blank=True, editable=False
    )
    # Mirrors: other addresses of the same page (a static export...), tried in order when the URL fails.
    fallback_urls = models.JSONField(verbose_name=gettext_lazy("Fallback URLs"), default=list, blank=True)
    # A login step for a page behind a login: the form's address, the fields it posts (encrypted, write-only)
    # and how success shows. The session's cookies are kept per source, encrypted, for every worker.
    login_url = models.URLField(verbose_name=gettext_lazy("Login form URL"), max_length=2000, blank=True)
    login_fields = EncryptedJSONField(verbose_name=gettext_lazy("Login fields"), default=dict, blank=True)
    login_success_cookie = models.CharField(
        verbose_name=gettext_lazy("Cookie set on success"), max_length=200, blank=True
    )
    login_success_text = models.CharField(
        verbose_name=gettext_lazy("Text shown on success"), max_length=200, blank=True
    )
    session_cookies = EncryptedJSONField(
        verbose_name=gettext_lazy("Session cookies"), default=dict, blank=True, editable=False
    )
    session_started_at = models.DateTimeField(
        verbose_name=gettext_lazy("Session started at"), null=True, blank=True, editable=False
    )
    # The source owns its job (Job.owner "source:<id>"): the job is deleted with the source, never alone.
    job = models.OneToOneField(
        Job, verbose_name=gettext_lazy("Job"), null=True, blank=True, on_delete=models.PROTECT, related_name="source"
    )

    # Conditional requests: what the last 200 answered.
    etag = models.CharField(verbose_name=gettext_lazy("ETag"), max_length=500, blank=True)
    last_modified = models.CharField(verbose_name=gettext_lazy("Last-Modified"), max_length=100, blank=True)
    # What the last successful check parsed (see checks.py): the same again is "unchanged", as a 304 is.
    content_fingerprint = models.CharField(
        verbose_name=gettext_lazy("Content fingerprint"), max_length=64, blank=True, editable=False
    )

    # Health
    last_checked_at = models.DateTimeField(verbose_name=gettext_lazy("Last checked at"), null=True, blank=True)
    last_success_at = models.DateTimeField(verbose_name=gettext_lazy("Last success at"), null=True, blank=True)
    last_error = models.TextField(verbose_name=gettext_lazy("Last error"), blank=True)
    last_error_at = models.DateTimeField(verbose_name=gettext_lazy("Last error at"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(verbose_name=gettext_lazy("Consecutive failures"), default=0)
    last_item_count = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Items in the last check"), null=True, blank=True
    )
    # When a check last parsed a changed page (its items are last_item_count): what a 304 is "unchanged since".
    last_changed_at = models.DateTimeField(
        verbose_name=gettext_lazy("Last changed at"), null=True, blank=True, editable=False
    )
    # The last check's own outcome (Outcome.summary(), or {"status": "failed", "error": ...}), written with
    # last_checked_at in the same UPDATE, so the page's health line and its figures cannot disagree.
    last_check = models.JSONField(verbose_name=gettext_lazy("Last check"), default=dict, blank=True, editable=False)
    broken = models.BooleanField(
        verbose_name=gettext_lazy("Broken"),
        default=False,
        help_text=gettext_lazy("Raised after repeated failures; cleared on success."),
    )

    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("source")
        verbose_name_plural = gettext_lazy("sources")
        indexes = [models.Index(fields=["broken", "name"], name="source_health")]

    def __str__(self) -> str:
        return self.name

    @property
    def health(self) -> "Source.Health":
        """The one reading of the source's state (needs broken, consecutive_failures, last_success_at and
        last_error)."""
        if not self.consecutive_failures and not self.broken:
            return self.Health.OK if self.last_success_at else self.Health.NEW
        if self.broken:  # the strongest word; its error (selectors or not) is shown beside it
            return self.Health.BROKEN
        return self.Health.SELECTORS if SELECTORS_BROKEN in self.last_error else self.Health.FAILING

    @property
    def topic(self) -> str:
        return f"source:{self.pk}"


class Item(models.Model):
    source = models.ForeignKey(
        Source, verbose_name=gettext_lazy("Source"), on_delete=models.CASCADE, related_name="items"
    )
    key = models.CharField(verbose_name=gettext_lazy("Key"), max_length=500)
    title = models.TextField(verbose_name=gettext_lazy("Title"), blank=True)
    url = models.URLField(verbose_name=gettext_lazy("URL"), max_length=2000, blank=True)
    body = models.TextField(verbose_name=gettext_lazy("Body"), blank=True)
    published_at = models.DateTimeField(verbose_name=gettext_lazy("Published at"), null=True, blank=True)
    raw = models.JSONField(verbose_name=gettext_lazy("Raw data"), default=dict, blank=True)
    content_hash = models.CharField(verbose_name=gettext_lazy("Content hash"), max_length=64)
    first_seen = models.DateTimeField(verbose_name=gettext_lazy("First seen"), default=utc_now)
    last_seen = models.DateTimeField(verbose_name=gettext_lazy("Last seen"), default=utc_now)
    revisions_count = models.PositiveIntegerField(verbose_name=gettext_lazy("Revisions"), default=0)
    # The images and documents the item carries, as found on the page: [{"url": ..., "name": ...}]. Fetched
    # once, when first sent (channels_app.attachments).
    attachments = models.JSONField(verbose_name=gettext_lazy("Attachments"), default=list, blank=True)

    class Meta:
        verbose_name = gettext_lazy("item")
        verbose_name_plural = gettext_lazy("items")
        constraints = [models.UniqueConstraint(fields=["source", "key"], name="item_unique_key")]
        indexes = [
            models.Index(fields=["source", "-first_seen"], name="item_source_recent"),
            # The API's items feed of one source, oldest first after a cursor (scrapers.sources.api).
            models.Index(fields=["source", "id"], name="item_source_feed"),
        ]

    def __str__(self) -> str:
        return self.title or self.key


class ItemRevision(models.Model):
    """An item as it was before a change (organizers amend tasks)."""

    item = models.ForeignKey(
        Item, verbose_name=gettext_lazy("Item"), on_delete=models.CASCADE, related_name="revisions"
    )
    title = models.TextField(verbose_name=gettext_lazy("Title"), blank=True)
    url = models.URLField(verbose_name=gettext_lazy("URL"), max_length=2000, blank=True)
    body = models.TextField(verbose_name=gettext_lazy("Body"), blank=True)
    published_at = models.DateTimeField(verbose_name=gettext_lazy("Published at"), null=True, blank=True)
    raw = models.JSONField(verbose_name=gettext_lazy("Raw data"), default=dict, blank=True)
    # The files this version carried ([{"url", "name"}], as Item.attachments): a changed image is a change too.
    attachments = models.JSONField(verbose_name=gettext_lazy("Attachments"), default=list, blank=True)
    content_hash = models.CharField(verbose_name=gettext_lazy("Content hash"), max_length=64)
    valid_from = models.DateTimeField(
        verbose_name=gettext_lazy("Valid from"), help_text=gettext_lazy("When this version was first seen.")
    )
    replaced_at = models.DateTimeField(verbose_name=gettext_lazy("Replaced at"), default=utc_now)

    class Meta:
        verbose_name = gettext_lazy("item revision")
        verbose_name_plural = gettext_lazy("item revisions")
        indexes = [models.Index(fields=["item", "-replaced_at"], name="revision_item_recent")]

    def __str__(self) -> str:
        return gettext("%(item)s until %(moment)s") % {
            "item": self.item_id,
            "moment": f"{self.replaced_at:%Y-%m-%d %H:%M}",
        }


class HostBudget(Budget):
    """The per-host request budgets (scrapers.ratelimit): the scheduler's Budget rows named "host:<host>",
    as the admin's *Host budgets* page lists them. No table of its own."""

    class Meta:
        proxy = True
        verbose_name = gettext_lazy("host budget")
        verbose_name_plural = gettext_lazy("host budgets")

    @property
    def host(self) -> str:
        return self.name.removeprefix("host:")

    def __str__(self) -> str:
        return self.host
