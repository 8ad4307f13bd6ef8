from django.apps import AppConfig


class ScrapersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scrapers"

    def ready(self):
        from scrapers import jobs, kinds  # noqa: F401  (register the check_source job kind and scraper kinds)
