"""apprise: one or more Apprise URLs (Telegram, Slack, Discord, ntfy, json://…). The URLs carry tokens, so
they are secrets. Apprise reports success or failure only: a failure is treated as transient (retried with
backoff, then dead), a URL it cannot parse as permanent (refused when the channel is saved)."""

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from channels_app.kinds.base import ChannelKind, Outgoing, Sent, register
from scheduler.errors import TransientError
from scheduler.shared import outbound


def _apprise() -> ModuleType:
    """The apprise library, imported on first use: it weighs ~18 MB, which every process (scheduler, web,
    each cluster) would otherwise carry whether or not an Apprise channel exists."""
    import apprise

    return apprise


def _urls(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


def _server_host(plugin: object) -> str | None:
    """The host Apprise will connect to when the URL names one (json://, ntfy://host, mailto://, gotify://…:
    the plugins with a plain `protocol` for self-hosted servers), else None (Telegram, Slack… whose
    fixed service host is public, and whose URL's "host" is a token)."""
    host = getattr(plugin, "host", None) if getattr(plugin, "protocol", None) else None
    return host.strip("[]") if isinstance(host, str) and host else None


def check_targets(client: Iterable[object]) -> None:
    """Apprise makes its own HTTP requests (not through our transport): each server it names is vetted
    before sending, DNS included. A name that does not resolve is left to Apprise (it cannot reach it
    either). Residual risk: DNS answering differently between this check and Apprise's own lookup."""
    for plugin in client:
        host = _server_host(plugin)
        if host is None:
            continue
        try:
            outbound.vet(host, getattr(plugin, "port", None) or 443)
        except outbound.Unresolved:
            continue


@register
class Apprise(ChannelKind):
    name = "apprise"
    label = gettext_lazy("Apprise (Telegram, Slack, Discord, ntfy…)")
    secret_fields = ("urls",)

    class Config(forms.Form):
        urls = forms.CharField(
            label=gettext_lazy("URLs"), widget=forms.Textarea, help_text=gettext_lazy("One Apprise URL per line.")
        )

        def clean_urls(self) -> str:
            urls = _urls(self.cleaned_data["urls"])
            bad = [index for index, url in enumerate(urls, 1) if not _apprise().Apprise().add(url)]
            if not urls:
                raise ValidationError(_("Give at least one Apprise URL."))
            if bad:  # the URL itself may hold a token: say which line, never echo it
                raise ValidationError(
                    _("Apprise does not understand URL number %(numbers)s."),
                    params={"numbers": ", ".join(map(str, bad))},
                )
            for index, url in enumerate(urls, 1):  # loopback, private... servers (no DNS here)
                client = _apprise().Apprise()
                client.add(url)
                host = _server_host(client[0])
                if not host:
                    continue
                try:
                    outbound.validate_host(host)
                except ValidationError as exc:
                    raise ValidationError(
                        _("URL number %(number)s: %(problem)s"),
                        params={"number": index, "problem": " ".join(exc.messages)},
                    ) from None
            return "\n".join(urls)

    @sensitive_variables("secrets", "url", "client")  # the URLs carry tokens
    def send(self, config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, message: Outgoing) -> Sent:
        client = _apprise().Apprise()
        for url in _urls(secrets.get("urls")):
            client.add(url)
        check_targets(client)  # Refused (permanent) before anything is sent
        if not client.notify(body=message.text_with_links(), title=message.subject):
            raise TransientError("Apprise could not notify every target")
        return Sent(provider_id=f"apprise:{len(client)}")
