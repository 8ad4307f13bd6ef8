"""Shared helpers for the monitored-people tests: a FakeDjen the code under test talks to, and people
created the way users create them (through PersonForm).

    from tests.scrapers.people_support import djen_fixture, make_person  # noqa: F401 (the `djen` fixture)
"""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from scrapers.people.publications import COURT_ZONE
from scrapers.people.services import PersonForm
from tests.loopback.djen import FakeDjen


@pytest.fixture(name="djen")
def djen_fixture(settings):
    """A loopback DJEN, with VIGIA_DJEN_URL pointing at it for the test."""
    fake = FakeDjen().start()
    settings.VIGIA_DJEN_URL = fake.url
    yield fake
    # stop() waits up to half a second for the server loop to notice; nothing needs to wait for that.
    threading.Thread(target=fake.stop, daemon=True).start()


def court_today():
    """Today in Brazil's court time: the day DJEN's windows are counted in."""
    return timezone.localdate(timezone=COURT_ZONE)


def days_ago(days):
    return court_today() - timedelta(days=days)


def make_person(**fields):
    """A person saved through PersonForm (so its job exists and its first check is queued, as in the app)."""
    data = {"name": "José da Silva", "check_interval_minutes": 30, "active": True, "recipients": ""}
    data.update(fields)
    form = PersonForm(data=data)
    assert form.is_valid(), form.errors.as_json()
    return form.save()
