"""The job kinds of both rooms, registered when the app is ready (scrapers.apps)."""

from scrapers.people import jobs as people_jobs  # noqa: F401
from scrapers.sources import jobs as sources_jobs  # noqa: F401
