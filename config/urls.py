from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from config import api, audit, health, kinds, metrics, users, views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("healthz", health.healthz, name="healthz"),  # no login: load balancers and probes (config.health)
    path("metrics", metrics.metrics, name="metrics"),  # bearer token, no session (config.metrics)
    path("", include(views.urls)),  # the overview's force-sync buttons
    path("", include(users.urls)),  # /users/: accounts and their roles (the admin role)
    path("", include(audit.urls)),  # /audit/: who changed what and when (the admin role)
    path("kinds/<slug:endpoint>/fields/", kinds.kind_fields_view, name="kind_fields"),  # the kind select's swap
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),  # the login page has it too
    path("", include("scheduler.urls")),
    path("", include("scrapers.urls")),
    path("", include("channels_app.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls()),  # bearer tokens, not the session login (config.api)
]

handler400 = "config.error_pages.bad_request"  # JSON under /api/
handler404 = "config.error_pages.page_not_found"
handler500 = "config.error_pages.server_error"  # the database down: a friendly 503, else 500 naming the request id
