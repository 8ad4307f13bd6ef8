"""Request-wide middleware.

- RequestIdMiddleware: an id per request, on its log lines, its response and its error page.
- OperatorTimezoneMiddleware: pages show times in the operator's zone: the browser reports it (static/js/vigia.js
  sets the `vigia_tz` cookie from Intl), and an unknown or missing zone falls back to settings.TIME_ZONE."""

import re
import uuid
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from scheduler import schedules
from scheduler.shared.logs import log_context

COOKIE = "vigia_tz"


def operator_zone(request: HttpRequest) -> ZoneInfo | None:
    try:
        return schedules.get_zone(request.COOKIES.get(COOKIE, ""))
    except schedules.ScheduleError:
        return None


class OperatorTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        zone = operator_zone(request)
        if zone:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)


REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,100}")


class IdentifiedRequest(HttpRequest):
    """A request with the `id` RequestIdMiddleware gives it (for type checkers; nothing changes at run time)."""

    id: str


class RequestIdMiddleware:
    """Every request gets an id, on every log line logged while serving it (`request_id=`), on the response
    (`X-Request-ID`) and on the error pages: a user's "error a1b2…" leads to the traceback. Behind a proxy
    (VIGIA_BEHIND_PROXY) the proxy's own X-Request-ID is kept when it looks like one, so its logs match."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: IdentifiedRequest) -> HttpResponseBase:
        given = request.headers.get("X-Request-ID", "") if settings.VIGIA_BEHIND_PROXY else ""
        request.id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        with log_context(request_id=request.id):
            response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response


class AuditMiddleware:
    """Who is acting, for the audit trail (scheduler.shared.audit): the signed-in account, via "admin" under the
    Django admin's prefix, "dashboard" elsewhere; under the API's prefix via "api", the caller named by the
    API's authentication ("token:<name>"). After AuthenticationMiddleware: the user is read when a change is
    recorded, not before."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.admin_prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        from scheduler.shared import audit

        with audit.acting(audit.Actor(via=self.via(request), user=getattr(request, "user", None))):
            return self.get_response(request)

    def via(self, request: HttpRequest) -> str:
        from scheduler.shared import audit

        if self.admin_prefix is None:
            from django.urls import NoReverseMatch, reverse

            try:
                self.admin_prefix = reverse("admin:index")
            except NoReverseMatch:
                self.admin_prefix = "/admin/"
        if request.path_info.startswith("/api/"):
            return audit.API
        return audit.ADMIN if request.path.startswith(self.admin_prefix) else audit.DASHBOARD
