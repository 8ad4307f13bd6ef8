"""API tokens: random, shown once, stored as a SHA-256 digest (a leaked database leaks no usable token)."""

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from channels_app.models import ApiToken

PREFIX = "vig_"
DEFAULT_SCOPES = ("messages:read", "messages:write")  # what a token could do before scopes existed


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create(name: str, scopes: Iterable[str] = DEFAULT_SCOPES, **limits: Any) -> tuple[ApiToken, str]:
    """(ApiToken, the raw token). The raw token is not stored: show it now or never. `limits`: expires_at,
    channels, addresses, rate_per_minute. Its callback secret (token.callback_secret["secret"]) signs the
    callbacks of what it creates."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        prefix=raw[:10],
        digest=digest(raw),
        scopes=sorted(set(scopes)),
        callback_secret={"secret": "whsec_" + secrets.token_urlsafe(32)},
        **limits,
    )
    return token, raw


def authenticate(raw: str | None) -> ApiToken | None:
    """The live ApiToken for a raw bearer token, or None (unknown or revoked). Expiry and last_used_at are
    the caller's (channels_app.callers), which writes last_used_at at most every 30 s, not on every request."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    return ApiToken.objects.filter(digest=digest(raw), revoked_at__isnull=True).first()


def revoke(tokens: Iterable[ApiToken]) -> int:
    return ApiToken.objects.filter(pk__in=[t.pk for t in tokens], revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
