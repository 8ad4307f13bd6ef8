"""The forms that validate channels, recipients, subscriptions and templates (the admin's and any later
page's), template previews; test_send and its form live in channels_app.sendtest (imported here too).

Secrets are write-only: ChannelForm never renders a stored secret (nor one just typed, when the form comes
back with errors), and its error messages name settings, never their values.
"""

from collections.abc import Iterable, Sequence
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app import digests, rendering, topics
from channels_app.kinds import base as kinds
from channels_app.models import Channel, MessageTemplate, Recipient, Subscription
from scheduler.shared import bounds, crypto, kind_fields
from scheduler.shared.kind_registry import add_nested_errors

# --- channels --------------------------------------------------------------------------------------


class ChannelForm(forms.ModelForm):
    kind = forms.CharField(label=gettext_lazy("Kind"), widget=forms.Select)
    pace_per_minute = forms.IntegerField(
        label=gettext_lazy("Pace per minute"),
        required=False,
        min_value=1,
        max_value=6000,
        help_text=gettext_lazy("At most this many messages a minute. Empty: no limit."),
    )
    # The kind's own fields (kind_fields), its secrets among them as write-only inputs read by `secrets`.
    config = kind_fields.KindSettingsField(
        kinds.channel_kinds,
        endpoint="channels",
        secrets_field="secrets",
        required=False,
        initial=dict,
        label=gettext_lazy("Settings of the kind"),
    )
    secrets = bounds.JSONField(
        required=False,
        widget=kind_fields.KindSecretsInput(kinds.channel_kinds, settings="config"),
        help_text=gettext_lazy(
            'Write-only JSON object, e.g. {"token": "…"}. Never shown again; leave empty to keep the stored '
            "secrets, give a key to replace that one."
        ),
    )

    instance: Channel

    class Meta:
        model = Channel
        fields = ["name", "kind", "enabled", "pace_per_minute", "config"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].widget.choices = [("", "---------"), *kinds.choices()]
        kind_fields.follow_kind(self, "config")
        config = cast(kind_fields.KindSettingsField, self.fields["config"])
        config.secrets_set = lambda: {key for key, value in self._stored_secrets().items() if value}
        self._secrets: dict[str, Any] | None = None

    def clean_kind(self) -> str:
        return kinds.clean_name(self.cleaned_data["kind"])  # its message lists the kinds that exist

    def clean_config(self) -> dict[str, Any]:
        return _json_object(self.cleaned_data.get("config"), _("The settings must be a JSON object."))

    def clean_secrets(self) -> dict[str, Any]:
        return _json_object(self.cleaned_data.get("secrets"), _("The secrets must be a JSON object."))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # a ModelForm's clean returns its cleaned_data
        kind_name = data.get("kind")
        if not kind_name or {"kind", "config", "secrets"} & set(self.errors):
            return data
        secret_names = set(kinds.get(kind_name).secret_fields)
        public, new = data.get("config") or {}, data.get("secrets") or {}
        misplaced = sorted(secret_names & set(public))
        if misplaced:
            self.add_error(
                "config", _("Write-only, give it under secrets: %(names)s.") % {"names": ", ".join(misplaced)}
            )
        unknown = sorted(set(new) - secret_names)
        if unknown:
            allowed = ", ".join(sorted(secret_names)) or _("none")
            message = _("Not a secret of this kind: %(names)s (its secrets: %(allowed)s).")
            self.add_error("secrets", message % {"names": ", ".join(unknown), "allowed": allowed})
        if misplaced or unknown:
            return data
        # Stored secrets the (possibly new) kind knows, replaced key by key by the ones just given.
        stored = {key: value for key, value in self._stored_secrets().items() if key in secret_names}
        try:
            cleaned = kinds.channel_kinds.clean(kind_name, {**public, **stored, **new})
        except ValidationError as exc:
            self._add_setting_errors(exc, secret_names)
            return data
        data["config"], self._secrets = kinds.split_config(kind_name, cleaned)
        return data

    def _stored_secrets(self) -> dict[str, Any]:
        # Secrets no key opens count as unset: giving them again is how the operator recovers the channel.
        try:
            return self.instance.secrets or {}
        except crypto.SecretsUnreadable:
            return {}

    def _add_setting_errors(self, error: ValidationError, secret_names: set[str]) -> None:
        """A secret's errors go under `secrets`, the others under `config` (messages never hold values)."""
        on_secrets: dict[str, list[str]] = {}
        on_config: dict[str, list[str]] = {}
        for key, messages in error.message_dict.items():
            is_secret = key.removeprefix("config.") in secret_names
            target = on_secrets if is_secret else on_config
            target[key.replace("config.", "secrets.", 1) if is_secret else key] = messages
        if on_secrets:
            add_nested_errors(self, "secrets", ValidationError(on_secrets))
        if on_config:
            add_nested_errors(self, "config", ValidationError(on_config))

    def save(self, commit: bool = True) -> Channel:
        self.instance.secrets = self._secrets or {}
        if self.instance.pk and self.changed_data:  # edited (a new token, server...): no longer known to be down
            self.instance.down_since, self.instance.down_reason = None, ""
        return super().save(commit)


def _json_object(value: object, message: str) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(message)
    return value


def secrets_summary(channel: Channel) -> str:
    """Which secrets are set ("token: set"), never what they are."""
    try:
        names: Sequence[str] = kinds.get(channel.kind).secret_fields
    except KeyError:
        names = ()
    try:
        stored = channel.secrets or {}
    except crypto.SecretsUnreadable:
        return _(
            "cannot be decrypted with the configured keys: add the key to VIGIA_ENCRYPTION_KEYS or enter them again"
        )
    names = [*names, *sorted(set(stored) - set(names))]
    return (
        ", ".join(
            (_("%(name)s: set") if stored.get(name) else _("%(name)s: not set")) % {"name": name} for name in names
        )
        or "—"
    )


# --- recipients and subscriptions ------------------------------------------------------------------


class RecipientForm(forms.ModelForm):
    instance: Recipient

    class Meta:
        model = Recipient
        fields = ["channel", "address", "label", "active", "time_zone", "quiet_from", "quiet_until"]
        widgets = {
            # the zone names offered by the page's datalist (scheduler/_job_zones.html); any name is checked
            "time_zone": forms.TextInput(attrs={"list": "zone-names", "spellcheck": "false", "autocomplete": "off"}),
            "quiet_from": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_until": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean_time_zone(self) -> str:
        return (self.cleaned_data.get("time_zone") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # a ModelForm's clean returns its cleaned_data
        self._check_quiet_hours(data)
        channel = data.get("channel")
        if channel is None or "address" in self.errors:
            return data
        kind = kinds.find(channel.kind)  # looked up apart: a KeyError inside clean_address is a bug, not this
        if kind is None:
            self.add_error("channel", _("The channel's kind '%(kind)s' is not available.") % {"kind": channel.kind})
            return data
        try:
            address = kind.clean_address(data.get("address") or "")
        except ValidationError as exc:
            self.add_error("address", exc)
            return data
        taken = Recipient.objects.filter(channel=channel, address=address).exclude(pk=self.instance.pk)
        if taken.exists():
            self.add_error(
                "address",
                _("%(channel)s already has the recipient '%(address)s'.")
                % {"channel": channel.name, "address": address},
            )
        data["address"] = address
        return data

    def _check_quiet_hours(self, data: dict[str, Any]) -> None:
        """Quiet hours: both ends or neither (22:00–07:00 runs over midnight), never the same time."""
        if "quiet_from" in self.errors or "quiet_until" in self.errors:
            return
        start, end = data.get("quiet_from"), data.get("quiet_until")
        if start is not None and end is None:
            self.add_error("quiet_until", _("Give both ends of the quiet hours, or neither."))
        elif end is not None and start is None:
            self.add_error("quiet_from", _("Give both ends of the quiet hours, or neither."))
        elif start is not None and start == end:
            self.add_error("quiet_until", _("The quiet hours must end at another time than they start."))


class EventTypesField(forms.MultipleChoiceField):
    """Event types ticked in words: a box's value may stand for several types ("source.broken,source.recovered");
    any known type is accepted too (the admin's and the API's posts). Cleans to a flat list of types."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=_event_choices, widget=forms.CheckboxSelectMultiple, **kwargs)

    def valid_value(self, value: str) -> bool:
        return all(name in rendering.EVENT_TYPES for name in str(value).split(","))

    def clean(self, value: Any) -> list[str]:
        ticked = super().clean(value)
        return list(dict.fromkeys(name for box in ticked for name in box.split(",")))

    def prepare_value(self, value: Any) -> list[str]:
        # The boxes whose types are all in the list (a subscription's, or what was posted).
        types = {name for box in value or [] for name in str(box).split(",")}
        boxes = cast(Iterable[tuple[str, str]], self.choices)
        return [box for box, _words in boxes if set(str(box).split(",")) <= types]


def _event_choices() -> list[tuple[str, str]]:
    return [(",".join(types), str(words)) for words, types in topics.all_events()]


class SubscriptionForm(forms.ModelForm):
    topic = forms.CharField(
        label=gettext_lazy("Notify about"),
        max_length=200,
        widget=forms.Select,
        help_text=gettext_lazy("A pattern, or one source, person or job."),
    )
    event_types = EventTypesField(
        label=gettext_lazy("Events"), required=False, help_text=gettext_lazy("None ticked: every event.")
    )
    # Delivery: at once, or a digest (channels_app.digests). The rules are digests.check's, shared by every path.
    digest_hours = forms.IntegerField(
        label=gettext_lazy("Every (hours)"),
        required=False,
        widget=forms.NumberInput(attrs={"min": digests.HOURS_MIN, "max": digests.HOURS_MAX}),
        help_text=gettext_lazy("For a digest every few hours: 1 to 168, counted from midnight."),
    )
    digest_at = forms.TimeField(
        label=gettext_lazy("Daily at"),
        required=False,
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
        help_text=gettext_lazy("For a daily digest: HH:MM on the recipient's clock."),
    )

    instance: Subscription
    offers_topics = True  # a select of every pattern and object (a few queries)

    class Meta:
        model = Subscription
        fields = ["recipient", "topic", "event_types", "digest", "digest_hours", "digest_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_digest = self.instance.digest if self.instance.pk else ""
        self.fields["digest"].help_text = _("At once: a message per event. A digest: one message per period.")
        cast(forms.ModelChoiceField, self.fields["recipient"]).queryset = Recipient.objects.select_related("channel")
        if self.offers_topics:
            self._offer_topics()

    def _offer_topics(self) -> None:
        offered: list[tuple[str, Any]] = [("", _("Choose…")), *topics.choices()]
        current = self.instance.topic or self.initial.get("topic")
        if current and not any(current == value for _group, options in offered[1:] for value, _label in options):
            offered.append((current, topics.describe([current])[current][0]))  # kept, not silently replaced
        self.fields["topic"].widget.choices = offered

    def clean_topic(self) -> str:
        return topics.validate(self.cleaned_data["topic"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # a ModelForm's clean returns its cleaned_data
        recipient, topic = data.get("recipient"), data.get("topic")
        if recipient is not None and topic:
            taken = Subscription.objects.filter(recipient=recipient, topic=topic).exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error(
                    "topic",
                    _("%(recipient)s is already subscribed to %(topic)s.")
                    % {"recipient": recipient, "topic": topics.describe([topic])[topic][0]},
                )
        if topic and data.get("event_types"):
            try:
                topics.check_event_types(topic, data["event_types"])
            except ValidationError as exc:
                self.add_error("event_types", exc)
        if "digest" not in self.errors:
            problems = digests.check(data.get("digest") or "", data.get("digest_hours"), data.get("digest_at"))
            for field, error in problems.items():
                if field not in self.errors:
                    self.add_error(field, error)
        return data

    def save(self, commit: bool = True) -> Subscription:
        if not self.errors and self.instance.digest and not self._stored_digest:  # (errors: cleans first)
            # Now a digest: its first one starts here (what was sent at once is not told again).
            self.instance.digest_through = timezone.now()
        return super().save(commit)


class NotifyForm(SubscriptionForm):
    """The Notify panel's form on an object's page: its topic is the page's, the recipient is picked by channel
    and the events are the ones that object publishes, all ticked at first. Given the recipient's existing
    subscription as `instance`, it updates that one's events (subscribing again is no error)."""

    offers_topics = False

    def __init__(self, topic: str, *args: Any, **kwargs: Any) -> None:
        # Its own ids: the page around the panel has forms of its own.
        super().__init__(*args, initial={"topic": topic}, auto_id="notify-%s", **kwargs)
        self.page_topic = topic
        self.fields["topic"].widget, self.fields["topic"].required = forms.HiddenInput(), False
        offered = recipient_choices(Recipient.objects.select_related("channel"))
        self.has_recipients = bool(offered)
        cast(forms.ModelChoiceField, self.fields["recipient"]).choices = [("", _("Choose a recipient…")), *offered]
        events = cast(EventTypesField, self.fields["event_types"])
        events.choices = [(",".join(types), str(words)) for words, types in topics.events(topic) or []]
        events.required = True
        events.error_messages["required"] = _("Tick at least one event.")
        events.help_text = ""
        events.initial = [",".join(types) for _words, types in topics.events(topic) or []]

    def clean_topic(self) -> str:
        return topics.validate(self.page_topic)  # the page's, whatever was posted

    def clean_event_types(self) -> list[str]:
        ticked = self.cleaned_data["event_types"]
        # All of them ticked is stored as "all events": an event type added later is heard too.
        return [] if set(ticked) >= set(topics.event_types(self.page_topic)) else ticked


def recipient_choices(recipients: QuerySet[Recipient]) -> list[tuple[Any, Any]]:
    """Grouped by channel, by label or address: active recipients on enabled channels first, then the others
    (at most topics.LIMIT in all: importing people makes a recipient of every phone they list)."""
    active: dict[str, list[tuple[int, str]]] = {}
    paused: list[tuple[int, str]] = []
    usable = Q(active=True, channel__enabled=True)
    ordered = recipients.annotate(usable=ExpressionWrapper(usable, output_field=BooleanField()))
    for recipient in ordered.order_by("-usable", "channel__name", "label", "address")[: topics.LIMIT]:
        who = recipient.label or recipient.address or _("(channel)")
        if recipient.active and recipient.channel.enabled:
            active.setdefault(recipient.channel.name, []).append((recipient.pk, who))
        else:
            paused.append((recipient.pk, f"{who} · {recipient.channel.name}"))
    groups: list[tuple[Any, Any]] = list(active.items())
    if paused:
        groups.append((_("Inactive, or on a disabled channel"), paused))
    return groups


# --- templates -------------------------------------------------------------------------------------


class MessageTemplateForm(forms.ModelForm):
    instance: MessageTemplate

    class Meta:
        model = MessageTemplate
        fields = ["name", "subject", "body"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].help_text = _(
                "An event type (%(types)s) to replace its default wording, or any "
                "other name for API messages with positional placeholders {{1}}, {{2}}…"
            ) % {"types": ", ".join(rendering.EVENT_TYPES)}

    def clean_subject(self) -> str:
        subject = self.cleaned_data.get("subject") or ""
        rendering.check(subject)
        return subject

    def clean_body(self) -> str:
        body = self.cleaned_data.get("body") or ""
        rendering.check(body)
        return body

    def clean(self) -> dict[str, Any]:
        # A template that compiles may still fail when rendered ({% include "nope.txt" %}, a filter given
        # the wrong argument, a loop without end): it is tried on a sample event of its type first.
        data = super().clean()
        assert data is not None  # a ModelForm's clean returns its cleaned_data
        if not {"name", "subject", "body"} & set(self.errors):
            for field, error in rendering.trial(data["name"], data.get("subject", ""), data["body"]).items():
                self.add_error(field, error)
        return data

    def preview(self) -> tuple[str, ...]:
        """(subject, text) with sample values: of what was posted when valid, else of the stored template."""
        if self.is_bound and self.is_valid():
            data = self.cleaned_data
            return preview(data["name"], data.get("subject", ""), data["body"])
        return preview(self.instance.name, self.instance.subject, self.instance.body)


def preview(name: str, subject: str, body: str) -> tuple[str, ...]:
    """(subject, text) of a template filled with sample values: a sample event for an event type's template,
    ⟨1⟩, ⟨2⟩… for a named one's placeholders. Plain text, not escaped: escape it to show it in HTML."""
    if name in rendering.DEFAULTS:
        default_subject, _default_body = rendering.DEFAULTS[name]
        try:
            return tuple(
                rendering.bounded(source, rendering.sample(name)) for source in (subject or default_subject, body)
            )
        except Exception as exc:  # noqa: BLE001 - a template that compiles may still fail on sample data
            return subject, _("Cannot render: %(error)s") % {"error": rendering.describe(exc)}
    numbers = rendering.placeholders(f"{subject}\n{body}")
    params = [f"⟨{number}⟩" for number in range(1, max(numbers, default=0) + 1)]
    try:
        return rendering.fill_positional(subject, params), rendering.fill_positional(body, params)
    except ValidationError as exc:  # {{0}}: no parameter can fill it
        return subject, " ".join(exc.messages)


# --- a test message: channels_app.sendtest (kept importable from here) ----------------------------------

from channels_app.sendtest import TestSendForm as TestSendForm  # noqa: E402
from channels_app.sendtest import test_send as test_send  # noqa: E402
