"""apprise: one or more Apprise URLs (Telegram, Slack, Discord, ntfy, json://…). The URLs carry tokens, so
they are secrets. Apprise reports success or failure only: a failure is treated as transient (retried with
backoff, then dead), a URL it cannot parse as permanent (refused when the channel is saved)."""

import apprise as apprise_lib
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app.kinds.base import ChannelKind, Sent, register
from scheduler.errors import TransientError


def _urls(text):
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


@register
class Apprise(ChannelKind):
    name = "apprise"
    label = gettext_lazy("Apprise (Telegram, Slack, Discord, ntfy…)")
    secret_fields = ("urls",)

    class Config(forms.Form):
        urls = forms.CharField(widget=forms.Textarea, help_text=gettext_lazy("One Apprise URL per line."))

        def clean_urls(self):
            urls = _urls(self.cleaned_data["urls"])
            bad = [index for index, url in enumerate(urls, 1) if not apprise_lib.Apprise().add(url)]
            if not urls:
                raise ValidationError(_("Give at least one Apprise URL."))
            if bad:  # the URL itself may hold a token: say which line, never echo it
                raise ValidationError(
                    _("Apprise does not understand URL number %(numbers)s."),
                    params={"numbers": ", ".join(map(str, bad))},
                )
            return "\n".join(urls)

    def send(self, config, secrets, address, message):
        client = apprise_lib.Apprise()
        for url in _urls(secrets.get("urls")):
            client.add(url)
        if not client.notify(body=message.text, title=message.subject):
            raise TransientError("Apprise could not notify every target")
        return Sent(provider_id=f"apprise:{len(client)}")
