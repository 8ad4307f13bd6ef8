"""The database down (restarting, unreachable, out of connections): config.error_pages answers a friendly 503
with Retry-After instead of the generic 500, for every page, whichever layer (session, login, view) hit the
database first.

Django turns an uncaught exception anywhere in a request into a call of the 500 handler, still inside
the `except` block, so the exception is at hand there. With DEBUG on, Django shows its own debug page.
"""

from django.db import InterfaceError, OperationalError

UNAVAILABLE = (OperationalError, InterfaceError)


def database_unavailable(exc: BaseException | None) -> bool:
    """True when the exception, or one it was raised from, says the database cannot be reached or used."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, UNAVAILABLE):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
