"""The topics the scrapers publish on, in words (channels_app.topics): a source's and a person's, the patterns
over all of them, and the two announcements that name no one object (sources:broken, people:expired)."""

from collections.abc import Collection

from django.urls import reverse
from django.utils.translation import gettext_lazy

from channels_app import topics
from scrapers.models import MonitoredPerson, Source

BROKEN = (gettext_lazy("Source broken or recovered"), ("source.broken", "source.still_broken", "source.recovered"))
CHECK_FAILING = (
    gettext_lazy("Check failing or recovered"),
    ("person.failing", "person.still_failing", "person.recovered"),
)
EXPIRED = (gettext_lazy("Monitoring expired"), ("people.expired",))


def _sources(ids: Collection[int] | None) -> dict[int, tuple[str, str | None]]:
    rows = Source.objects.order_by("name")
    rows = rows[: topics.LIMIT] if ids is None else rows.filter(pk__in=ids)
    return {pk: (name, reverse("scrapers:source", args=[pk])) for pk, name in rows.values_list("pk", "name")}


def _people(ids: Collection[int] | None) -> dict[int, tuple[str, str | None]]:
    rows = MonitoredPerson.objects.order_by("name")
    rows = rows.filter(active=True)[: topics.LIMIT] if ids is None else rows.filter(pk__in=ids)
    return {pk: (name, reverse("scrapers:person", args=[pk])) for pk, name in rows.values_list("pk", "name")}


def register() -> None:
    # What scrapers.sources.checks and scrapers.people publish, on which topic.
    source_events = [
        (gettext_lazy("New item"), ("item.new",)),
        (gettext_lazy("Changed item"), ("item.updated",)),
        BROKEN,
    ]
    topics.register_family(
        topics.Family(
            prefix="source",
            noun=gettext_lazy("Source"),
            plural=gettext_lazy("Sources"),
            any_label=gettext_lazy("Any source"),
            lookup=_sources,
            events=source_events,
            order=10,
        )
    )
    topics.register_family(
        topics.Family(
            prefix="person",
            noun=gettext_lazy("Person"),
            plural=gettext_lazy("People"),
            any_label=gettext_lazy("Any person"),
            lookup=_people,
            events=[(gettext_lazy("New publication"), ("publication.new",)), CHECK_FAILING],
            order=20,
        )
    )
    topics.register_pattern(
        topics.Pattern("sources:broken", gettext_lazy("Any source broken or recovered"), [BROKEN], covers="source")
    )
    topics.register_pattern(topics.Pattern("people:expired", EXPIRED[0], [EXPIRED]))
