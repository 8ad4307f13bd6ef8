from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "channels_app"

    def ready(self):
        from channels_app import jobs, kinds, scheduled  # noqa: F401  (job kinds, channel kinds, signal hooks)
