"""What the delivery pages share: the end of a successful POST, which deliveries may be retried, secret flags.
(A delivery's status label is the model's, translated there: the templates show `get_status_display`.)"""

from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

from channels_app import crypto
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery
from scheduler.shared.web import Request

REVIVABLE = (Delivery.Status.FAILED, Delivery.Status.DEAD)


def done(request: Request, url: str) -> HttpResponseClientRedirect | HttpResponseRedirect:
    """After a change: HTMX follows HX-Redirect (a full page load), a plain form a 302."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def secret_flags(channel: Channel) -> list[tuple[str, bool]]:
    """[(name, is_set)] for the kind's secrets and any other stored key: which are set, never their values."""
    try:
        stored = channel.secrets or {}
    except crypto.SecretsUnreadable:  # a lost key: shown as unset, so entering them again recovers it
        stored = {}
    try:
        names = list(kinds.get(channel.kind).secret_fields)
    except KeyError:
        names = []
    names += sorted(set(stored) - set(names))
    return [(name, bool(stored.get(name))) for name in names]
