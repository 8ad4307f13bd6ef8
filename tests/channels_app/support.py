"""Shared helpers for the delivery tests: channels, recipients and subscriptions in one call."""

from channels_app.models import Channel, Recipient, Subscription


def process_env(**env):
    """Environment for spawned scheduler/qcluster processes (the test job kinds loaded too)."""
    return {"VIGIA_EXTRA_JOB_KINDS": "tests.support.kinds", **env}


def wuzapi_channel(fake, name="whatsapp", **fields):
    return Channel.objects.create(
        name=name, kind="wuzapi", config={"base_url": fake.url}, secrets={"token": fake.token}, **fields
    )


def recipient(channel, address="5511987654321", topics=("source:1",), event_types=(), **fields):
    """A recipient on `channel`, subscribed to each of `topics`."""
    person = Recipient.objects.create(channel=channel, address=address, **fields)
    for topic in topics:
        Subscription.objects.create(recipient=person, topic=topic, event_types=list(event_types))
    return person


def item_event(title="Edital 12/2026", source=1, **extra):
    return {"type": "item.new", "source_name": "Prefeitura", "title": title, "source": source, **extra}
