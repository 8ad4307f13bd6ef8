"""What the delivery pages share: the end of a successful POST, which deliveries may be retried.
(A delivery's status label is the model's, translated there: the templates show `get_status_display`.)"""

from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

from channels_app.models import Delivery
from scheduler.shared.web import Request

REVIVABLE = (Delivery.Status.FAILED, Delivery.Status.DEAD)


def done(request: Request, url: str) -> HttpResponseClientRedirect | HttpResponseRedirect:
    """After a change: HTMX follows HX-Redirect (a full page load), a plain form a 302."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
