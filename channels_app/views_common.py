"""What the delivery pages share: the end of a successful POST, translated status labels, secret flags."""

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django_htmx.http import HttpResponseClientRedirect

from channels_app import crypto
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery
from scheduler.shared.web import Request

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The model's labels are not translated (its choices are used by the API too): the pages use these.
STATUS_LABELS: dict[str, "StrOrPromise"] = {
    Delivery.Status.PENDING: _("Pending"),
    Delivery.Status.SENDING: _("Sending"),
    Delivery.Status.SENT: _("Sent"),
    Delivery.Status.RETRYING: _("Waiting to retry"),
    Delivery.Status.FAILED: _("Failed (permanent error)"),
    Delivery.Status.DEAD: _("Dead (retries exhausted)"),
    Delivery.Status.CANCELLED: _("Cancelled"),
}
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


def with_status_labels(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """The rows, each with its translated `status_label`."""
    rows = list(deliveries)
    for row in rows:
        row.status_label = STATUS_LABELS.get(row.status, row.status)  # type: ignore[attr-defined]  # for the templates
    return rows
