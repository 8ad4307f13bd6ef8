"""A URLconf with views that fail, for the 500 page tests (never part of the real URLs)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path


def boom(request):
    raise RuntimeError("secret-internal-detail")


urlpatterns = [
    path("boom/", boom),
    path("api/v1/boom/", login_not_required(boom)),
    path("", include("config.urls")),
]

handler400 = "config.error_pages.bad_request"
handler404 = "config.error_pages.page_not_found"
handler500 = "config.error_pages.server_error"
