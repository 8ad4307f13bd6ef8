"""outbox: the message stays in Vigia's database (the Delivery row) and nothing leaves. The demo's channel,
and what a team sees before it sets a real one up. Attachments stay links (the delivery lists them)."""

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy

from channels_app.kinds.base import ChannelKind, Outgoing, Sent, register


@register
class Outbox(ChannelKind):
    name = "outbox"
    label = gettext_lazy("Outbox (stored only)")

    def clean_address(self, address: str) -> str:
        return (address or "").strip()[:300]  # a free label: who it would have gone to

    def send(self, config: Mapping[str, Any], secrets: Mapping[str, Any], address: str, message: Outgoing) -> Sent:
        return Sent(provider_id="outbox")
