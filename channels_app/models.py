"""Delivery: events, the channels that carry them, who receives what, and each message sent (once).

Event ─(topic)→ Subscription → Recipient (channel + address) ⇒ Delivery (unique per event and recipient).
Messages scheduled through the API are a Message (unique per service and key) whose one-off job publishes
an event addressed to its one recipient when it is due.
"""

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.timezone import now as utc_now
from django.utils.translation import gettext, gettext_lazy

from scheduler.shared import bounds
from scheduler.shared.fields import EncryptedJSONField


class Event(models.Model):
    """One published event. `key` names it for idempotency: a repeated publish (a retried or redelivered
    run) finds the key taken and records nothing, so nobody is told twice."""

    topic = models.CharField(verbose_name=gettext_lazy("Topic"), max_length=200)
    type = models.CharField(verbose_name=gettext_lazy("Type"), max_length=50)
    # NULL (not "") for events without a natural identity, so the unique key ignores them.
    key = models.CharField(verbose_name=gettext_lazy("Key"), max_length=200, unique=True, null=True, blank=True)  # noqa: DJ001
    payload = models.JSONField(verbose_name=gettext_lazy("Payload"), default=dict)
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now)

    class Meta:
        verbose_name = gettext_lazy("event")
        verbose_name_plural = gettext_lazy("events")
        indexes = [models.Index(fields=["topic", "-created_at"], name="event_topic_recent")]

    def __str__(self) -> str:
        return gettext("%(type)s on %(topic)s") % {"type": self.type, "topic": self.topic}


class Channel(models.Model):
    """A way out: a Wuzapi server and user token, an SMTP sender, a webhook URL and secret, Apprise URLs..."""

    name = models.CharField(verbose_name=gettext_lazy("Name"), max_length=100, unique=True)
    kind = models.CharField(
        verbose_name=gettext_lazy("Kind"),
        max_length=30,
        help_text=gettext_lazy("wuzapi, email, webhook, apprise or outbox."),
    )
    config = models.JSONField(
        verbose_name=gettext_lazy("Settings"),
        default=dict,
        blank=True,
        help_text=gettext_lazy("Settings that may be shown (URLs, sender)."),
    )
    # Tokens, passwords, signing secrets: write-only. Never rendered back in pages, admin, API or logs, and
    # encrypted at rest (scheduler.shared.crypto): the column holds Fernet ciphertext only.
    secrets = EncryptedJSONField(verbose_name=gettext_lazy("Secrets"), default=dict, blank=True, editable=False)
    enabled = models.BooleanField(verbose_name=gettext_lazy("Enabled"), default=True)
    pace_per_minute = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Messages per minute"),
        null=True,
        blank=True,
        help_text=gettext_lazy("At most this many messages a minute, across every worker. Empty: no limit."),
    )
    # Set when the provider said the channel itself cannot send (scheduler.errors.ChannelDown: a WhatsApp
    # session logged out, a token it does not know); cleared by the next send that works.
    down_since = models.DateTimeField(verbose_name=gettext_lazy("Down since"), null=True, blank=True, editable=False)
    down_reason = models.CharField(verbose_name=gettext_lazy("Why down"), max_length=500, blank=True, editable=False)
    # Set while its Watch (`channel:<id>`) counts failures: read with every send (the claim loads the channel),
    # so a send that works tells channels_app.alerts only when there is something to clear.
    failing = models.BooleanField(verbose_name=gettext_lazy("Failing"), default=False, editable=False)
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("channel")
        verbose_name_plural = gettext_lazy("channels")

    def __str__(self) -> str:
        from channels_app.kinds.base import channel_kinds  # the kinds import the models

        kind = channel_kinds.find(self.kind)
        return f"{self.name} ({kind.label if kind else self.kind})"


class Recipient(models.Model):
    channel = models.ForeignKey(
        Channel, verbose_name=gettext_lazy("Channel"), on_delete=models.CASCADE, related_name="recipients"
    )
    address = models.CharField(
        verbose_name=gettext_lazy("Address"),
        max_length=300,
        blank=True,
        help_text=gettext_lazy("Phone, group JID, e-mail; empty for some."),
    )
    label = models.CharField(verbose_name=gettext_lazy("Label"), max_length=200, blank=True)
    active = models.BooleanField(verbose_name=gettext_lazy("Active"), default=True)
    # Where the recipient lives: quiet hours and daily digests are read on this clock. Empty: TIME_ZONE.
    time_zone = models.CharField(
        verbose_name=gettext_lazy("Time zone"),
        max_length=64,
        blank=True,
        validators=[bounds.check_time_zone],
        help_text=gettext_lazy("For quiet hours and daily digests, e.g. America/Sao_Paulo. Empty: the site's zone."),
    )
    # Quiet hours: reminders and recoveries wait until they end; a new alert is urgent and goes at once.
    quiet_from = models.TimeField(verbose_name=gettext_lazy("Quiet from"), null=True, blank=True)
    quiet_until = models.TimeField(
        verbose_name=gettext_lazy("Quiet until"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Reminders and recovery notices wait until then. Both empty: no quiet hours."),
    )
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)

    class Meta:
        verbose_name = gettext_lazy("recipient")
        verbose_name_plural = gettext_lazy("recipients")
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="recipient_unique_address")]

    def __str__(self) -> str:
        who = self.label or self.address or "(channel)"
        return f"{who} via {self.channel.name}"


class Subscription(models.Model):
    """A recipient told of a topic's events (`source:12`, `person:45`, `job:7:failed`, `sources:broken`,
    `*`; `*` also works inside a topic, as in `source:*`)."""

    recipient = models.ForeignKey(
        Recipient, verbose_name=gettext_lazy("Recipient"), on_delete=models.CASCADE, related_name="subscriptions"
    )
    topic = models.CharField(verbose_name=gettext_lazy("Topic"), max_length=200, db_index=True)
    event_types = models.JSONField(
        verbose_name=gettext_lazy("Event types"),
        default=list,
        blank=True,
        help_text=gettext_lazy("Empty: every event type."),
    )

    class Digest(models.TextChoices):
        NONE = "", gettext_lazy("At once")
        HOURS = "hours", gettext_lazy("Digest every few hours")
        DAILY = "daily", gettext_lazy("Daily digest")

    # A digest subscription gets no message per event: one message every `digest_hours` hours, or daily at
    # `digest_at` (the recipient's clock), lists what happened since the last one (channels_app.digests).
    digest = models.CharField(
        verbose_name=gettext_lazy("Delivery"), max_length=5, choices=Digest.choices, default="", blank=True
    )
    digest_hours = models.PositiveSmallIntegerField(
        verbose_name=gettext_lazy("Every (hours)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(168)],
    )
    digest_at = models.TimeField(verbose_name=gettext_lazy("Daily at"), null=True, blank=True)
    # The end of the last period a digest was made for (sent, or empty and skipped).
    digest_through = models.DateTimeField(
        verbose_name=gettext_lazy("Digest covered until"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)

    class Meta:
        verbose_name = gettext_lazy("subscription")
        verbose_name_plural = gettext_lazy("subscriptions")
        constraints = [models.UniqueConstraint(fields=["recipient", "topic"], name="subscription_unique_topic")]

    def __str__(self) -> str:
        return f"{self.recipient} ← {self.topic}"


class MessageTemplate(models.Model):
    """Wording, in Django's template language: for an event type (`item.new`…, replacing the built-in
    default) or, under any other name, for API messages with positional placeholders ({{1}}, {{2}})."""

    name = models.CharField(
        verbose_name=gettext_lazy("Name"),
        max_length=50,
        unique=True,
        help_text=gettext_lazy("An event type (item.new…) or a template name."),
    )
    subject = models.CharField(
        verbose_name=gettext_lazy("Subject"),
        max_length=300,
        blank=True,
        help_text=gettext_lazy("E-mail subject and title (a template too)."),
    )
    body = models.TextField(verbose_name=gettext_lazy("Body"))
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("message template")
        verbose_name_plural = gettext_lazy("message templates")

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    # Labels translated here, once: the pages and the admin show them in the reader's language; the API
    # answers with the values.
    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        SENDING = "sending", gettext_lazy("Sending")
        SENT = "sent", gettext_lazy("Sent")
        RETRYING = "retrying", gettext_lazy("Waiting to retry")
        FAILED = "failed", gettext_lazy("Failed (permanent error)")
        DEAD = "dead", gettext_lazy("Dead (retries exhausted)")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")
        GROUPED = "grouped", gettext_lazy("Sent in a grouped notice")

    FINAL = (Status.SENT, Status.FAILED, Status.DEAD, Status.CANCELLED, Status.GROUPED)

    event = models.ForeignKey(
        Event, verbose_name=gettext_lazy("Event"), on_delete=models.CASCADE, related_name="deliveries"
    )
    recipient = models.ForeignKey(
        Recipient, verbose_name=gettext_lazy("Recipient"), on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        verbose_name=gettext_lazy("Status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    subject = models.CharField(verbose_name=gettext_lazy("Subject"), max_length=300, blank=True)
    body = models.TextField(
        verbose_name=gettext_lazy("Body"),
        help_text=gettext_lazy("As rendered when the event was published: every attempt sends the same."),
    )
    attempts = models.PositiveSmallIntegerField(verbose_name=gettext_lazy("Attempts"), default=0)
    next_attempt_at = models.DateTimeField(verbose_name=gettext_lazy("Next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(verbose_name=gettext_lazy("Claimed at"), null=True, blank=True)
    worker = models.CharField(verbose_name=gettext_lazy("Worker"), max_length=120, blank=True)
    provider_id = models.CharField(verbose_name=gettext_lazy("Provider id"), max_length=300, blank=True)
    error = models.TextField(verbose_name=gettext_lazy("Error"), blank=True)
    # Why the operator's template for the event's type was not used (it failed on this event): the built-in
    # wording went out instead, and this tells the operator what to fix. "" when the template was used.
    template_error = models.CharField(verbose_name=gettext_lazy("Template error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(verbose_name=gettext_lazy("Sent at"), null=True, blank=True)
    # The provider ids of the parts already accepted (a text's parts, each attachment), by part key: a retry
    # after a partial send skips them (channels_app.kinds.base.Outgoing.part).
    parts = models.JSONField(verbose_name=gettext_lazy("Parts sent"), default=dict, blank=True, editable=False)
    # What became of each of the event's attachments in this message: [{"url", "name", "content_type",
    # "size", "sent", "reason"}] ("reason": why it was not sent; the text carried a note saying so).
    attachments = models.JSONField(verbose_name=gettext_lazy("Attachments"), default=list, blank=True, editable=False)
    # Alerts held together (channels_app.alert_notices): this one went out inside that delivery's message.
    grouped_into = models.ForeignKey(
        "self",
        verbose_name=gettext_lazy("Sent within"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="grouped",
        editable=False,
    )
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("delivery")
        verbose_name_plural = gettext_lazy("deliveries")
        constraints = [models.UniqueConstraint(fields=["event", "recipient"], name="delivery_unique_recipient")]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="delivery_status_recent"),
            models.Index(
                fields=["next_attempt_at"], name="delivery_due", condition=Q(status__in=["pending", "retrying"])
            ),
            models.Index(fields=["claimed_at"], name="delivery_sending", condition=Q(status="sending")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_status_display()} → {self.recipient}"

    @property
    def idempotency_key(self) -> str:
        """Sent to providers that accept one (Wuzapi `Id`, webhook header), so a re-send is recognizable."""
        return f"vigia-{self.pk}"


class Attachment(models.Model):
    """A file an item carries (an image, a PDF), fetched once for every message that sends it
    (channels_app.attachments) and kept in the database, so every worker host reads the same bytes."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Not fetched yet")
        STORED = "stored", gettext_lazy("Stored")
        REFUSED = "refused", gettext_lazy("Refused")

    url = models.CharField(verbose_name=gettext_lazy("URL"), max_length=2000, unique=True)
    name = models.CharField(verbose_name=gettext_lazy("File name"), max_length=200, blank=True)
    status = models.CharField(
        verbose_name=gettext_lazy("Status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    content_type = models.CharField(verbose_name=gettext_lazy("Content type"), max_length=100, blank=True)
    size = models.PositiveIntegerField(verbose_name=gettext_lazy("Size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(verbose_name=gettext_lazy("SHA-256"), max_length=64, blank=True)
    data = models.BinaryField(verbose_name=gettext_lazy("Data"), default=bytes, blank=True, editable=False)
    # Why it is not sent (refused), in English (scheduler.shared.recorded): shown in the reader's language.
    error = models.CharField(verbose_name=gettext_lazy("Why refused"), max_length=500, blank=True)
    fetched_at = models.DateTimeField(verbose_name=gettext_lazy("Fetched at"), null=True, blank=True)
    # A worker is fetching it until then; the others wait for its result instead of fetching it again.
    fetching_until = models.DateTimeField(
        verbose_name=gettext_lazy("Being fetched until"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    last_used_at = models.DateTimeField(verbose_name=gettext_lazy("Last used at"), default=utc_now)

    class Meta:
        verbose_name = gettext_lazy("attachment")
        verbose_name_plural = gettext_lazy("attachments")
        indexes = [models.Index(fields=["last_used_at"], name="attachment_last_used")]

    def __str__(self) -> str:
        return self.name or self.url


class ApiToken(models.Model):
    """A client's bearer token, stored as a SHA-256 hash; the token itself is shown once, at creation."""

    name = models.CharField(
        verbose_name=gettext_lazy("Name"),
        max_length=100,
        unique=True,
        help_text=gettext_lazy("Which client or service holds it."),
    )
    prefix = models.CharField(
        verbose_name=gettext_lazy("Prefix"),
        max_length=12,
        editable=False,
        help_text=gettext_lazy("The token's start, to recognize it."),
    )
    digest = models.CharField(verbose_name=gettext_lazy("Digest"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    last_used_at = models.DateTimeField(
        verbose_name=gettext_lazy("Last used at"), null=True, blank=True, editable=False
    )
    revoked_at = models.DateTimeField(verbose_name=gettext_lazy("Revoked at"), null=True, blank=True)
    # What it may do: "<resource>:read|write" (scheduler.shared.api.SCOPES); write implies read.
    scopes = models.JSONField(verbose_name=gettext_lazy("Scopes"), default=list, blank=True)
    expires_at = models.DateTimeField(
        verbose_name=gettext_lazy("Expires at"), null=True, blank=True, validators=[bounds.check_date]
    )
    # Where its messages may go: channel names (empty: any enabled channel) and fnmatch address patterns
    # ("5511*", "*@example.org"; empty: any address).
    channels = models.JSONField(verbose_name=gettext_lazy("Channels"), default=list, blank=True)
    addresses = models.JSONField(verbose_name=gettext_lazy("Addresses"), default=list, blank=True)
    rate_per_minute = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Requests per minute"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Empty: VIGIA_API_RATE_PER_MINUTE."),
    )
    # Who made it: its scopes in force are those its creator's role still allows (channels_app.tokens). Empty
    # `creator_name`: made at the shell or before roles (every scope it holds); a name without an account: the
    # account was deleted (reads only).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("Created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    creator_name = models.CharField(verbose_name=gettext_lazy("Creator"), max_length=150, blank=True, editable=False)
    # Signs the callbacks of what this token created (HMAC-SHA256); shown once with the token, like it.
    callback_secret = EncryptedJSONField(
        verbose_name=gettext_lazy("Callback secret"), default=dict, blank=True, editable=False
    )

    class Meta:
        verbose_name = gettext_lazy("API token")
        verbose_name_plural = gettext_lazy("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Message(models.Model):
    """A message scheduled through the API: sent once at `send_at` by a one-off send_message job."""

    class Status(models.TextChoices):  # the API answers with the values; the labels are for people
        SCHEDULED = "scheduled", gettext_lazy("Scheduled")
        SENDING = "sending", gettext_lazy("Sending")
        SENT = "sent", gettext_lazy("Sent")
        FAILED = "failed", gettext_lazy("Failed")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    FINAL = (Status.SENT, Status.FAILED, Status.CANCELLED)

    service = models.CharField(verbose_name=gettext_lazy("Service"), max_length=100)
    key = models.CharField(verbose_name=gettext_lazy("Key"), max_length=200)
    token = models.ForeignKey(
        ApiToken,
        verbose_name=gettext_lazy("Token"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    caller = models.CharField(
        verbose_name=gettext_lazy("Caller"), max_length=200, blank=True, editable=False
    )  # scheduler.shared.api.Caller.key
    channel = models.ForeignKey(
        Channel, verbose_name=gettext_lazy("Channel"), on_delete=models.PROTECT, related_name="messages"
    )
    to = models.CharField(verbose_name=gettext_lazy("To"), max_length=300, blank=True)
    body = models.TextField(verbose_name=gettext_lazy("Body"), blank=True)
    template = models.CharField(verbose_name=gettext_lazy("Template"), max_length=50, blank=True)
    params = models.JSONField(verbose_name=gettext_lazy("Parameters"), default=list, blank=True)
    send_at = models.DateTimeField(verbose_name=gettext_lazy("Send at"), validators=[bounds.check_date])
    status = models.CharField(
        verbose_name=gettext_lazy("Status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED
    )
    job = models.OneToOneField(
        "scheduler.Job",
        verbose_name=gettext_lazy("Job"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_message",
    )
    delivery = models.OneToOneField(
        Delivery,
        verbose_name=gettext_lazy("Delivery"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="message",
    )
    error = models.TextField(verbose_name=gettext_lazy("Error"), blank=True)
    callback_url = models.URLField(verbose_name=gettext_lazy("Callback URL"), max_length=2000, blank=True)
    callback_status = models.CharField(verbose_name=gettext_lazy("Callback status"), max_length=100, blank=True)
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now, editable=False)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("message")
        verbose_name_plural = gettext_lazy("messages")
        constraints = [models.UniqueConstraint(fields=["service", "key"], name="message_unique_key")]
        indexes = [models.Index(fields=["status", "send_at"], name="message_status_due")]

    def __str__(self) -> str:
        return f"{self.service}/{self.key}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.caller and self.token_id:  # created with a token (the shell, older code): the token owns it
            self.caller = f"token:{self.token_id}"
        super().save(*args, **kwargs)


class Callback(models.Model):
    """The final status of a run or an API message, POSTed to the callback URL its caller gave: signed with
    the caller's secret, retried with backoff like a Delivery (channels_app.callbacks). One per subject, so
    a repeated ending never tells the receiver twice."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        SENDING = "sending", gettext_lazy("Sending")
        SENT = "sent", gettext_lazy("Sent")
        RETRYING = "retrying", gettext_lazy("Waiting to retry")
        FAILED = "failed", gettext_lazy("Failed (permanent error)")
        DEAD = "dead", gettext_lazy("Dead (retries exhausted)")

    FINAL = (Status.SENT, Status.FAILED, Status.DEAD)

    subject = models.CharField(
        verbose_name=gettext_lazy("Subject"),
        max_length=100,
        unique=True,
        help_text=gettext_lazy("What it tells of: run:12, message:5."),
    )
    url = models.URLField(verbose_name=gettext_lazy("URL"), max_length=2000)
    body = models.JSONField(
        verbose_name=gettext_lazy("Body"),
        help_text=gettext_lazy("The status document, as it was when the subject ended."),
    )
    caller = models.CharField(
        verbose_name=gettext_lazy("Caller"), max_length=200, blank=True
    )  # scheduler.shared.api.Caller.key: whose secret signs
    status = models.CharField(
        verbose_name=gettext_lazy("Status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(verbose_name=gettext_lazy("Attempts"), default=0)
    next_attempt_at = models.DateTimeField(verbose_name=gettext_lazy("Next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(verbose_name=gettext_lazy("Claimed at"), null=True, blank=True)
    worker = models.CharField(verbose_name=gettext_lazy("Worker"), max_length=120, blank=True)
    signed = models.BooleanField(
        verbose_name=gettext_lazy("Signed"),
        null=True,
        help_text=gettext_lazy("Whether the last attempt was signed (its caller had a secret)."),
    )
    last_status_code = models.PositiveSmallIntegerField(
        verbose_name=gettext_lazy("Last status code"), null=True, blank=True
    )
    error = models.TextField(verbose_name=gettext_lazy("Error"), blank=True)
    sent_at = models.DateTimeField(verbose_name=gettext_lazy("Sent at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=gettext_lazy("Created at"), default=utc_now)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("callback")
        verbose_name_plural = gettext_lazy("callbacks")
        indexes = [
            models.Index(fields=["status", "-created_at"], name="callback_status_recent"),
            models.Index(
                fields=["next_attempt_at"], name="callback_due", condition=Q(status__in=["pending", "retrying"])
            ),
            models.Index(fields=["claimed_at"], name="callback_sending", condition=Q(status="sending")),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.get_status_display()}"


class Watch(models.Model):
    """One watched object's alerting: its policy (empty fields: the kind's defaults) and its state.

    The subject names the object (`job:7`, `job:7:late` for a job's dead man's switch, `source:12`,
    `person:45`, `channel:3`, `system:no_leader`); channels_app.alerts moves the state and publishes the
    alert, reminder and recovery events on the object's topic. A row exists once an object has failed, or has
    a policy of its own."""

    class State(models.TextChoices):
        OK = "ok", gettext_lazy("OK")
        FAILING = "failing", gettext_lazy("Failing, not alerted yet")
        ALERTING = "alerting", gettext_lazy("Alerting")

    subject = models.CharField(verbose_name=gettext_lazy("Object"), max_length=100, unique=True)
    name = models.CharField(verbose_name=gettext_lazy("Name"), max_length=300, blank=True)
    # Policy
    alert_after = models.PositiveIntegerField(
        verbose_name=gettext_lazy("Alert after (consecutive failures)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=gettext_lazy(
            "Empty: 1 for jobs, 3 for source checks, person checks and channels (a channel its provider says is "
            "down alerts at once)."
        ),
    )
    remind_every = models.DurationField(
        verbose_name=gettext_lazy("Remind every"),
        null=True,
        blank=True,
        validators=[bounds.at_least_a_minute],
        help_text=gettext_lazy("While it is still failing. Empty: no reminders."),
    )
    notify_recovery = models.BooleanField(verbose_name=gettext_lazy("Notify when it works again"), default=True)
    expect_every = models.DurationField(
        verbose_name=gettext_lazy("Must succeed at least every"),
        null=True,
        blank=True,
        validators=[bounds.at_least_a_minute],
        help_text=gettext_lazy("Jobs only: no success for this long (plus the grace) is an alert. Empty: off."),
    )
    expect_grace = models.DurationField(
        verbose_name=gettext_lazy("Grace"),
        null=True,
        blank=True,
        validators=[bounds.not_negative_duration],
    )
    policy_set_at = models.DateTimeField(
        verbose_name=gettext_lazy("Policy set at"), null=True, blank=True, editable=False
    )
    # State
    state = models.CharField(verbose_name=gettext_lazy("State"), max_length=10, choices=State.choices, default=State.OK)
    failures = models.PositiveIntegerField(verbose_name=gettext_lazy("Consecutive failures"), default=0)
    failing_since = models.DateTimeField(verbose_name=gettext_lazy("Failing since"), null=True, blank=True)
    alerted_at = models.DateTimeField(verbose_name=gettext_lazy("Alerted at"), null=True, blank=True)
    last_error = models.TextField(verbose_name=gettext_lazy("Last error"), blank=True)
    next_reminder_at = models.DateTimeField(verbose_name=gettext_lazy("Next reminder"), null=True, blank=True)
    reminders_sent = models.PositiveIntegerField(verbose_name=gettext_lazy("Reminders sent"), default=0)
    acknowledged_at = models.DateTimeField(verbose_name=gettext_lazy("Acknowledged at"), null=True, blank=True)
    acknowledged_by = models.CharField(verbose_name=gettext_lazy("Acknowledged by"), max_length=150, blank=True)
    silenced_until = models.DateTimeField(verbose_name=gettext_lazy("Silenced until"), null=True, blank=True)
    silenced_by = models.CharField(verbose_name=gettext_lazy("Silenced by"), max_length=150, blank=True)
    updated_at = models.DateTimeField(verbose_name=gettext_lazy("Updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("alert")
        verbose_name_plural = gettext_lazy("alerts")
        indexes = [
            models.Index(fields=["state", "-failing_since"], name="watch_open"),
            models.Index(fields=["next_reminder_at"], name="watch_reminder", condition=Q(state="alerting")),
        ]

    def __str__(self) -> str:
        return self.name or self.subject
