"""Jobs, their runs, and the scheduler lease."""

from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now as utc_now
from django.utils.translation import gettext, gettext_lazy

from scheduler.shared import bounds
from scheduler.shared.fields import EncryptedJSONField

# Hard bounds the database enforces whatever path writes a job (forms, admin, import, API, shell).
# VIGIA_MAX_TIMEOUT may only lower TIMEOUT_CEILING (checked at startup).
TIMEOUT_CEILING = 7 * 86400
MAX_ATTEMPTS = 100
BACKOFF_CEILING = 7 * 86400
INTERVAL_CEILING = 10 * 366 * 86400  # ten years: longer is a one-off job


def default_timezone() -> str:
    """The install's TIME_ZONE, read when a row is created: a callable, so migrations never hold the value
    of the environment they were made in."""
    return settings.TIME_ZONE


def _job_limits() -> list[models.CheckConstraint]:
    """The CheckConstraints behind every limit the job form states."""
    ranges = {
        "job_timeout_range": Q(timeout_seconds__gte=1, timeout_seconds__lte=TIMEOUT_CEILING),
        "job_attempts_range": Q(max_attempts__gte=1, max_attempts__lte=MAX_ATTEMPTS),
        "job_jitter_range": Q(backoff_jitter__gte=0, backoff_jitter__lte=1),
        "job_backoff_range": Q(
            backoff_base_seconds__gt=0,
            backoff_base_seconds__lte=models.F("backoff_cap_seconds"),
            backoff_cap_seconds__lte=BACKOFF_CEILING,
        ),
        "job_interval_range": Q(interval_seconds__isnull=True)
        | Q(interval_seconds__gte=1, interval_seconds__lte=INTERVAL_CEILING),
        "job_max_occurrences_range": Q(max_occurrences__isnull=True) | Q(max_occurrences__gte=1),
    }
    return [models.CheckConstraint(condition=condition, name=name) for name, condition in ranges.items()]


class JobQuerySet(models.QuerySet["Job"]):
    def with_last_status(self) -> Self:
        """Annotate `last_status` with one correlated subquery (served by the run_job_recent index)."""
        latest = Run.objects.filter(job=models.OuterRef("pk")).order_by("-scheduled_for", "-attempt")
        return self.annotate(last_status=models.Subquery(latest.values("status")[:1]))


class Job(models.Model):
    # Labels and help texts translated here, once: the editor, the list's filters and the admin all show them.
    class ScheduleType(models.TextChoices):
        CRON = "cron", gettext_lazy("Cron")
        INTERVAL = "interval", gettext_lazy("Interval")
        ONCE = "once", gettext_lazy("Once")
        MANUAL = "manual", gettext_lazy("On demand")

    class Queue(models.TextChoices):
        HIGH = "high", gettext_lazy("High")
        DEFAULT = "default", gettext_lazy("Default")
        LOW = "low", gettext_lazy("Low")

    class Overlap(models.TextChoices):
        FORBID = "forbid", gettext_lazy("Forbid (skip while one is running)")
        ALLOW = "allow", gettext_lazy("Allow")

    class Misfire(models.TextChoices):
        COALESCE = "coalesce", gettext_lazy("Coalesce (one run for all missed)")
        SKIP = "skip", gettext_lazy("Skip missed")
        ALL = "all", gettext_lazy("Run all missed within the grace window")

    name = models.CharField(gettext_lazy("Name"), max_length=200, unique=True)
    kind = models.CharField(gettext_lazy("Kind"), max_length=50)
    params = models.JSONField(
        gettext_lazy("Parameters"),
        default=dict,
        blank=True,
        help_text=gettext_lazy("JSON object; the fields depend on the kind."),
    )

    schedule_type = models.CharField(
        gettext_lazy("Schedule"), max_length=10, choices=ScheduleType.choices, default=ScheduleType.CRON
    )
    cron = models.CharField(
        gettext_lazy("Cron expression"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy(
            "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @daily…"
        ),
    )
    timezone = models.CharField(
        gettext_lazy("Time zone"),
        max_length=64,
        default=default_timezone,
        help_text=gettext_lazy("IANA name, e.g. America/Sao_Paulo or UTC."),
    )
    interval_seconds = models.PositiveIntegerField(gettext_lazy("Interval (seconds)"), null=True, blank=True)
    run_at = models.DateTimeField(
        gettext_lazy("Run at"),
        null=True,
        blank=True,
        validators=[bounds.check_date],
        help_text=gettext_lazy("For a one-off job, in your time zone."),
    )
    start_at = models.DateTimeField(
        gettext_lazy("Start at"),
        null=True,
        blank=True,
        validators=[bounds.check_date],
        help_text=gettext_lazy("Optional: no run before this."),
    )
    end_at = models.DateTimeField(
        gettext_lazy("End at"),
        null=True,
        blank=True,
        validators=[bounds.check_date],
        help_text=gettext_lazy("Optional: no run after this."),
    )
    max_occurrences = models.PositiveIntegerField(
        gettext_lazy("Max occurrences"), null=True, blank=True, help_text=gettext_lazy("Empty = no limit.")
    )
    occurrences = models.PositiveIntegerField(verbose_name=gettext_lazy("Occurrences"), default=0, editable=False)

    enabled = models.BooleanField(gettext_lazy("Enabled"), default=True, help_text=gettext_lazy("Off = paused."))
    # Set when the engine paused the job because its own data cannot be planned or run (a zone that no
    # longer exists, a kind no longer installed, params its kind now rejects); cleared on resume.
    paused_reason = models.TextField(verbose_name=gettext_lazy("Pause reason"), blank=True, editable=False)
    # The object that manages this job's schedule ("source:12"): its schedule is edited there, and the
    # job cannot be deleted on its own.
    owner = models.CharField(verbose_name=gettext_lazy("Owner"), max_length=100, blank=True, editable=False)
    next_run_at = models.DateTimeField(verbose_name=gettext_lazy("Next run at"), null=True, blank=True, editable=False)
    last_scheduled_for = models.DateTimeField(
        verbose_name=gettext_lazy("Last scheduled for"), null=True, blank=True, editable=False
    )
    completed_at = models.DateTimeField(
        verbose_name=gettext_lazy("Completed at"), null=True, blank=True, editable=False
    )

    queue = models.CharField(gettext_lazy("Queue"), max_length=10, choices=Queue.choices, default=Queue.DEFAULT)
    timeout_seconds = models.PositiveIntegerField(gettext_lazy("Timeout (seconds)"), default=300)
    max_attempts = models.PositiveSmallIntegerField(
        gettext_lazy("Max attempts"), default=1, help_text=gettext_lazy("1 = no retry.")
    )
    backoff_base_seconds = models.FloatField(gettext_lazy("Backoff base (seconds)"), default=10)
    backoff_cap_seconds = models.FloatField(gettext_lazy("Backoff cap (seconds)"), default=600)
    backoff_jitter = models.FloatField(
        gettext_lazy("Backoff jitter"),
        default=0.1,
        help_text=gettext_lazy("Fraction of the delay added at random (0–1)."),
    )
    overlap_policy = models.CharField(
        gettext_lazy("Overlap"), max_length=10, choices=Overlap.choices, default=Overlap.FORBID
    )
    misfire_policy = models.CharField(
        gettext_lazy("Missed runs"), max_length=10, choices=Misfire.choices, default=Misfire.COALESCE
    )
    misfire_grace_seconds = models.PositiveIntegerField(
        gettext_lazy("Misfire grace (seconds)"),
        default=3600,
        help_text=gettext_lazy("With 'all': missed occurrences older than this are dropped."),
    )

    # NULL (not "") means "no external id", so the unique pair ignores jobs without one.
    external_service = models.CharField(  # noqa: DJ001
        gettext_lazy("External service"), max_length=100, null=True, blank=True
    )
    external_key = models.CharField(gettext_lazy("External key"), max_length=200, null=True, blank=True)  # noqa: DJ001
    # Which API caller declared it (scheduler.shared.api.Caller.key): another caller's (service, key) is a 409.
    api_caller = models.CharField(verbose_name=gettext_lazy("API caller"), max_length=200, blank=True, editable=False)
    # "<digest of the last PUT body>:<digest of what it left declared>": the same declaration again, with the job
    # as it left it, is answered without validating and writing it anew (callers re-declare on every deploy).
    api_digest = models.CharField(verbose_name=gettext_lazy("API digest"), max_length=100, blank=True, editable=False)
    # Told each run's final status by a signed POST (channels_app.callbacks).
    callback_url = models.URLField(gettext_lazy("Callback URL"), max_length=2000, blank=True)
    # The values of the kind's secret params (an http_request job's header values), encrypted at rest; params keep
    # the names only, each with the value "********" (scheduler.job_kinds.seal on every save that writes params).
    secrets = EncryptedJSONField(verbose_name=gettext_lazy("Secrets"), default=dict, blank=True, editable=False)

    # Set at construction (not on insert) so an interval schedule's anchor is known before the first save.
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("job")
        verbose_name_plural = gettext_lazy("jobs")
        constraints = [
            models.UniqueConstraint(
                fields=["external_service", "external_key"],
                name="job_external_unique",
                condition=Q(external_service__isnull=False, external_key__isnull=False),
            ),
            *_job_limits(),
        ]
        indexes = [
            models.Index(fields=["next_run_at"], name="job_due", condition=Q(enabled=True)),
        ]

    def __str__(self) -> str:
        from scheduler import system_jobs  # a system job's name in the operator's language

        return str(system_jobs.display_name(self))

    def save(self, *args: Any, **kwargs: Any) -> None:
        from scheduler import job_kinds  # the registry, filled when the kinds are imported

        fields = kwargs.get("update_fields")
        if fields is None or "params" in fields:
            if job_kinds.seal(self) and fields is not None:
                kwargs["update_fields"] = [*fields, "secrets"]
        super().save(*args, **kwargs)

    @property
    def schedule_display(self) -> str:
        if self.schedule_type == self.ScheduleType.CRON:
            return f"{self.cron} ({self.timezone})"
        if self.schedule_type == self.ScheduleType.INTERVAL:
            return gettext("every %(seconds)s s") % {"seconds": self.interval_seconds}
        if self.schedule_type == self.ScheduleType.MANUAL:
            return gettext("on demand")
        if not self.run_at:
            return gettext("once")
        return gettext("once at %(moment)s") % {"moment": f"{self.run_at:%Y-%m-%d %H:%M:%S %Z}"}


class Run(models.Model):
    # Labels translated here, once: the pages, the admin and the filters show them in the reader's language.
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", gettext_lazy("Schedule")
        MANUAL = "manual", gettext_lazy("Manual")
        RETRY = "retry", gettext_lazy("Retry")
        API = "api", gettext_lazy("API")

    class Status(models.TextChoices):
        QUEUED = "queued", gettext_lazy("Queued")
        RUNNING = "running", gettext_lazy("Running")
        SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
        FAILED = "failed", gettext_lazy("Failed")
        RETRYING = "retrying", gettext_lazy("Waiting to retry")
        TIMED_OUT = "timed_out", gettext_lazy("Timed out")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")
        SKIPPED = "skipped", gettext_lazy("Skipped")

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED, Status.SKIPPED)

    # No index of its own: run_unique_attempt and run_job_recent lead with the job, and every index of this
    # table is written again on each change of a run's status (three per run).
    job = models.ForeignKey(
        Job, verbose_name=gettext_lazy("Job"), on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    scheduled_for = models.DateTimeField(verbose_name=gettext_lazy("Scheduled for"))
    attempt = models.PositiveSmallIntegerField(verbose_name=gettext_lazy("Attempt"), default=1)
    trigger = models.CharField(
        verbose_name=gettext_lazy("Trigger"), max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE
    )
    status = models.CharField(
        verbose_name=gettext_lazy("Status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    due_at = models.DateTimeField(
        verbose_name=gettext_lazy("Due at"),
        help_text=gettext_lazy("When this attempt may start (later than scheduled for retries)."),
    )
    queued_at = models.DateTimeField(verbose_name=gettext_lazy("Queued at"), null=True, blank=True)
    started_at = models.DateTimeField(verbose_name=gettext_lazy("Started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=gettext_lazy("Finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(verbose_name=gettext_lazy("Heartbeat at"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(verbose_name=gettext_lazy("Duration (ms)"), null=True, blank=True)
    pickups = models.PositiveSmallIntegerField(
        verbose_name=gettext_lazy("Pickups"),
        default=0,
        help_text=gettext_lazy("Times a worker picked this attempt up."),
    )
    # Times this attempt's worker died under it while the worker's cluster lived on and no other run was
    # lost with it: the evidence that the run itself kills its worker (a poison pill).
    losses = models.PositiveSmallIntegerField(verbose_name=gettext_lazy("Worker losses"), default=0)
    worker = models.CharField(verbose_name=gettext_lazy("Worker"), max_length=120, blank=True)  # host:pid
    worker_parent = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Worker's cluster process"), null=True, blank=True
    )  # the cluster process that forked it
    cancel_requested = models.BooleanField(verbose_name=gettext_lazy("Cancel requested"), default=False)
    result = models.JSONField(verbose_name=gettext_lazy("Result"), null=True, blank=True)
    error = models.TextField(verbose_name=gettext_lazy("Error"), blank=True)
    traceback = models.TextField(verbose_name=gettext_lazy("Traceback"), blank=True)

    class Meta:
        verbose_name = gettext_lazy("run")
        verbose_name_plural = gettext_lazy("runs")
        constraints = [
            models.UniqueConstraint(fields=["job", "scheduled_for", "attempt"], name="run_unique_attempt"),
        ]
        indexes = [
            # history pages: newest first, overall and per job / status / trigger
            models.Index(fields=["-scheduled_for", "-id"], name="run_recent"),
            models.Index(fields=["job", "-scheduled_for"], name="run_job_recent"),
            models.Index(fields=["status", "-scheduled_for"], name="run_status_recent"),
            models.Index(fields=["trigger", "-scheduled_for"], name="run_trigger_recent"),
            # the dispatcher's and reaper's small working sets
            models.Index(fields=["due_at"], name="run_retry_due", condition=Q(status="retrying")),
            models.Index(fields=["heartbeat_at"], name="run_running", condition=Q(status="running")),
            models.Index(
                fields=["job", "status"], name="run_job_active", condition=Q(status__in=["queued", "running"])
            ),
            # the queue page's rates: runs ended in the last minutes
            models.Index(fields=["finished_at"], name="run_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}@{self.scheduled_for:%Y-%m-%d %H:%M:%S}#{self.attempt}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class Lease(models.Model):
    """One row per elected role (the scheduler's leadership); whoever holds an unexpired lease is the leader."""

    name = models.CharField(verbose_name=gettext_lazy("Name"), max_length=50, primary_key=True)
    holder = models.CharField(verbose_name=gettext_lazy("Holder"), max_length=200, blank=True)
    expires_at = models.DateTimeField(verbose_name=gettext_lazy("Expires at"), null=True)
    renewed_at = models.DateTimeField(verbose_name=gettext_lazy("Renewed at"), null=True)
    acquired_at = models.DateTimeField(verbose_name=gettext_lazy("Acquired at"), null=True)

    class Meta:
        verbose_name = gettext_lazy("lease")
        verbose_name_plural = gettext_lazy("leases")

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or '-'}"


class ClusterPresence(models.Model):
    """One row per django-q2 worker cluster, renewed by its heartbeat (scheduler.liveness.beat): the cluster is
    alive while the row has not expired. Nothing is elected here; the rows only say who is there."""

    cluster_id = models.CharField(gettext_lazy("cluster"), max_length=50, primary_key=True)
    host = models.CharField(
        gettext_lazy("host and process"),
        max_length=200,
        help_text=gettext_lazy("host:pid of the cluster's main process"),
    )
    queues = models.CharField(gettext_lazy("queues"), max_length=100, blank=True)
    started_at = models.DateTimeField(gettext_lazy("started at"), null=True)
    renewed_at = models.DateTimeField(gettext_lazy("last heartbeat"))
    expires_at = models.DateTimeField(gettext_lazy("alive until"))

    class Meta:
        verbose_name = gettext_lazy("worker cluster")
        verbose_name_plural = gettext_lazy("worker clusters")

    def __str__(self) -> str:
        return f"{self.cluster_id[:8]} {self.host}"


class Budget(models.Model):
    """A named rate shared by every worker on every host (scheduler.shared.budgets): the next free slot of a host
    ("host:example.org") or a channel ("channel:7"), moved on by each reservation on the database's clock."""

    name = models.CharField(verbose_name=gettext_lazy("Name"), max_length=255, primary_key=True)
    per_second = models.FloatField(
        verbose_name=gettext_lazy("Per second"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Empty: the default for its kind."),
    )
    next_slot_at = models.DateTimeField(
        verbose_name=gettext_lazy("Next slot at"),
        default=utc_now,
        help_text=gettext_lazy("The earliest moment the next use may go."),
    )

    class Meta:
        verbose_name = gettext_lazy("budget")
        verbose_name_plural = gettext_lazy("budgets")

    def __str__(self) -> str:
        return self.name


class Housekeeping(models.Model):
    """The status of one piece of periodic housekeeping the scheduler leader runs itself (scheduler.periodic),
    so that the run history holds the operators' work only."""

    name = models.CharField(verbose_name=gettext_lazy("Name"), max_length=100, primary_key=True)
    every_seconds = models.FloatField(verbose_name=gettext_lazy("Every (seconds)"), default=0)
    last_started_at = models.DateTimeField(verbose_name=gettext_lazy("Last started at"), null=True, blank=True)
    last_finished_at = models.DateTimeField(verbose_name=gettext_lazy("Last finished at"), null=True, blank=True)
    last_ok_at = models.DateTimeField(verbose_name=gettext_lazy("Last success at"), null=True, blank=True)
    last_error = models.TextField(verbose_name=gettext_lazy("Last error"), blank=True)
    last_result = models.JSONField(verbose_name=gettext_lazy("Last result"), null=True, blank=True)
    runs = models.PositiveBigIntegerField(verbose_name=gettext_lazy("Runs"), default=0)
    failures = models.PositiveBigIntegerField(verbose_name=gettext_lazy("Failures"), default=0)

    class Meta:
        verbose_name = gettext_lazy("housekeeping task")
        verbose_name_plural = gettext_lazy("housekeeping tasks")

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """One change a person made (scheduler.shared.audit): who (an account, an API token, a command), through
    what, to which object, and the changed fields as {field: [old, new]} with secrets as "********"."""

    class Via(models.TextChoices):
        DASHBOARD = "dashboard", gettext_lazy("Dashboard")
        ADMIN = "admin", gettext_lazy("Django admin")
        API = "api", gettext_lazy("API")
        COMMAND = "command", gettext_lazy("Command")

    at = models.DateTimeField(verbose_name=gettext_lazy("At"), default=utc_now, db_index=True)
    # The account's username, "token:<name>" (an API token), "jwt:<issuer>/<subject>" or "command:<name>".
    actor = models.CharField(verbose_name=gettext_lazy("Actor"), max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("User"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    via = models.CharField(verbose_name=gettext_lazy("Via"), max_length=10, choices=Via.choices)
    # create, update, delete, or a named action: pause, resume, run now, force sync, import…
    action = models.CharField(verbose_name=gettext_lazy("Action"), max_length=50)
    object_type = models.CharField(verbose_name=gettext_lazy("Object type"), max_length=100)  # app_label.model
    object_id = models.CharField(verbose_name=gettext_lazy("Object id"), max_length=64, blank=True)
    object_repr = models.CharField(verbose_name=gettext_lazy("Object"), max_length=200, blank=True)
    changes = models.JSONField(verbose_name=gettext_lazy("Changes"), default=dict, blank=True)
    os_user = models.CharField(verbose_name=gettext_lazy("System user"), max_length=100, blank=True)

    class Meta:
        verbose_name = gettext_lazy("audit entry")
        verbose_name_plural = gettext_lazy("audit trail")
        indexes = [
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object"),
            models.Index(fields=["actor", "-at"], name="audit_actor"),
        ]

    def __str__(self) -> str:
        from scheduler.shared import audit  # the labels of the actions live with the trail's writer

        what = self.object_repr or f"{self.object_type} #{self.object_id}"
        return f"{self.actor}: {audit.action_label(self.action)} {what}"
