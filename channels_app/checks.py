"""System checks for secrets at rest."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Tags, Warning, register

from scheduler.shared import crypto


@register(Tags.security, deploy=True)
def encryption_keys_set(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Production should hold its own key: the derived one changes (and strands the secrets) with SECRET_KEY,
    and anyone with SECRET_KEY and a database dump could read every channel's token."""
    if not crypto.using_derived_key():
        return []
    return [
        Warning(
            "VIGIA_ENCRYPTION_KEYS is not set: stored secrets (channel tokens, source and job headers) are "
            "encrypted with a key derived from SECRET_KEY.",
            hint=f"Set VIGIA_ENCRYPTION_KEYS to a key of your own ({crypto.GENERATE}), "
            "then run `python manage.py rotate_secrets`.",
            id="vigia.W001",
        )
    ]


def check_keys_at_startup() -> None:
    """Raise ImproperlyConfigured now, rather than at the first send, when a configured key is malformed."""
    crypto.keyring()
