import importlib

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy


class SchedulerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scheduler"
    verbose_name = gettext_lazy("Scheduler")

    def ready(self) -> None:
        from django.contrib import admin
        from django.db.models.signals import post_migrate

        from scheduler import kinds  # noqa: F401  (registers the built-in job kinds)
        from scheduler.shared import bounds, permission_labels, pgtypes, roles

        post_migrate.connect(roles.after_migrate, dispatch_uid="vigia-roles")  # the groups get new models' permissions

        bounds.guard_admin(admin.site)  # the admin's modules were all imported by admin's own ready()
        permission_labels.translate(admin.site)  # permissions named in the reader's language
        from scheduler.models import TIMEOUT_CEILING

        if not 1 <= settings.VIGIA_MAX_TIMEOUT <= TIMEOUT_CEILING:  # the database refuses longer timeouts
            raise ImproperlyConfigured(f"VIGIA_MAX_TIMEOUT must be between 1 and {TIMEOUT_CEILING} seconds.")
        for module in settings.VIGIA_EXTRA_JOB_KINDS:
            importlib.import_module(module)
        pgtypes.register_choices()  # after every app's models (and their choices) are loaded
        self._audit()

    def _audit(self) -> None:
        from scheduler.shared import audit

        audit.install_command_hook()  # a person's `manage.py …` acts as "command:<name>"
        # The engine's bookkeeping on a job (its next run, counters, the API's digest) is not a change.
        audit.track("scheduler.Job", ignore=["next_run_at", "completed_at", "occurrences", "api_digest"])
        audit.track("auth.User", ignore=["last_login"], m2m=["groups"])  # roles are group memberships
        audit.track("auth.Group", m2m=["permissions"])
