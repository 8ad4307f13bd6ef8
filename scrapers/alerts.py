"""The scrapers' alert families (channels_app.alerts): a source whose checks fail N times in a row is broken
(`source.broken` on `source:<id>` and `sources:broken`), a person whose DJEN checks fail N times in a row is
`person.failing` on `person:<id>`; each with its reminders and its recovery."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete
from django.urls import reverse

from channels_app import alerts
from channels_app.links import absolute
from scrapers.models import MonitoredPerson, Source


def _forget(sender: type[Source] | type[MonitoredPerson], instance: Source | MonitoredPerson, **kwargs: Any) -> None:
    alerts.forget(instance.topic)


def register() -> None:
    post_delete.connect(_forget, sender=Source, dispatch_uid="scrapers.alerts.source")
    post_delete.connect(_forget, sender=MonitoredPerson, dispatch_uid="scrapers.alerts.person")
    alerts.register(
        alerts.Family(
            "source",
            "source.broken",
            "source.still_broken",
            "source.recovered",
            topic=lambda ident: f"source:{ident}",
            alert_after=lambda: int(settings.VIGIA_SOURCE_BROKEN_AFTER),
            also=("sources:broken",),
            name_key="source_name",
            object_key="source",
            link=lambda ident: absolute(reverse("scrapers:source", args=[int(ident)])),
        )
    )
    alerts.register(
        alerts.Family(
            "person",
            "person.failing",
            "person.still_failing",
            "person.recovered",
            topic=lambda ident: f"person:{ident}",
            alert_after=lambda: 3,
            name_key="person_name",
            object_key="person",
            link=lambda ident: absolute(reverse("scrapers:person", args=[int(ident)])),
        )
    )
