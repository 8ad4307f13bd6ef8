"""The channel-kind registry: one small module per way out (wuzapi, email, webhook, apprise, outbox).

A kind declares its `name`, `label`, a `Config` form for its settings (those listed in `secret_fields` are
write-only: stored in Channel.secrets, never shown back), how it validates an address, and `send()`.
Like healthchecks' transports, `send()` raises the outcome of scheduler.shared.answers: TransientError when trying
again later can help (timeouts, 5xx), RateLimited when the provider asks to slow down (429, with its wait),
PermanentError when this message cannot go (a bad number, a 4xx), ChannelDown when no message can go until
an operator acts (a bad token, a logged-out WhatsApp session). Anything else it raises is a bug: retried as
a transient failure, with its traceback.
"""

import mimetypes
from collections.abc import Callable, Mapping
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


def url_file_name(url: str, default: str = "") -> str:
    """The last segment of a URL's path (a file's name when nothing else names it); `default`, else the URL,
    when it has none."""
    return url.split("?")[0].rstrip("/").rpartition("/")[2] or default or url


@dataclass
class File:
    """An attachment that goes with the message (channels_app.attachments fetched and checked it): its bytes for
    the kinds that send files, its link for the others."""

    url: str
    name: str
    content_type: str
    size: int
    data: bytes = b""  # empty for the kinds that send links

    @property
    def file_name(self) -> str:
        """The name to give the file: its own, with the extension its type has when it lacks one."""
        name = self.name or url_file_name(self.url, "anexo")
        extension = mimetypes.guess_extension(self.content_type) or ""
        return name if "." in name.lstrip(".") or not extension else name + extension


@dataclass
class Outgoing:
    """What one delivery sends."""

    key: str  # the delivery's idempotency key (Wuzapi `Id`, webhook header)
    subject: str
    text: str
    event: dict[str, Any] = field(default_factory=dict)  # the event's type, topic and payload (webhooks send it whole)
    attachments: list[File] = field(default_factory=list)
    # Parts the provider accepted on an earlier attempt (part key → provider id), and how to record one now:
    # a retry after a partial send (the text and the image went, the document failed) sends only the rest.
    done: dict[str, str] = field(default_factory=dict)
    record: Callable[[str, str], None] | None = None

    def part(self, key: str, send: Callable[[], str]) -> str:
        """Send one part once: the provider id recorded for `key` on an earlier attempt, else send() it (which
        returns the provider's id) and record it at once."""
        if key in self.done:
            return self.done[key]
        provider_id = self.done[key] = send()
        if self.record is not None:
            self.record(key, provider_id)
        return provider_id

    def text_with_links(self) -> str:
        """The text, then one line per attachment with its link (for the kinds that send links)."""
        return "\n".join([self.text, *(f"📎 {file.file_name}: {file.url}" for file in self.attachments)])


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
    sends_files = False  # whether it sends the attachments' bytes (else their links: Outgoing.text_with_links)

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
