"""Login throttling for the dashboard's and the admin's login pages.

VIGIA_LOGIN_MAX_FAILURES failed logins for one username, or from one client address, within
VIGIA_LOGIN_LOCKOUT_SECONDS lock that username/address out for that long: further attempts are refused
with HTTP 429 before the password is even looked at, so guessing the right one no longer helps. A
successful login clears the counts. The counts live in the `login_throttle` cache, a database table,
so every gunicorn worker and every web host sees the same ones.
"""

import functools
import hashlib
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


def _subjects(username: str | None, address: str | None) -> list[str]:
    """Cache key stems for what is counted: the username (case-insensitive) and the address."""
    subjects = []
    if username:
        subjects.append("user:" + hashlib.sha256(username.strip().lower().encode()).hexdigest())
    if address:
        subjects.append("addr:" + hashlib.sha256(address.encode()).hexdigest())
    return subjects


@_creating_table
def seconds_locked(username: str | None, address: str | None, now: float | None = None) -> float:
    """How long these are still locked out (0: not locked)."""
    now = time.time() if now is None else now
    until = _cache().get_many([f"lock:{subject}" for subject in _subjects(username, address)]).values()
    return max([0, *(deadline - now for deadline in until)])


@_creating_table
def record_failure(username: str | None, address: str | None, now: float | None = None) -> None:
    now = time.time() if now is None else now
    period = settings.VIGIA_LOGIN_LOCKOUT_SECONDS
    cache = _cache()
    for subject in _subjects(username, address):
        # The failures within the period; a read-modify-write, so two racing failures may count as one.
        recent = [stamp for stamp in cache.get(f"fail:{subject}", []) if stamp > now - period] + [now]
        cache.set(f"fail:{subject}", recent, period)
        if len(recent) >= settings.VIGIA_LOGIN_MAX_FAILURES:
            cache.set(f"lock:{subject}", now + period, period)


@_creating_table
def clear(username: str | None, address: str | None) -> None:
    _cache().delete_many([f"{kind}:{subject}" for subject in _subjects(username, address) for kind in ("fail", "lock")])


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


class LoginThrottleMiddleware:
    """Refuses a login POST while its username or address is locked out: the login page again, with
    the reason and HTTP 429. Sits after the CSRF, authentication and messages middleware."""

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
        wait = seconds_locked(request.POST.get("username", ""), client_address(request))
        if not wait:
            return None
        minutes = math.ceil(wait / 60)
        messages.error(
            request,
            ngettext(
                "Too many failed logins. Try again in %(minutes)d minute.",
                "Too many failed logins. Try again in %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes},
        )
        request.method = "GET"  # the login page as first shown, now carrying the message
        response = view_func(request, *view_args, **view_kwargs)
        if response.status_code == 200:  # (an already logged-in operator is simply redirected)
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(wait))
        return response
