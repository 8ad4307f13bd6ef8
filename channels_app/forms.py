"""The forms that validate channels, recipients, subscriptions and templates (the admin's and any later
page's), template previews; test_send and its form live in channels_app.sendtest (imported here too).

Secrets are write-only: ChannelForm never renders a stored secret (nor one just typed, when the form comes
back with errors), and its error messages name settings, never their values.
"""

import json
import re
from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.forms.renderers import BaseRenderer
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app import crypto, rendering, topics
from channels_app.kinds import base as kinds
from channels_app.models import Channel, MessageTemplate, Recipient, Subscription
from scheduler.shared import bounds
from scheduler.shared.kind_registry import add_nested_errors

TOPIC = re.compile(r"^(\*|[A-Za-z0-9_-]+:[A-Za-z0-9_:*.-]+)$")


# --- channels --------------------------------------------------------------------------------------


def _all_secret_names() -> set[str]:
    return {name for kind_name in kinds.names() for name in kinds.get(kind_name).secret_fields}


class RedactedJSONInput(forms.Textarea):
    """The public settings, without any secret a user typed there by mistake (they come back as errors)."""

    def format_value(self, value: Any) -> Any:
        try:
            data = bounds.load_json(value) if isinstance(value, str) else value
        except ValueError:  # shown back to be corrected, unless it seems to hold a secret
            return "" if any(f'"{name}"' in value for name in _all_secret_names()) else value
        if isinstance(data, dict):
            data = {key: item for key, item in data.items() if key not in _all_secret_names()}
            return json.dumps(data, ensure_ascii=False, indent=2)
        return value


class WriteOnlyInput(forms.Textarea):
    """Renders empty, always: neither a stored secret nor the one just posted goes back to the browser."""

    def format_value(self, value: Any) -> None:
        return None


def _settings_help() -> str:
    lines = []
    for name in kinds.names():
        kind = kinds.get(name)
        public = [field for field in kind.Config.base_fields if field not in kind.secret_fields]
        lines.append(
            _("%(kind)s: %(settings)s; secrets: %(secrets)s")
            % {"kind": name, "settings": ", ".join(public) or "—", "secrets": ", ".join(kind.secret_fields) or "—"}
        )
    return " · ".join(lines)


class ChannelForm(forms.ModelForm):
    kind = forms.CharField(widget=forms.Select)
    pace_per_minute = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=6000,
        help_text=gettext_lazy("At most this many messages a minute. Empty: no limit."),
    )
    config = bounds.JSONField(required=False, initial=dict, widget=RedactedJSONInput(attrs={"rows": 4}))
    secrets = bounds.JSONField(
        required=False,
        widget=WriteOnlyInput(attrs={"rows": 3, "autocomplete": "off"}),
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
        self.fields["config"].help_text = _("JSON object of the kind's settings. %(kinds)s") % {
            "kinds": _settings_help()
        }
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
        fields = ["channel", "address", "label", "active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # a ModelForm's clean returns its cleaned_data
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


class DatalistInput(forms.TextInput):
    """A free text input with suggestions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices: list[tuple[str, str]] = []

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: BaseRenderer | None = None
    ) -> SafeString:
        list_id = f"{(attrs or {}).get('id') or name}_choices"
        html = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.choices)
        return html + format_html('<datalist id="{}">{}</datalist>', list_id, options)


class SubscriptionForm(forms.ModelForm):
    topic = forms.CharField(
        max_length=200,
        widget=DatalistInput,
        help_text=gettext_lazy(
            "source:12, person:45, job:7:failed, sources:broken, people:expired, or * for everything; "
            "* also works inside a topic (source:*)."
        ),
    )
    event_types = forms.MultipleChoiceField(
        required=False,
        choices=[(name, name) for name in rendering.EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every event type."),
    )

    instance: Subscription

    class Meta:
        model = Subscription
        fields = ["recipient", "topic", "event_types"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["recipient"]).queryset = Recipient.objects.select_related("channel")
        self.fields["topic"].widget.choices = topics.choices()

    def clean_topic(self) -> str:
        topic = self.cleaned_data["topic"].strip()
        if not TOPIC.match(topic):
            raise ValidationError(
                _("A topic is * or name:value (source:12, job:*:failed) made of letters, digits and : * _ - .")
            )
        return topic

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # a ModelForm's clean returns its cleaned_data
        recipient, topic = data.get("recipient"), data.get("topic")
        if recipient is not None and topic:
            taken = Subscription.objects.filter(recipient=recipient, topic=topic).exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error(
                    "topic",
                    _("%(recipient)s is already subscribed to %(topic)s.") % {"recipient": recipient, "topic": topic},
                )
        return data


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
