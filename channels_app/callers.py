"""Who calls the API: `Authorization: Bearer <token>` names one of Vigia's API tokens (`vig_…`) or carries a
JWT minted by an issuer configured in VIGIA_API_JWT_ISSUERS. Either way the answer is a Caller
(scheduler.shared.api) with its scopes, or ApiError 401; then the caller's rate is taken (429).

JWTs are checked by PyJWT (no hand-written crypto): the algorithm is the issuer's (HS256 with a shared secret,
RS256/ES256 with a public key; a token may not choose its own), `exp`, `iss` and `sub` are required, `exp`
and `nbf` (when present) are checked with VIGIA_API_JWT_LEEWAY seconds of leeway, `iss` must be a configured
issuer and `aud` the issuer's audience. Scopes come from the issuer's scope claim (a space-separated string
or a list), limited to the scopes the issuer may grant (all, unless it lists "scopes"; an empty list grants
none). The caller is the pair (iss, sub): what one subject creates, another does not see.

Rate: each caller has a budget "api:<caller key>" (scheduler.shared.budgets, shared by every web process)
of rate_per_minute, with a burst of VIGIA_API_BURST_SECONDS of that rate; beyond it, 429 with Retry-After.
"""

import fnmatch
import hashlib
import math
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from channels_app import tokens
from channels_app.kinds import base as kinds
from channels_app.models import ApiToken, Channel
from scheduler.shared import budgets
from scheduler.shared.api import SCOPES, ApiError, Caller

UNAUTHENTICATED = "Authentication required: send Authorization: Bearer <token>."
LAST_USED_EVERY = timedelta(seconds=30)  # last_used_at is written at most this often per token


def identify(request: HttpRequest) -> Caller:
    value = request.headers.get("Authorization", "").strip()
    if not value:
        raise _unauthorized(UNAUTHENTICATED)
    scheme, _, raw = value.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise _unauthorized("Use Authorization: Bearer <token>.")
    who = _from_token(raw) if raw.startswith(tokens.PREFIX) else _from_jwt(raw)
    _take_rate(who)
    return who


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="vigia"'})


# --- Vigia's tokens ----------------------------------------------------------------------------------------
def _from_token(raw: str) -> Caller:
    token = tokens.authenticate(raw)
    if token is None:
        raise _unauthorized("Invalid or revoked token.")
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise _unauthorized("This token has expired.")
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
        ).update(last_used_at=now)
    return caller_of(token)


def caller_of(token: ApiToken) -> Caller:
    return Caller(
        key=f"token:{token.pk}",
        name=token.name,
        scopes=tokens.effective_scopes(token),  # the stored scopes its creator's role still allows
        token_id=token.pk,
        channels=frozenset(token.channels) if token.channels else None,
        addresses=tuple(token.addresses or ()),
        callback_secret=str((token.callback_secret or {}).get("secret", "")),
        rate_per_minute=token.rate_per_minute,
    )


# --- JWTs ---------------------------------------------------------------------------------------------------
def _from_jwt(raw: str) -> Caller:
    import jwt  # on the first JWT: most installs use tokens only, and every web process would hold it

    if raw.count(".") != 2 or len(raw) > 8192:
        raise _unauthorized("Invalid or revoked token.")
    try:
        unverified = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _unauthorized("Invalid or revoked token.") from None
    issuer_name = unverified.get("iss") if isinstance(unverified, dict) else None
    if not isinstance(issuer_name, str) or issuer_name not in settings.VIGIA_API_JWT_ISSUERS:
        raise _unauthorized("This token's issuer is not accepted.")
    issuer: dict[str, Any] = settings.VIGIA_API_JWT_ISSUERS[issuer_name]
    try:
        claims = jwt.decode(
            raw,
            key=_key(issuer_name, issuer),
            algorithms=[issuer["algorithm"]],
            audience=issuer.get("audience") or None,
            issuer=issuer_name,
            leeway=settings.VIGIA_API_JWT_LEEWAY,
            options={"require": ["exp", "iss", "sub", *(["aud"] if issuer.get("audience") else [])]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("This token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise _unauthorized("This token is not valid yet (nbf).") from None
    except jwt.PyJWTError as exc:
        raise _unauthorized(f"Invalid token: {exc}.") from None
    subject = str(claims["sub"])
    if not subject.strip():
        raise _unauthorized("Invalid token: an empty subject (sub).")
    granted = _scopes_claim(claims.get(issuer.get("scope_claim", "scope")))
    allowed = set(issuer["scopes"] if isinstance(issuer.get("scopes"), list) else SCOPES)
    return Caller(
        key=_jwt_key(issuer_name, subject),
        name=f"{issuer_name}/{subject}"[:200],
        scopes=frozenset(s for s in granted if s in allowed and s in SCOPES),
        channels=frozenset(issuer["channels"]) if issuer.get("channels") else None,
        addresses=tuple(issuer.get("addresses") or ()),
        callback_secret=str(issuer.get("callback_secret", "")),
        rate_per_minute=rate if isinstance(rate := issuer.get("rate_per_minute"), int | float) and rate > 0 else None,
    )


def _jwt_key(issuer: str, subject: str) -> str:
    """The caller key of (iss, sub), at most 200 characters (Message.caller): one that would be longer is a
    digest of both, never a cut (two subjects sharing their first characters would become one caller)."""
    key = f"jwt:{issuer}:{subject}"
    if len(key) <= 200:
        return key
    return "jwt-sha256:" + hashlib.sha256(f"{issuer}\0{subject}".encode("utf-8", "surrogatepass")).hexdigest()


def _scopes_claim(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str)]
    return []


@cache
def _key_from_file(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _key(name: str, issuer: dict[str, Any]) -> Any:
    if issuer["algorithm"].startswith("HS"):
        return issuer["secret"]
    key = issuer.get("public_key") or ""
    return key if "BEGIN" in key else _key_from_file(key)


# --- Rate -----------------------------------------------------------------------------------------------
def _take_rate(who: Caller) -> None:
    per_minute = who.rate_per_minute or settings.VIGIA_API_RATE_PER_MINUTE
    if not per_minute:
        return
    try:
        budgets.reserve(f"api:{who.key}"[:200], per_minute / 60.0, max_wait=settings.VIGIA_API_BURST_SECONDS)
    except budgets.SlotTooFar as exc:
        wait = max(1, math.ceil(exc.wait - settings.VIGIA_API_BURST_SECONDS))
        raise ApiError(
            429,
            f"Too many requests: at most {per_minute:g} a minute. Retry after {wait} s.",
            headers={"Retry-After": str(wait)},
        ) from None


# --- Where messages may go --------------------------------------------------------------------------------
def may_send(who: Caller, channel_name: str, address: str) -> dict[str, list[str]]:
    """Field errors when the caller may not send through this channel or to this address (empty: it may).

    The channel is found as channels_app.scheduled finds it (its name, else its numeric id) and the patterns
    are matched against the address as that channel's kind will store and send it ("+55 (11) 9…" is
    "55119…"), so a limit cannot be dodged, nor wrongly refused, by how the address is typed."""
    errors: dict[str, list[str]] = {}
    if who.channels is None and not who.addresses:
        return errors
    channel = _channel(channel_name)
    if who.channels is not None and (channel.name if channel else channel_name) not in who.channels:
        errors["channel"] = ["This token may not send through this channel."]
    if who.addresses:
        try:
            address = kinds.get(channel.kind).clean_address(address) if channel else address
        except (ValidationError, KeyError):
            pass  # matched as given; creating the message reports the address (or the kind) itself
        if not any(fnmatch.fnmatchcase(address, pattern) for pattern in who.addresses):
            errors["to"] = ["This token may not send to this address."]
    return errors


def _channel(name: str) -> Channel | None:
    found = Channel.objects.filter(name=name).first() if name else None
    if found is None and name.isascii() and name.isdigit() and len(name) < 19:
        found = Channel.objects.filter(pk=int(name)).first()
    return found
