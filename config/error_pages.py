"""The pages of last resort, each naming the request's id (config.middleware.RequestIdMiddleware), which is also on
every log line of that request: an operator's report ("error a1b2…") leads straight to the traceback.

Under /api/ they answer JSON (`{"detail": ..., "request_id": ...}`), as the rest of the API does. The templates are
rendered without a request context, so nothing in them can touch the database again (it may be the cause)."""

import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

from config.db_unavailable import database_unavailable

API_PREFIX = "/api/"


def _answer(request: HttpRequest, status: int, template: str, detail: str, **context: object) -> HttpResponse:
    request_id = getattr(request, "id", "")
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": detail, "request_id": request_id}, status=status)
    page = loader.get_template(template).render({"request_id": request_id, **context})
    return HttpResponse(page, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 with Retry-After when the database is the problem, else 500."""
    if database_unavailable(sys.exc_info()[1]):
        response = _answer(
            request, 503, "503.html", "The database cannot be reached right now. Try again in a few seconds."
        )
        response["Retry-After"] = str(settings.VIGIA_DB_RETRY_AFTER)
        return response
    return _answer(
        request,
        500,
        "500.html",
        "Internal error. It was logged with this request_id: try again in a moment; if it keeps happening, "
        "send the request_id to an administrator.",
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: the site's page in its layout; JSON under /api/ (an unknown endpoint or a wrong version)."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found.", "request_id": getattr(request, "id", "")}, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: a request Django refuses before or while reading it (too large, too many fields, a bad Host)."""
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
        detail = f"The request is too large: send at most {limit} KiB of form or JSON data, or fewer fields."
        return _answer(request, 413, "413.html", detail, limit_kib=limit)
    return _answer(request, 400, "400.html", "Bad request.")
