import importlib

from django.apps import AppConfig
from django.conf import settings


class SchedulerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scheduler"

    def ready(self):
        from scheduler import kinds  # noqa: F401  (registers the built-in job kinds)

        for module in settings.VIGIA_EXTRA_JOB_KINDS:
            importlib.import_module(module)
