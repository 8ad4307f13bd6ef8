"""The API tokens page: the tokens (name, prefix, scopes, expiry, last use, revoked; never a digest or a
secret), the form that creates one (channels_app.forms_tokens.ApiTokenForm, as the admin and
create_api_token), and "revoke".

Who: superusers only (anyone else, staff or not, gets 403). A token can be given every scope, so making one
is an administrator's act; and a superuser check costs no query, where a permission check in the nav link
would cost two on every page. (The admin's ApiTokenAdmin keeps the model permissions.)

A new token and its callback secret are shown once, in the answer to the POST that created them: they are
never stored in the session or a message, and the answer is not cached (Cache-Control: no-store). Reloading
it would post the form again, and the name, already taken, is refused.
"""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from channels_app import tokens
from channels_app.forms_tokens import ApiTokenForm, scope_roles
from channels_app.models import ApiToken
from channels_app.views_common import done
from scheduler.shared import bounds, roles
from scheduler.shared.web import Request, keyset_page, query_without, render_page

TEMPLATE = "channels_app/tokens.html"
LISTED = ["pk", "name", "prefix", "scopes", "expires_at", "channels", "addresses", "rate_per_minute"]
LISTED += ["created_at", "last_used_at", "revoked_at"]  # not the digest, not the callback secret


def _check(request: Request) -> None:
    roles.require(request.user, "administer")


def _page(request: Request, form: ApiTokenForm) -> HttpResponse:
    rows = keyset_page(ApiToken.objects.only(*LISTED), request, 100)
    now = timezone.now()
    for row in rows:
        row.expired = row.expires_at is not None and row.expires_at <= now  # type: ignore[attr-defined]  # for the template
    context = {
        "title": _("API tokens"),
        "tokens": rows,
        "query": query_without(request, "before"),
        "form": form,
        "scope_roles": scope_roles(),
    }
    return render_page(request, TEMPLATE, context)


@require_GET
def token_list(request: Request) -> HttpResponse:
    _check(request)
    return _page(request, ApiTokenForm(user=request.user))


@never_cache
@require_POST
def token_new(request: Request) -> HttpResponse:
    _check(request)
    form = ApiTokenForm(request.POST, user=request.user)  # no scope beyond the creator's role
    if not form.is_valid():
        return _page(request, form)
    token, raw = form.create()
    context = {
        "title": _("New API token"),
        "token": token,
        "raw": raw,
        "callback_secret": token.callback_secret["secret"],
    }
    response = render_page(request, "channels_app/token_created.html", context)
    response["Cache-Control"] = "no-store"  # never_cache says so too; a copy in a cache would outlive "once"
    return response


@require_POST
def token_revoke(request: Request) -> HttpResponse:
    _check(request)
    pk = bounds.parse_id(request.POST.get("token", ""))
    token = get_object_or_404(ApiToken.objects.only("pk", "name", "revoked_at"), pk=pk)
    if tokens.revoke([token]):
        messages.success(request, _("Token “%(name)s” revoked: it is refused from now on.") % {"name": token.name})
    else:
        messages.info(request, _("Token “%(name)s” was already revoked.") % {"name": token.name})
    return done(request, reverse("channels_app:tokens"))


urls = [
    path("tokens/", token_list, name="tokens"),
    path("tokens/new/", token_new, name="token_new"),
    path("tokens/revoke/", token_revoke, name="token_revoke"),
]
