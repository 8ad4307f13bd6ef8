"""The topics the scrapers publish on, offered to the subscription forms (channels_app.topics)."""

from scrapers.models import MonitoredPerson, Source

LIMIT = 1000  # a form offers this many of each; any other id can still be typed


def choices() -> list[tuple[str, str]]:
    found = [("source:*", "Any source: new and changed items"), ("person:*", "Any monitored person: publications")]
    found += [(source.topic, f"Source: {source.name}") for source in Source.objects.order_by("name")[:LIMIT]]
    people = MonitoredPerson.objects.filter(active=True).order_by("name")[:LIMIT]
    found += [(person.topic, f"Person: {person.name}") for person in people]
    return found
