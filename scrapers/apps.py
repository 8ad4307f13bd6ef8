from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy


class ScrapersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scrapers"
    verbose_name = gettext_lazy("Sources and people")

    def ready(self) -> None:
        from scrapers import jobs, retention  # noqa: F401  (the job kinds, the pruner)
        from scrapers.people import services as people
        from scrapers.sources import kinds, services  # noqa: F401  (source kinds, delete hooks)

        post_migrate.connect(people._ensure_after_migrate, sender=self)

        from scrapers import topics

        topics.register()  # sources and people, in words, for the subscription forms
        from scrapers import alerts

        alerts.register()  # their failure alerts (channels_app.alerts)
        from scrapers import watchdog

        watchdog.register()  # DJEN and source hosts failing for every request (channels_app.watchdog)

        from scheduler.shared import audit

        # Who changed a source or a person (the checks' own bookkeeping is not a change).
        audit.track(
            "scrapers.Source",
            ignore=["etag", "content_fingerprint", "consecutive_failures", "broken"],
        )
        audit.track("scrapers.MonitoredPerson", ignore=["normalized_name"])
