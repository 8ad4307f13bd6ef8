""" "Send test": one message through a channel now, so the operator sees the outcome. It creates no recipient
and no subscription: adding the real recipient afterwards is never refused as a duplicate.

- To one of the channel's recipients (picked from the list, or whose address was typed): an Event and a
  Delivery to that recipient, sent in this process like any delivery (pace, channel down, retries); the
  delivery is listed on the channel's page.
- To any other address: the kind sends it once, in this process, not retried, with the same checks (the
  kind's address rules, the outbound guard inside the kind, the channel's pace). The outcome is recorded on
  an Event of type "test" (payload: channel, address, status, error, provider id; the admin lists events)
  and in the log, and returned as an unsaved Delivery to an unsaved Recipient.

TestSendForm is the page's form: an address typed for the test, or one of the channel's recipients.
"""

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app import events, pacing, rendering, sending
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery, Event, Recipient
from scheduler.errors import JobError, PermanentError
from scheduler.shared import bounds

log = logging.getLogger("vigia.deliveries")


def clean_address(channel: Channel, address: str) -> str:
    """The address as the channel's kind stores it; ValidationError when refused, KeyError for an unknown kind."""
    problem = bounds.json_problem(address)  # NUL: no database stores it (the page posts it unchecked)
    if problem:
        raise ValidationError(problem)
    return kinds.get(channel.kind).clean_address(address)


def test_send(channel: Channel, address: str = "", recipient: Recipient | None = None) -> Delivery:
    """Send one test message now to `recipient`, or to `address` (the channel's recipient with that address
    when there is one), and return its Delivery (unsaved when the address is no recipient's). ValidationError
    when the kind refuses the address; KeyError when the channel's kind is not installed."""
    if recipient is None:
        address = clean_address(channel, address)
        recipient = Recipient.objects.filter(channel=channel, address=address).first()
    if recipient is None:
        return _send_once(channel, address)
    with transaction.atomic():
        # Not published: a test concerns this recipient only, never the channel's subscribers.
        event = Event.objects.create(
            type="test", topic=f"test:{channel.pk}", key=None, payload={"channel": channel.name}
        )
        events.deliver(event, [recipient])
    delivery = Delivery.objects.get(event=event, recipient=recipient)
    # The queued task will find it taken; sending here lets the operator see the outcome at once.
    sending.send_delivery(delivery.pk)
    delivery.refresh_from_db()
    return delivery


test_send.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever its name


def _send_once(channel: Channel, address: str) -> Delivery:
    """To an address that is no recipient: through the kind directly, once, recorded on the test Event."""
    kind = kinds.get(channel.kind)
    topic = f"test:{channel.pk}"
    rendered = rendering.render("test", {"type": "test", "topic": topic, "channel": channel.name})
    event = Event.objects.create(
        type="test", topic=topic, key=None, payload={"channel": channel.name, "address": address}
    )
    delivery = Delivery(
        event=event,
        recipient=Recipient(channel=channel, address=address, label="test"),  # never saved
        subject=rendered.subject[:300],
        body=rendered.text,
        template_error=rendered.problem,
        attempts=1,
    )
    try:
        if not channel.enabled:
            raise PermanentError(f"the channel {channel.name} is disabled")
        later = pacing.reserve(channel, max_wait=settings.VIGIA_DELIVERY_MAX_PACE_WAIT)
        if later is not None:
            raise JobError(f"the channel's pace has no free slot before {later:%H:%M:%S}")
        message = kinds.Outgoing(
            key=f"vigia-test-{event.pk}",
            subject=delivery.subject,
            text=delivery.body,
            event={"type": "test", "topic": topic, "event": {"channel": channel.name}},
        )
        sent = kind.send(channel.config, channel.secrets, address, message)
    except JobError as exc:
        error = str(exc) if exc.permanent else f"{exc} (a test to an address that is no recipient is not retried)"
        delivery.status, delivery.error = Delivery.Status.FAILED, error[:2000]
    except Exception as exc:  # a bug in a kind: reported, with its type, to the operator and the log
        log.exception("channel kind crashed on a test message", extra={"channel": channel.pk, "event": event.pk})
        delivery.status, delivery.error = Delivery.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    else:
        delivery.status, delivery.provider_id = Delivery.Status.SENT, sent.provider_id[:300]
        delivery.sent_at = timezone.now()
    outcome = {"status": delivery.status, "error": delivery.error, "provider_id": delivery.provider_id}
    Event.objects.filter(pk=event.pk).update(payload={**event.payload, **outcome})
    event.payload.update(outcome)
    level = logging.INFO if delivery.status == Delivery.Status.SENT else logging.WARNING
    log.log(level, "test message", extra={"channel": channel.pk, "event": event.pk, "status": delivery.status})
    return delivery


class RecipientChoice(forms.ModelChoiceField):
    """One of the channel's recipients, shown by label and address."""

    def label_from_instance(self, obj: Any) -> str:
        address = obj.address or _("(no address)")
        return f"{obj.label} — {address}" if obj.label else str(address)


class TestSendForm(forms.Form):
    """Where the test goes: an address typed for it, or one of the channel's recipients (not both)."""

    __test__ = False  # not a pytest test class, whatever its name

    address = forms.CharField(label=gettext_lazy("Address"), required=False, max_length=300)
    recipient = RecipientChoice(
        label=gettext_lazy("Or one of its recipients"),
        queryset=Recipient.objects.none(),
        required=False,
        empty_label=gettext_lazy("— the address above —"),
    )

    def __init__(self, channel: Channel, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        choice = self.fields["recipient"]
        assert isinstance(choice, RecipientChoice)
        choice.queryset = Recipient.objects.filter(channel=channel).order_by("label", "address", "pk")
        kind = kinds.find(channel.kind)
        self.fields["address"].help_text = (
            (kind.address_help or _("This kind takes no address: leave it empty.")) if kind else ""
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None
        if "address" in self.errors or "recipient" in self.errors:
            return data
        if data.get("recipient") is not None:
            if data.get("address"):
                self.add_error("address", _("Type an address or pick a recipient, not both."))
            return data
        try:
            data["address"] = clean_address(self.channel, data.get("address") or "")
        except ValidationError as exc:
            self.add_error("address", exc)
        except KeyError:
            self.add_error(None, _("The channel's kind “%(kind)s” is not available.") % {"kind": self.channel.kind})
        return data

    def send(self) -> Delivery:
        """Send the test (call after is_valid())."""
        return test_send(self.channel, self.cleaned_data.get("address") or "", self.cleaned_data.get("recipient"))
