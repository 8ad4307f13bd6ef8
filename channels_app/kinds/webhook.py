"""webhook: POST the event as JSON, signed so the receiver can tell it came from us.

Headers: `X-Vigia-Timestamp` (Unix seconds), `X-Vigia-Signature: sha256=<hex>` where hex is
HMAC-SHA256(secret, f"{timestamp}.{body}") over the raw body bytes, and `X-Vigia-Delivery` (the same on
every retry of one delivery: receivers drop repeats by it). Receivers should reject timestamps more than
five minutes old. See the README for a verification snippet.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from channels_app.kinds._http import check, post
from channels_app.kinds.base import ChannelKind, Outgoing, Sent, clean_http_url, register
from scheduler.shared import bounds

# The receiver refusing who we are or where we post (a secret it does not share, a URL that is not its
# endpoint): every message would be refused alike, so the channel is down until an operator fixes it.
CHANNEL_DOWN_STATUSES = frozenset({401, 403, 404, 405, 410})


@sensitive_variables("secret")
def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@register
class Webhook(ChannelKind):
    name = "webhook"
    label = gettext_lazy("Webhook (signed JSON POST)")
    secret_fields = ("secret",)

    class Config(forms.Form):
        url = forms.CharField(label=gettext_lazy("URL"), max_length=2000)
        secret = forms.CharField(
            label=gettext_lazy("Secret"),
            min_length=16,
            help_text=gettext_lazy("Shared with the receiver; at least 16 characters."),
            validators=[bounds.single_line],
        )

        def clean_url(self) -> str:
            return clean_http_url(self.cleaned_data["url"])

    @sensitive_variables("secrets")
    def send(self, config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, message: Outgoing) -> Sent:
        sent: dict[str, Any] = {"delivery": message.key, "subject": message.subject, "text": message.text}
        if message.attachments:  # links: the receiver fetches what it wants
            sent["attachments"] = [
                {"url": file.url, "name": file.file_name, "content_type": file.content_type, "size": file.size}
                for file in message.attachments
            ]
        body = json.dumps({**sent, **message.event}, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        answer = post(
            config["url"],
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Vigia-Timestamp": timestamp,
                "X-Vigia-Signature": signature(secrets.get("secret", ""), timestamp, body),
                "X-Vigia-Delivery": message.key,
            },
            who="the webhook",
        )
        check(
            answer, who="the webhook", down=CHANNEL_DOWN_STATUSES
        )  # 2xx, else the verdict of scheduler.shared.answers
        return Sent(provider_id=message.key)
