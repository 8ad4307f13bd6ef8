"""The channel-kind registry: one small module per way out (wuzapi, email, webhook, apprise, outbox).

A kind declares its `name`, `label`, a `Config` form for its settings (those listed in `secret_fields` are
write-only: stored in Channel.secrets, never shown back), how it validates an address, and `send()`.
Like healthchecks' transports, `send()` raises the outcome of scheduler.shared.answers: TransientError when trying
again later can help (timeouts, 5xx), RateLimited when the provider asks to slow down (429, with its wait),
PermanentError when this message cannot go (a bad number, a 4xx), ChannelDown when no message can go until
an operator acts (a bad token, a logged-out WhatsApp session). Anything else it raises is a bug: retried as
a transient failure, with its traceback.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from scheduler.shared import outbound
from scheduler.shared.kind_registry import Registry

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass
class Outgoing:
    """What one delivery sends."""

    key: str  # the delivery's idempotency key (Wuzapi `Id`, webhook header)
    subject: str
    text: str
    event: dict[str, Any] = field(default_factory=dict)  # the event's type, topic and payload (webhooks send it whole)


@dataclass
class Sent:
    provider_id: str = ""


class ChannelKind:
    name = ""
    label: "StrOrPromise" = ""
    secret_fields: tuple[str, ...] = ()  # Config fields stored write-only
    address_help: "StrOrPromise" = ""  # what an address is for this kind; "" = it takes none
    max_length: int | None = None  # the longest text one message may carry (None: no limit)
    splits = False  # whether a longer text is sent as ordered parts (else it is refused)

    class Config(forms.Form):
        pass

    def clean_address(self, address: str) -> str:
        """The normalized address, or ValidationError. Kinds without addresses accept only ''."""
        if address:
            raise ValidationError(_("A %(kind)s channel takes no address."), params={"kind": self.label})
        return ""

    def check_length(self, text: str) -> None:
        if self.max_length and len(text) > self.max_length and not self.splits:
            raise ValidationError(
                _("At most %(limit)s characters for a %(kind)s channel."),
                params={"limit": self.max_length, "kind": self.label},
            )

    def send(
        self, config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, message: Outgoing
    ) -> Sent:  # pragma: no cover - interface
        """Send `message` (an Outgoing); return Sent or raise TransientError/PermanentError."""
        raise NotImplementedError


channel_kinds: Registry[ChannelKind] = Registry("channel kind", form="Config", field="config", noun="setting")
register = channel_kinds.register
get, find, names, choices = channel_kinds.get, channel_kinds.find, channel_kinds.names, channel_kinds.choices
clean_name = channel_kinds.clean_name


def clean_http_url(value: str | None) -> str:
    """An http(s) URL with a host. Unlike forms.URLField, a host without a dot (a Docker service name such as
    `wuzapi`) is fine: self-hosted providers live on private networks."""
    value = (value or "").strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(_("Use an http:// or https:// address with a host."))
    if parts.username is not None or parts.password is not None:
        # The address is a setting shown on the channel's page: a password inside it would be shown to everyone
        # who may read the page. The channel's own secret (a token, a signing secret) is where it belongs.
        raise ValidationError(
            _("Leave the user and password out of the address: it is shown on the channel's page."), code="userinfo"
        )
    # Loopback, private, link-local... addresses are refused unless VIGIA_OUTBOUND_ALLOW lists them (a
    # self-hosted provider on a private network is added there). Names are resolved at send time.
    outbound.validate_url(value)
    return value


def split_config(kind_name: str, cleaned: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public settings, secrets) of a validated config."""
    secret = set(get(kind_name).secret_fields)
    return (
        {key: value for key, value in cleaned.items() if key not in secret},
        {key: value for key, value in cleaned.items() if key in secret},
    )
