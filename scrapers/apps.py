from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ScrapersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scrapers"

    def ready(self) -> None:
        from scrapers import jobs, retention  # noqa: F401  (the job kinds, the pruner)
        from scrapers.people import services as people
        from scrapers.sources import kinds, services  # noqa: F401  (source kinds, delete hooks)

        post_migrate.connect(people._ensure_after_migrate, sender=self)

        from channels_app import topics as channel_topics
        from scrapers import topics

        channel_topics.register(topics.choices)
