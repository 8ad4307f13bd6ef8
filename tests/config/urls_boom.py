"""A URLconf with a view that fails, for the 500 page test (never part of the real URLs)."""

from django.urls import include, path


def boom(request):
    raise RuntimeError("secret-internal-detail")


urlpatterns = [path("boom/", boom), path("", include("config.urls"))]
