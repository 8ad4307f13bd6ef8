"""Demo data for channels: an outbox that every event reaches, so a newcomer sees deliveries before any
real channel (WhatsApp, e-mail...) is set up."""

from django.core.management.base import OutputWrapper

from channels_app.models import Channel, Recipient, Subscription

NAME = "Demo: outbox"


def load(stdout: OutputWrapper) -> None:
    channel, created = Channel.objects.get_or_create(name=NAME, defaults={"kind": "outbox"})
    recipient, _ = Recipient.objects.get_or_create(channel=channel, address="", defaults={"label": "demo"})
    Subscription.objects.get_or_create(recipient=recipient, topic="*")
    stdout.write(f"demo: outbox channel {'created' if created else 'already there'} (every event is stored)")
