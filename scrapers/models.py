"""The app's models, for Django (it looks for them here) and for migrations written before the split: each
room keeps its own (scrapers.sources.models, scrapers.people.models). One app label and the same tables."""

from scrapers.people.models import (  # noqa: F401
    MonitoredPerson,
    PeopleTransfer,
    Publication,
    PublicationMatch,
    default_check_minutes,
)
from scrapers.sources.models import SELECTORS_BROKEN, HostBudget, Item, ItemRevision, Source  # noqa: F401
