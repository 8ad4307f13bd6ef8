"""Demo data for sources: a source watching the demo organizer site `manage.py up` runs on loopback (a gincana
task every minute), so a newcomer sees items, deliveries (the demo outbox hears every event) and the source's
run history fill up within a minute or two.

The source is created once, by name, through SourceForm (so its check_source job exists), and announces its
first check's items: the first task is delivered at once rather than kept as a silent baseline. A later `up` on
another port moves it there, as long as it still watches a demo site on this host: a source an operator
pointed elsewhere is left alone. When the source is created, the first active recipient of each enabled
WhatsApp (Wuzapi) channel is subscribed to it too, and the output says so. With the demo off, `up` pauses
its checks (jobs()) until the demo is on again.
"""

from urllib.parse import urlsplit

from django.core.management.base import OutputWrapper

from channels_app.models import Channel, Event, Recipient, Subscription, Watch
from scheduler.models import Job
from scrapers.models import Source
from scrapers.sources.services import SourceForm

NAME = "Demo: tarefas da gincana de exemplo"
PATH = "/tarefas"  # the demo site's task list (tests/loopback/demo_site.py)
CONFIG = {"items": "li.task", "title": "h3", "link": "a@href", "body": "p", "id": "@data-id", "date": "time@datetime"}
FIELDS = {
    "name": NAME,
    "kind": "html",
    "config": CONFIG,
    "method": "GET",
    "headers": {},
    "interval_seconds": 15,  # a task appears every minute: found within seconds
    "timeout_seconds": 5,
    "timezone": "America/Sao_Paulo",
    "enabled": True,
    "announce_first_check": True,  # the first task is news, so a delivery shows up at once
}
SELF_HOSTS = {"127.0.0.1", "localhost", "::1"}


def load(stdout: OutputWrapper, site: str | None = None) -> None:
    """The demo source on `site` (the demo organizer site's base URL; None: none runs, nothing is created)."""
    if site is None:
        return
    url = site.rstrip("/") + PATH
    source = Source.objects.filter(name=NAME).first()
    if source is None:
        form = SourceForm(data={**FIELDS, "url": url})
        if not form.is_valid():  # a demo that no longer validates is a bug worth failing loudly on
            raise ValueError(f"demo source: {form.errors.as_json()}")
        source = form.save()
        stdout.write(f"demo: source “{NAME}” created, watching {url} every {FIELDS['interval_seconds']} s")
        for recipient in _whatsapp_recipients():
            Subscription.objects.get_or_create(recipient=recipient, topic=source.topic)
            stdout.write(
                f"demo: its items also go to WhatsApp: channel “{recipient.channel.name}”, recipient "
                f"{recipient.label or recipient.address}"
            )
    elif source.url != url and _is_demo_site(source.url):
        # A new site starts a new page: the old one's validators mean nothing there.
        Source.objects.filter(pk=source.pk).update(url=url, etag="", last_modified="")
        stdout.write(f"demo: source “{NAME}” now watches {url}")


def _is_demo_site(url: str) -> bool:
    """Whether the source still watches a demo site on this host (any port): the demo's to move."""
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in SELF_HOSTS and parts.path == PATH


def _whatsapp_recipients() -> list[Recipient]:
    """The first active recipient of each enabled Wuzapi channel."""
    found = []
    for channel in Channel.objects.filter(kind="wuzapi", enabled=True).order_by("pk"):
        recipient = channel.recipients.filter(active=True).order_by("pk").first()
        if recipient is not None:
            found.append(recipient)
    return found


def jobs() -> list[Job]:
    """The demo source's check job while it watches the demo site (`demo --pause` pauses it)."""
    source = Source.objects.filter(name=NAME).select_related("job").first()
    return [source.job] if source is not None and source.job is not None and _is_demo_site(source.url) else []


def remove(stdout: OutputWrapper) -> None:
    """Delete the demo source with its job, runs, items, events (and so their deliveries), alert state and the
    subscriptions to it."""
    source = Source.objects.filter(name=NAME).first()
    if source is None:
        stdout.write(f"demo: no source “{NAME}”")
        return
    topic = source.topic
    items = source.items.count()
    runs = source.job.runs.count() if source.job else 0
    # Its topic names its id, which a later source may be given: nothing must stay filed under it.
    events = Event.objects.filter(topic=topic).delete()[1].get("channels_app.Event", 0)
    Subscription.objects.filter(topic=topic).delete()
    Watch.objects.filter(subject=topic).delete()
    source.delete()  # its items, and its job with the job's runs (scrapers.sources.services)
    stdout.write(
        f"demo: removed source “{NAME}” with {items} item(s), {runs} run(s) and {events} event(s) with their deliveries"
    )
