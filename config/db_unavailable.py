"""The database down (restarting, unreachable, out of connections): a friendly 503 page with Retry-After
instead of the generic 500, for every page, whichever layer (session, login, view) hit the database first.

Django turns an uncaught exception anywhere in a request into a call of the 500 handler, still inside
the `except` block, so the exception is at hand here. With DEBUG on, Django shows its own debug page.
"""

import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.views import defaults

UNAVAILABLE = (OperationalError, InterfaceError)


def database_unavailable(exc):
    """True when the exception, or one it was raised from, says the database cannot be reached or used."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, UNAVAILABLE):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def server_error(request):
    """handler500: 503 when the database is the problem, otherwise Django's own 500 page (templates/500.html)."""
    if not database_unavailable(sys.exc_info()[1]):
        return defaults.server_error(request)
    # Like 500.html: rendered without a context, so nothing in it can touch the database again.
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(settings.VIGIA_DB_RETRY_AFTER)
    return response
