"""The admin of both rooms (Django imports each app's `admin` module): sources and people register their own."""

from scrapers.people import admin as people_admin  # noqa: F401
from scrapers.sources import admin as sources_admin  # noqa: F401
