"""API tokens: random, shown once, stored as a SHA-256 digest (a leaked database leaks no usable token)."""

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from channels_app.models import ApiToken
from scheduler.shared import audit, roles
from scheduler.shared.api_callers import SCOPES

PREFIX = "vig_"
DEFAULT_SCOPES = ("messages:read", "messages:write")  # what a token could do before scopes existed


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create(
    name: str, scopes: Iterable[str] = DEFAULT_SCOPES, created_by: Any = None, **limits: Any
) -> tuple[ApiToken, str]:
    """(ApiToken, the raw token). The raw token is not stored: show it now or never. `limits`: expires_at,
    channels, addresses, rate_per_minute. Its callback secret (token.callback_secret["secret"]) signs the
    callbacks of what it creates. `created_by`: the account whose role bounds its scopes (None: the shell)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        prefix=raw[:10],
        digest=digest(raw),
        scopes=sorted(set(scopes)),
        callback_secret={"secret": "whsec_" + secrets.token_urlsafe(32)},
        created_by=created_by,
        creator_name=created_by.get_username() if created_by is not None else "",
        **limits,
    )
    return token, raw


def creator_of(token: ApiToken) -> tuple[bool, Any]:
    """(known, user): who created the token. (False, None): made at the shell or before roles existed — every
    scope it holds. (True, a role-less stand-in): its creator's account was deleted."""
    if not token.creator_name:
        return False, None
    if token.created_by is None:
        return True, _DELETED
    return True, token.created_by


class _Deleted:
    """The creator's account no longer exists: no role, so only what any login may."""

    is_authenticated = is_active = True
    is_superuser = False
    _vigia_permissions: frozenset[str] = frozenset()


_DELETED = _Deleted()


def effective_scopes(token: ApiToken) -> frozenset[str]:
    """The token's scopes that are in force now: the known ones (SCOPES), less any its creator's role no longer
    allows (scheduler.shared.roles.SCOPE_ACTIONS): a creator demoted to viewer leaves it its reads, one
    deactivated leaves it nothing. A token made at the shell, or before the audit trail, keeps its scopes."""
    scopes = frozenset(s for s in token.scopes or [] if s in SCOPES)
    known, creator = creator_of(token)
    if not known or creator is None:
        return scopes
    return scopes & roles.scopes_allowed(creator)


def authenticate(raw: str | None) -> ApiToken | None:
    """The live ApiToken for a raw bearer token, or None (unknown or revoked). Expiry and last_used_at are
    the caller's (channels_app.callers), which writes last_used_at at most every 30 s, not on every request."""
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    live = ApiToken.objects.filter(digest=digest(raw), revoked_at__isnull=True)
    return live.select_related("created_by").first()  # its creator's role bounds its scopes


def revoke(tokens: Iterable[ApiToken]) -> int:
    live = ApiToken.objects.filter(pk__in=[t.pk for t in tokens], revoked_at__isnull=True)
    if audit.current() is not None:  # QuerySet.update sends no signal: one entry per token a person revoked
        audit.record_each(live, "revoke")
    return live.update(revoked_at=timezone.now())
