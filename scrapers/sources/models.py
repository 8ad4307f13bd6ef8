"""Sources, the items they yield (each once, with revisions), and the per-host request budgets' admin view."""

from django.db import models
from django.utils.timezone import now as utc_now
from django.utils.translation import gettext_lazy

from scheduler.models import Budget, Job, default_timezone
from scheduler.shared import bounds

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

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=50, help_text="A scraper kind: html, json, feed, page_watch, ...")
    url = models.URLField(max_length=2000)
    config = models.JSONField(default=dict, blank=True, help_text="Validated by the kind (selectors, paths...).")

    method = models.CharField(max_length=6, choices=Method.choices, default=Method.GET)
    headers = models.JSONField(default=dict, blank=True)
    timeout_seconds = models.FloatField(default=15)
    user_agent = models.CharField(max_length=300, blank=True, help_text="Empty: Vigia's identifying agent.")

    # The schedule is a scheduler Job of kind check_source, kept in step with these fields.
    interval_seconds = models.PositiveIntegerField(default=60, null=True, blank=True)
    cron = models.CharField(max_length=200, blank=True, help_text="Instead of the interval, when set.")
    timezone = models.CharField(max_length=64, default=default_timezone)
    active_from = models.DateTimeField(null=True, blank=True, validators=[bounds.check_date])
    active_until = models.DateTimeField(null=True, blank=True, validators=[bounds.check_date])
    enabled = models.BooleanField(default=True)
    announce_first_check = models.BooleanField(
        default=False, help_text="Announce the items the first check finds (otherwise they are the baseline)."
    )
    # The source owns its job (Job.owner "source:<id>"): the job is deleted with the source, never alone.
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.PROTECT, related_name="source")

    # Conditional requests: what the last 200 answered.
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    # What the last successful check parsed (see checks.py): the same again is "unchanged", as a 304 is.
    content_fingerprint = models.CharField(max_length=64, blank=True, editable=False)

    # Health
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_item_count = models.PositiveIntegerField(null=True, blank=True)
    # When a check last parsed a changed page (its items are last_item_count): what a 304 is "unchanged since".
    last_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The last check's own outcome (Outcome.summary(), or {"status": "failed", "error": ...}), written with
    # last_checked_at in the same UPDATE, so the page's health line and its figures cannot disagree.
    last_check = models.JSONField(default=dict, blank=True, editable=False)
    broken = models.BooleanField(default=False, help_text="Raised after repeated failures; cleared on success.")

    created_at = models.DateTimeField(default=utc_now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

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
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=500)
    title = models.TextField(blank=True)
    url = models.URLField(max_length=2000, blank=True)
    body = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    first_seen = models.DateTimeField(default=utc_now)
    last_seen = models.DateTimeField(default=utc_now)
    revisions_count = models.PositiveIntegerField(default=0)

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

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="revisions")
    title = models.TextField(blank=True)
    url = models.URLField(max_length=2000, blank=True)
    body = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    valid_from = models.DateTimeField(help_text="When this version was first seen.")
    replaced_at = models.DateTimeField(default=utc_now)

    class Meta:
        verbose_name = gettext_lazy("item revision")
        verbose_name_plural = gettext_lazy("item revisions")
        indexes = [models.Index(fields=["item", "-replaced_at"], name="revision_item_recent")]

    def __str__(self) -> str:
        return f"{self.item_id} until {self.replaced_at:%Y-%m-%d %H:%M}"


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
