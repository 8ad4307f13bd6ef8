"""wuzapi: WhatsApp through a Wuzapi server (POST {base_url}/chat/send/text with the user's token).

The delivery's key goes in `Id`, so re-sending after a crash re-sends the same WhatsApp message id and the
group sees one message. Texts over WhatsApp's limit go as ordered parts, each with its own derived id.
"""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from channels_app.kinds._http import post
from channels_app.kinds.base import ChannelKind, Sent, clean_http_url, register
from scheduler.errors import PermanentError, TransientError

PHONE = re.compile(r"^\d{10,15}$")
GROUP = re.compile(r"^\d{5,40}(-\d{1,20})?@g\.us$")
LIMIT = 4096  # WhatsApp's longest text message
# Wuzapi answers "no session" and the like with 500: the phone is logged out, retrying will not help.
SESSION_ERRORS = ("no session", "not logged in", "not connected", "invalid token", "unauthorized")


@register
class Wuzapi(ChannelKind):
    name = "wuzapi"
    label = gettext_lazy("WhatsApp (Wuzapi)")
    secret_fields = ("token",)
    address_help = gettext_lazy("A phone with country code (5511987654321) or a group JID (…@g.us).")
    max_length = LIMIT
    splits = True

    class Config(forms.Form):
        base_url = forms.CharField(max_length=500, help_text=gettext_lazy("The Wuzapi server, e.g. http://wuzapi:8080"))
        token = forms.CharField(help_text=gettext_lazy("The Wuzapi user's token."))

        def clean_base_url(self):
            return clean_http_url(self.cleaned_data["base_url"]).rstrip("/")

    def clean_address(self, address):
        address = (address or "").strip()
        if GROUP.match(address):
            return address
        phone = re.sub(r"[\s().+-]", "", address)
        if PHONE.match(phone):
            return phone
        raise ValidationError(
            _("'%(address)s' is neither a phone with country code (5511987654321) nor a group JID."),
            params={"address": address},
        )

    @sensitive_variables("secrets")
    def send(self, config, secrets, address, message):
        parts = split(message.text, LIMIT)
        sent = []
        for number, text in enumerate(parts, 1):
            key = message.key if len(parts) == 1 else f"{message.key}-{number}"
            sent.append(_post_checked(config, secrets, address, text, key))
        return Sent(provider_id=",".join(sent))


@sensitive_variables("secrets")
def _post_checked(config, secrets, address, text, key):
    try:
        response = post(
            f"{config['base_url']}/chat/send/text",
            json={"Phone": address, "Body": text, "Id": key},
            headers={"Token": secrets.get("token", "")},
            who="Wuzapi",
        )
    except TransientError as exc:
        if any(marker in str(exc).lower() for marker in SESSION_ERRORS):
            raise PermanentError(str(exc)) from None
        raise
    try:
        body = response.json()
    except ValueError:
        raise TransientError("Wuzapi's answer is not JSON") from None
    if not isinstance(body, dict) or not body.get("success"):
        detail = str(body.get("error") if isinstance(body, dict) else body)[:200]
        raise PermanentError(f"Wuzapi refused the message: {detail}")
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    return str(data.get("Id") or key)


def split(text, limit):
    """Ordered parts of at most `limit` characters, cut at a paragraph, line or word where possible."""
    if len(text) <= limit:
        return [text]
    parts, rest = [], text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest] if rest else parts
