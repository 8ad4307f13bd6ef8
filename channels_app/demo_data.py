"""Demo data for channels: an outbox that every event reaches, so a newcomer sees deliveries before any
real channel (WhatsApp, e-mail...) is set up."""

from django.core.management.base import OutputWrapper
from django.db.models import ProtectedError

from channels_app.models import Channel, Recipient, Subscription

NAME = "Demo: outbox"


def load(stdout: OutputWrapper, site: str | None = None) -> None:
    channel, created = Channel.objects.get_or_create(name=NAME, defaults={"kind": "outbox"})
    recipient, _ = Recipient.objects.get_or_create(channel=channel, address="", defaults={"label": "demo"})
    Subscription.objects.get_or_create(recipient=recipient, topic="*")
    stdout.write(f"demo: outbox channel {'created' if created else 'already there'} (every event is stored)")


def remove(stdout: OutputWrapper) -> None:
    """Delete the demo outbox with its recipient, subscriptions and deliveries."""
    channel = Channel.objects.filter(name=NAME, kind="outbox").first()
    if channel is None:
        stdout.write("demo: no outbox channel")
        return
    try:
        deleted = channel.delete()[1]
    except ProtectedError:  # messages sent through the API name it: they are the operator's
        stdout.write("demo: outbox channel kept (messages sent through the API use it)")
        return
    stdout.write(f"demo: removed the outbox channel and its {deleted.get('channels_app.Delivery', 0)} delivery(ies)")
