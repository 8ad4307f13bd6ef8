"""Login throttling for the dashboard's and the admin's login pages: growing delays per account *and* address.

What is counted is the pair (username, client address): an attacker behind an office's shared address who
guesses passwords slows down only the accounts they guess at from there, never a colleague logging in from
the same address, nor the account's owner from home. After VIGIA_LOGIN_MAX_FAILURES failures of a pair
(remembered for VIGIA_LOGIN_MEMORY_SECONDS) each further one makes the pair wait before it may try again:
VIGIA_LOGIN_DELAY_SECONDS, then twice that, and so on up to VIGIA_LOGIN_LOCKOUT_SECONDS. A try during the wait
is refused with HTTP 429 before the password is even looked at, so guessing the right one does not help.
A successful login clears the pair. Every failure and every refusal is logged (never the password).
The counts live in the `login_throttle` cache, a database table, so every gunicorn worker and web host
sees the same ones.
"""

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.management import call_command
from django.db import DatabaseError, connections, router
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import ngettext

LOGIN_VIEWS = {"login", "admin:login"}
log = logging.getLogger("vigia.security")


def _cache() -> DatabaseCache:
    return cast(DatabaseCache, caches["login_throttle"])  # its backend in settings.CACHES


def _creating_table[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """A first login before anyone ran `manage.py createcachetable` creates the table instead of failing.
    Any other database error (the database down: a 503) is left alone."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except DatabaseError:
            cache = _cache()
            connection = connections[router.db_for_write(cache.cache_model_class)]
            if cache._table in connection.introspection.table_names():  # type: ignore[attr-defined]  # not in the stubs
                raise
            call_command("createcachetable", database=connection.alias, verbosity=0)
            return function(*args, **kwargs)

    return wrapper


def client_address(request: HttpRequest) -> str:
    """The client's address; behind our own proxy, the one the proxy appended to X-Forwarded-For."""
    if settings.VIGIA_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def _subject(username: str | None, address: str | None) -> str:
    """The cache key stem of a (username, address) pair; the username without regard to case."""
    pair = f"{(username or '').strip().lower()}\n{address or ''}"
    return "pair:" + hashlib.sha256(pair.encode()).hexdigest()


def delay_after(failures: int) -> float:
    """How long a pair waits after its `failures`-th failure: nothing for the first few, then growing."""
    free = settings.VIGIA_LOGIN_MAX_FAILURES
    if failures < free:
        return 0.0
    return float(
        min(settings.VIGIA_LOGIN_DELAY_SECONDS * 2 ** min(failures - free, 30), settings.VIGIA_LOGIN_LOCKOUT_SECONDS)
    )


@_creating_table
def seconds_locked(username: str | None, address: str | None, now: float | None = None) -> float:
    """How long this pair must still wait (0: it may try now)."""
    now = time.time() if now is None else now
    until = _cache().get(f"lock:{_subject(username, address)}")
    return max(0.0, until - now) if until else 0.0


@_creating_table
def record_failure(username: str | None, address: str | None, now: float | None = None) -> float:
    """Count a failed login of the pair; returns the wait it now has."""
    now = time.time() if now is None else now
    memory = settings.VIGIA_LOGIN_MEMORY_SECONDS
    cache, subject = _cache(), _subject(username, address)
    # The failures remembered; a read-modify-write, so two racing failures may count as one.
    recent = [stamp for stamp in cache.get(f"fail:{subject}", []) if stamp > now - memory] + [now]
    cache.set(f"fail:{subject}", recent[-100:], memory)
    wait = delay_after(len(recent))
    if wait:
        cache.set(f"lock:{subject}", now + wait, math.ceil(wait))
    log.warning(
        "login failed",
        extra={"username": (username or "")[:150], "address": address, "failures": len(recent), "wait_s": wait},
    )
    return wait


@_creating_table
def clear(username: str | None, address: str | None) -> None:
    subject = _subject(username, address)
    _cache().delete_many([f"fail:{subject}", f"lock:{subject}"])


@receiver(user_login_failed, dispatch_uid="vigia-login-throttle-failed")
def _on_failure(sender: str, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None:
        record_failure(credentials.get("username", ""), client_address(request))


@receiver(user_logged_in, dispatch_uid="vigia-login-throttle-success")
def _on_success(
    sender: type[AbstractBaseUser], request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    if request is not None:
        clear(user.get_username(), client_address(request))


def wait_text(wait: float) -> str:
    if wait < 120:
        seconds = math.ceil(wait)
        return ngettext(
            "Too many failed logins. Try again in %(seconds)d second.",
            "Too many failed logins. Try again in %(seconds)d seconds.",
            seconds,
        ) % {"seconds": seconds}
    minutes = math.ceil(wait / 60)
    return ngettext(
        "Too many failed logins. Try again in %(minutes)d minute.",
        "Too many failed logins. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class LoginThrottleMiddleware:
    """Refuses a login POST while its (username, address) pair must wait: the login page again, with the
    reason and HTTP 429. Sits after the CSRF, authentication and messages middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in LOGIN_VIEWS:
            return None
        username, address = request.POST.get("username", ""), client_address(request)
        wait = seconds_locked(username, address)
        if not wait:
            return None
        log.warning("login refused: waiting", extra={"username": username[:150], "address": address, "wait_s": wait})
        messages.error(request, wait_text(wait))
        request.method = "GET"  # the login page as first shown, now carrying the message
        response = view_func(request, *view_args, **view_kwargs)
        if response.status_code == 200:  # (an already logged-in operator is simply redirected)
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(wait))
        return response
