"""Built-in scraper kinds; each module registers itself."""

from scrapers.sources.kinds import feed, html, json, page_watch  # noqa: F401  (registration happens on import)
