from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ChannelsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "channels_app"
    verbose_name = gettext_lazy("Channels and deliveries")

    def ready(self) -> None:
        from channels_app import jobs, kinds, retention, scheduled  # noqa: F401  (job/channel kinds, pruners, hooks)
        from channels_app.checks import check_keys_at_startup  # (registers the secrets' system checks)

        check_keys_at_startup()  # a malformed VIGIA_ENCRYPTION_KEYS stops startup here, not at the first send
