from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from channels_app import api

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls()),  # bearer tokens, not the session login (channels_app.api)
]
