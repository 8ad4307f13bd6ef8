from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ChannelsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "channels_app"
    verbose_name = gettext_lazy("Channels and deliveries")

    def ready(self) -> None:
        import channels_app.digests  # noqa: F401  (the digests' leader chore)
        from channels_app import jobs, kinds, retention, scheduled  # noqa: F401  (job/channel kinds, pruners, hooks)
        from channels_app.checks import check_keys_at_startup  # (registers the secrets' system checks)

        check_keys_at_startup()  # a malformed VIGIA_ENCRYPTION_KEYS stops startup here, not at the first send

        from channels_app import watchdog

        watchdog.register()  # the system watchdog ticks in every live process (scheduler.everywhere)

        from scheduler.shared import audit

        # Who changed delivery and access (the senders' own bookkeeping is not a change).
        audit.track("channels_app.Channel", ignore=["down_since", "down_reason"])
        audit.track("channels_app.Recipient")
        audit.track("channels_app.Subscription", ignore=["digest_through"])
        audit.track("channels_app.MessageTemplate")
        audit.track("channels_app.ApiToken")
        # Alert policies; their state (failures, alerted, reminders) is the engine's.
        audit.track(
            "channels_app.Watch",
            # the state the engine moves; who acknowledged or silenced is recorded by those actions
            ignore=[
                "state",
                "failures",
                "failing_since",
                "alerted_at",
                "reminders_sent",
                "last_error",
                "next_reminder_at",
            ],
        )
