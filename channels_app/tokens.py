"""API tokens: random, shown once, stored as a SHA-256 digest (a leaked database leaks no usable token)."""

import hashlib
import secrets
from collections.abc import Iterable

from django.utils import timezone

from channels_app.models import ApiToken

PREFIX = "vig_"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create(name: str) -> tuple[ApiToken, str]:
    """(ApiToken, the raw token). The raw token is not stored: show it now or never."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(name=name, prefix=raw[:10], digest=digest(raw))
    return token, raw


def authenticate(raw: str | None) -> ApiToken | None:
    """The live ApiToken for a raw bearer token, or None (unknown or revoked)."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.filter(digest=digest(raw), revoked_at__isnull=True).first()
    if token is not None:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def revoke(tokens: Iterable[ApiToken]) -> int:
    return ApiToken.objects.filter(pk__in=[t.pk for t in tokens], revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
