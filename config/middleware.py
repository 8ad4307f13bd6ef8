"""Pages show times in the operator's zone: the browser reports it (static/js/vigia.js sets the `vigia_tz`
cookie from Intl), and an unknown or missing zone falls back to settings.TIME_ZONE."""

import zoneinfo

from django.utils import timezone

COOKIE = "vigia_tz"


def operator_zone(request):
    name = request.COOKIES.get(COOKIE, "")
    if name and len(name) < 64:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return None


class OperatorTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = operator_zone(request)
        if zone:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)
