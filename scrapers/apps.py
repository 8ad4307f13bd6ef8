from django.apps import AppConfig


class ScrapersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scrapers"

    def ready(self):
        from scrapers import jobs, kinds, sources  # noqa: F401  (job kind, scraper kinds, the delete hook)
