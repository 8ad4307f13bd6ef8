"""Built-in scraper kinds; each module registers itself."""
