"""The operator's admin for delivery: channels (secrets write-only), recipients, subscriptions, templates,
deliveries, API tokens, API messages, the published events and the callbacks told of runs and messages.

Thin: validation is channels_app.forms' forms, actions are sending's, tokens' and scheduled's.
"""

from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from channels_app import (
    alerts,
    attachments,
    callbacks,
    digests,
    forms_alerts,
    rendering,
    scheduled,
    sending,
    tokens,
    views_alerts,
)
from channels_app import forms as channel_forms
from channels_app.models import (
    ApiToken,
    Attachment,
    Callback,
    Channel,
    Delivery,
    Event,
    Message,
    MessageTemplate,
    Recipient,
    Subscription,
    Watch,
)
from scheduler.admin import ReadOnlyAdmin, clip, local_time
from scheduler.shared import outbound, recorded, roles

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups
    from django_stubs_ext import StrOrPromise, WithAnnotations


class ChannelCounts(TypedDict):
    """ChannelAdmin.get_queryset's annotations."""

    recipient_count: int
    sent_count: int


class SubscriptionCount(TypedDict):
    """RecipientAdmin.get_queryset's annotation."""

    subscription_count: int


def _badge(label: "StrOrPromise", tone: str, title: str = "") -> SafeString:
    """A coloured status label: classes, not style="" (the Content-Security-Policy forbids inline styles)."""
    return format_html('<span class="vigia-badge vigia-{}" title="{}">{}</span>', tone, title, label)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "type", "topic", "key"]
    list_filter = ["type"]
    search_fields = ["topic", "key"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False  # many rows: no unfiltered COUNT(*)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = channel_forms.ChannelForm
    list_display = ["name", "kind", "enabled", "pace_per_minute", "recipient_count", "sent_last_day"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    ordering = ["name"]
    # `config` shows the kind's fields, its secrets among them as write-only inputs (the form's `secrets` reads them).
    edit_fields: "_FieldGroups" = ["name", "kind", "enabled", "pace_per_minute", "config"]

    def get_fields(self, request: HttpRequest, obj: Channel | None = None) -> "_FieldGroups":
        # A channel being added has no stored secrets to summarize.
        return self.edit_fields if obj is None else [*self.edit_fields, "stored_secrets"]

    def get_readonly_fields(self, request: HttpRequest, obj: Channel | None = None) -> list[str]:
        return ["stored_secrets"] if obj is not None else []

    def get_form(
        self, request: HttpRequest, obj: Channel | None = None, change: bool = False, **kwargs: Any
    ) -> "type[ModelForm[Channel]]":
        # `secrets` is a model field Django will not put in a ModelForm (editable=False): the form declares
        # its own write-only field, so only the model fields are named here.
        kwargs["fields"] = channel_forms.ChannelForm._meta.fields  # type: ignore[misc]  # Django sets _meta on the class
        return super().get_form(request, obj, change, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Channel]:
        since = timezone.now() - timedelta(hours=24)
        sent = (
            Delivery.objects.filter(recipient__channel=OuterRef("pk"), status=Delivery.Status.SENT, sent_at__gte=since)
            .order_by()
            .values("recipient__channel")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                recipient_count=Count("recipients", distinct=True),
                sent_count=Coalesce(Subquery(sent, output_field=IntegerField()), 0),
            )
        )

    @admin.display(description=gettext_lazy("Recipients"), ordering="recipient_count")
    def recipient_count(self, channel: "WithAnnotations[Channel, ChannelCounts]") -> int:
        return channel.recipient_count

    @admin.display(description=gettext_lazy("Sent (24 h)"), ordering="sent_count")
    def sent_last_day(self, channel: "WithAnnotations[Channel, ChannelCounts]") -> int:
        return channel.sent_count

    @admin.display(description=gettext_lazy("Stored secrets"))
    def stored_secrets(self, channel: Channel) -> str:
        return channel_forms.secrets_summary(channel)


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    form = channel_forms.RecipientForm
    list_display = ["address", "label", "channel", "active", "subscription_count"]
    list_filter = ["channel", "active"]
    search_fields = ["address", "label"]
    ordering = ["channel__name", "address"]
    list_select_related = ["channel"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Recipient]:
        return super().get_queryset(request).annotate(subscription_count=Count("subscriptions"))

    @admin.display(description=gettext_lazy("Subscriptions"), ordering="subscription_count")
    def subscription_count(self, recipient: "WithAnnotations[Recipient, SubscriptionCount]") -> int:
        return recipient.subscription_count


@admin.register(Watch)
class WatchAdmin(admin.ModelAdmin):
    """Each watched object's alert: its policy edited here (the Watch fields' validators), its state read-only
    (channels_app.alerts moves it); acknowledge and silence as on the dashboard, for operators."""

    list_display = ["subject", "name", "state_badge", "failures", "since", "silenced"]
    list_filter = ["state"]
    search_fields = ["subject", "name"]
    ordering = ["state", "-failing_since", "subject"]
    show_full_result_count = False
    actions = ["acknowledge", "silence_hour", "silence_day", "unsilence"]
    POLICY = ["alert_after", "remind_every", "notify_recovery", "expect_every", "expect_grace"]
    DEADLINE = ["expect_every", "expect_grace"]  # jobs only: the dead man's switch
    STATE = [
        "subject",
        "name",
        "state",
        "state_words",
        "failures",
        "failing_since",
        "alerted_at",
        "last_error",
        "next_reminder_at",
        "reminders_sent",
        "acknowledged_at",
        "acknowledged_by",
        "silenced_until",
        "silenced_by",
        "policy_set_at",
        "updated_at",
    ]

    def get_fields(self, request: HttpRequest, obj: Watch | None = None) -> "_FieldGroups":
        job = obj is None or obj.subject.startswith("job:")
        policy = [name for name in self.POLICY if job or name not in self.DEADLINE]
        return [*self.STATE[:4], *policy, *self.STATE[4:]]

    def get_readonly_fields(self, request: HttpRequest, obj: Watch | None = None) -> list[str]:
        return self.STATE

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a Watch is made by the first failure or a policy set on the object's page

    def has_view_permission(self, request: HttpRequest, obj: Watch | None = None) -> bool:
        return self.has_operate_permission(request) or super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Watch | None = None) -> bool:
        return self.has_operate_permission(request)

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return roles.can(request.user, "operate")

    def save_model(self, request: HttpRequest, obj: Watch, form: "ModelForm[Watch]", change: bool) -> None:
        # The policy fields only: the state moves under its own lock and is not written back from the form.
        policy = {name: form.cleaned_data[name] for name in self.POLICY if name in form.cleaned_data}
        forms_alerts.set_policy(obj.subject, obj.name, policy)

    @admin.display(description=gettext_lazy("State"), ordering="state")
    def state_badge(self, watch: Watch) -> SafeString:
        tone = {"bad": "broken", "warn": "failing", "ok": "ok"}[views_alerts.tone(watch)]
        return _badge(watch.get_state_display(), tone, " · ".join(views_alerts.state_words(watch)))

    @admin.display(description=gettext_lazy("State in words"))
    def state_words(self, watch: Watch) -> str:
        return " · ".join(views_alerts.state_words(watch))

    @admin.display(description=gettext_lazy("Failing since"), ordering="failing_since")
    def since(self, watch: Watch) -> str:
        return local_time(watch.failing_since)

    @admin.display(description=gettext_lazy("Silenced until"), ordering="silenced_until")
    def silenced(self, watch: Watch) -> str:
        if not watch.silenced_until or watch.silenced_until <= timezone.now():
            return "—"
        return local_time(watch.silenced_until)

    def _done(self, request: HttpRequest, count: int) -> None:
        text = ngettext("%(count)d alert changed.", "%(count)d alerts changed.", count) % {"count": count}
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Acknowledge (no more reminders)"), permissions=["operate"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Watch]) -> None:
        watches = list(queryset)
        for watch in watches:
            alerts.acknowledge(watch, request.user.get_username())
        self._done(request, len(watches))

    def _silence(self, request: HttpRequest, queryset: QuerySet[Watch], period: timedelta | None) -> None:
        watches = list(queryset)
        until = timezone.now() + period if period else None
        for watch in watches:
            alerts.silence(watch, until, request.user.get_username())
        self._done(request, len(watches))

    @admin.action(description=gettext_lazy("Silence for 1 hour"), permissions=["operate"])
    def silence_hour(self, request: HttpRequest, queryset: QuerySet[Watch]) -> None:
        self._silence(request, queryset, timedelta(hours=1))

    @admin.action(description=gettext_lazy("Silence for 1 day"), permissions=["operate"])
    def silence_day(self, request: HttpRequest, queryset: QuerySet[Watch]) -> None:
        self._silence(request, queryset, timedelta(days=1))

    @admin.action(description=gettext_lazy("Unsilence"), permissions=["operate"])
    def unsilence(self, request: HttpRequest, queryset: QuerySet[Watch]) -> None:
        self._silence(request, queryset, None)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = channel_forms.SubscriptionForm
    list_display = ["topic", "recipient", "types", "delivery"]
    list_filter = ["recipient__channel", "digest"]
    search_fields = ["topic"]
    ordering = ["topic", "id"]
    list_select_related = ["recipient__channel"]
    readonly_fields = ["digest_through"]  # the digests' own bookkeeping (channels_app.digests)

    @admin.display(description=gettext_lazy("Event types"))
    def types(self, subscription: Subscription) -> str:
        return ", ".join(subscription.event_types) or _("all")

    @admin.display(description=gettext_lazy("Delivery"), ordering="digest")
    def delivery(self, subscription: Subscription) -> str:
        return digests.in_words(subscription) or _("at once")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = channel_forms.MessageTemplateForm
    list_display = ["name", "subject", "updated_at"]
    search_fields = ["name", "subject", "body"]
    ordering = ["name"]

    def get_fields(self, request: HttpRequest, obj: MessageTemplate | None = None) -> "_FieldGroups":
        return ["name", "subject", "body"] if obj is None else ["name", "subject", "body", "preview"]

    def get_readonly_fields(self, request: HttpRequest, obj: MessageTemplate | None = None) -> list[str]:
        return [] if obj is None else ["preview"]

    @admin.display(description=gettext_lazy("Preview (sample values)"))
    def preview(self, template: MessageTemplate) -> SafeString:
        subject, text = channel_forms.preview(template.name, template.subject, template.body)
        # format_html escapes: a template's output is plain text, never markup for this page.
        return format_html('<strong>{}</strong><pre class="vigia-pre">{}</pre>', subject, text)


class EventTypeFilter(admin.SimpleListFilter):
    # Fixed choices: the distinct types of millions of deliveries would be a scan.
    title = gettext_lazy("event type")
    parameter_name = "event_type"

    def lookups(self, request: HttpRequest, model_admin: "admin.ModelAdmin[Any]") -> list[tuple[str, str]]:
        return [(name, name) for name in rendering.EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        return queryset.filter(event__type=self.value()) if self.value() else queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "status_badge",
        "channel",
        "recipient",
        "event_type",
        "attempts",
        "sent_at",
        "problem",
    ]
    list_filter = ["status", ("recipient__channel", admin.RelatedOnlyFieldListFilter), EventTypeFilter]
    search_fields = ["provider_id", "recipient__address", "error", "template_error"]
    ordering = ["-created_at", "-id"]
    list_select_related = ["recipient__channel", "event"]
    show_full_result_count = False  # many rows: no unfiltered COUNT(*)
    actions = ["retry"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("channels_app.change_delivery")

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_badge(self, delivery: Delivery) -> SafeString:
        return _badge(delivery.get_status_display(), delivery.status, delivery.error)

    @admin.display(description=gettext_lazy("Channel"), ordering="recipient__channel__name")
    def channel(self, delivery: Delivery) -> str:
        return delivery.recipient.channel.name

    @admin.display(description=gettext_lazy("Event"), ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description=gettext_lazy("Error"))
    def problem(self, delivery: Delivery) -> str:
        if delivery.error:
            return clip(delivery.error, 60)
        if not delivery.template_error:
            return ""
        return clip(_("Template not used: %(error)s") % {"error": delivery.template_error}, 60)

    @admin.action(description=gettext_lazy("Retry (dead and failed ones)"), permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        revived = sending.revive(queryset)
        text = ngettext("Queued %(count)d delivery again.", "Queued %(count)d deliveries again.", revived) % {
            "count": revived
        }
        self.message_user(request, text, messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Adding uses channels_app.forms_tokens.ApiTokenForm (the tokens page's and create_api_token's checks);
    # the token itself is made by tokens.create and shown once. Never the digest or the callback secret.
    list_display = ["name", "prefix", "scope_list", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    ordering = ["name"]
    actions = ["revoke"]
    shown_fields: "_FieldGroups" = [
        "name",
        "prefix",
        "scopes",
        "expires_at",
        "channels",
        "addresses",
        "rate_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> "_FieldGroups":
        from channels_app.forms_tokens import ApiTokenForm

        return list(ApiTokenForm.Meta.fields) if obj is None else self.shown_fields

    def get_form(
        self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False, **kwargs: Any
    ) -> "type[ModelForm[ApiToken]]":
        from channels_app.forms_tokens import ApiTokenForm

        if obj is None:
            kwargs["form"] = ApiTokenForm.for_user(request.user)  # no scope beyond the creator's role
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description=gettext_lazy("Scopes"))
    def scope_list(self, token: ApiToken) -> str:
        return " ".join(token.scopes or []) or "—"

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # a token is created and revoked, never edited

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("channels_app.change_apitoken")

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: Any) -> None:
        token, raw = form.create()  # ApiTokenForm: tokens.create with the form's scopes and limits
        # The admin goes on with `obj` (its log entry, the redirect): make it the stored token.
        obj.pk, obj.prefix, obj.digest, obj.created_at = token.pk, token.prefix, token.digest, token.created_at
        obj._state.adding, obj._state.db = False, token._state.db
        secret = token.callback_secret["secret"]
        self.message_user(
            request,
            _(
                "The token for %(name)s: %(token)s — its callback secret: %(secret)s — copy both now, they cannot "
                "be shown again."
            )
            % {"name": token.name, "token": raw, "secret": secret},
            messages.WARNING,
        )

    @admin.action(description=gettext_lazy("Revoke"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = tokens.revoke(queryset)
        text = ngettext("Revoked %(count)d token.", "Revoked %(count)d tokens.", count) % {"count": count}
        self.message_user(request, text, messages.SUCCESS)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["service", "key", "channel", "to", "send_time", "status", "callback"]
    list_filter = ["status", "channel"]
    search_fields = ["service", "key"]
    ordering = ["-send_at", "-id"]
    list_select_related = ["channel"]
    show_full_result_count = False
    actions = ["cancel"]

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("channels_app.change_message")

    @admin.display(description=gettext_lazy("Send at"), ordering="send_at")
    def send_time(self, message: Message) -> str:
        return local_time(message.send_at)

    @admin.display(description=gettext_lazy("Callback"), ordering="callback_status")
    def callback(self, message: Message) -> str:
        """What became of its callback ("sent (HTTP 200)", "retrying: HTTP 503"…; see the Callbacks list)."""
        return clip(message.callback_status, 60) if message.callback_url else "—"

    @admin.action(description=gettext_lazy("Cancel"), permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        chosen = list(queryset)
        cancelled = sum(scheduled.cancel(message) for message in chosen)
        text = ngettext("Cancelled %(count)d message.", "Cancelled %(count)d messages.", cancelled) % {
            "count": cancelled
        }
        if cancelled < len(chosen):
            busy = len(chosen) - cancelled
            text += " " + ngettext("%(count)d already sending or done.", "%(count)d already sending or done.", busy) % {
                "count": busy
            }
        self.message_user(request, text, messages.SUCCESS)


@admin.register(Callback)
class CallbackAdmin(ReadOnlyAdmin):
    """Every callback told of a run's or a message's final status, with its attempts (read-only)."""

    list_display = ["subject", "host", "status_badge", "attempts", "last_status_code", "next_attempt", "sent_time"]
    list_filter = ["status", "signed"]
    search_fields = ["subject"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False  # many rows: no unfiltered COUNT(*)

    @admin.display(description=gettext_lazy("Host"))
    def host(self, callback: Callback) -> str:
        return callbacks.url_host(callback.url)

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_badge(self, callback: Callback) -> SafeString:
        return _badge(callback.get_status_display(), callback.status, callback.error)

    @admin.display(description=gettext_lazy("Next attempt"), ordering="next_attempt_at")
    def next_attempt(self, callback: Callback) -> str:
        waiting = callback.status in (Callback.Status.PENDING, Callback.Status.RETRYING)
        return local_time(callback.next_attempt_at) if waiting else "—"

    @admin.display(description=gettext_lazy("Sent at"), ordering="sent_at")
    def sent_time(self, callback: Callback) -> str:
        return local_time(callback.sent_at)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """The files messages carried (read-only; their bytes are never shown here), with why one was left out."""

    list_display = ["file", "status_badge", "content_type", "size_shown", "fetched_time", "used_time", "reason"]
    list_filter = ["status", "content_type"]
    search_fields = ["url", "name"]
    ordering = ["-last_used_at", "-id"]
    show_full_result_count = False  # many rows: no unfiltered COUNT(*)
    actions = ["fetch_again"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Attachment]:
        return super().get_queryset(request).defer("data")

    def get_readonly_fields(self, request: HttpRequest, obj: Any | None = None) -> list[str]:
        shown = [name for name in super().get_readonly_fields(request, obj) if name not in ("data", "error")]
        return [*shown, "reason"]

    def has_fetch_again_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("channels_app.change_attachment")

    @admin.display(description=gettext_lazy("File"), ordering="name")
    def file(self, attachment: Attachment) -> str:
        return clip(attachment.name or attachment.url, 60)

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_badge(self, attachment: Attachment) -> SafeString:
        tone = {"stored": "sent", "refused": "failed"}.get(attachment.status, "pending")
        return _badge(attachment.get_status_display(), tone, recorded.translated(attachment.error))

    @admin.display(description=gettext_lazy("Size"), ordering="size")
    def size_shown(self, attachment: Attachment) -> str:
        return outbound.size_text(attachment.size) if attachment.size is not None else "—"

    @admin.display(description=gettext_lazy("Fetched at"), ordering="fetched_at")
    def fetched_time(self, attachment: Attachment) -> str:
        return local_time(attachment.fetched_at)

    @admin.display(description=gettext_lazy("Last used at"), ordering="last_used_at")
    def used_time(self, attachment: Attachment) -> str:
        return local_time(attachment.last_used_at)

    @admin.display(description=gettext_lazy("Why refused"))
    def reason(self, attachment: Attachment) -> str:
        return recorded.translated(attachment.error)  # stored in English

    @admin.action(description=gettext_lazy("Fetch again (refused ones)"), permissions=["fetch_again"])
    def fetch_again(self, request: HttpRequest, queryset: QuerySet[Attachment]) -> None:
        count = attachments.fetch_again(queryset)
        text = ngettext(
            "%(count)d file will be fetched again by the next message that carries it.",
            "%(count)d files will be fetched again by the next message that carries them.",
            count,
        ) % {"count": count}
        self.message_user(request, text, messages.SUCCESS)
