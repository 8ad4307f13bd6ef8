"""Delivery pages: the keyset-paged list (status and channel filters, no COUNT, no OFFSET), one delivery
with its attempts, error and event, and "retry" for failed and dead ones (sending.revive, as the admin)."""

import json

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _

from channels_app import sending
from channels_app.models import Channel, Delivery
from channels_app.views_common import REVIVABLE, done
from scheduler.shared import bounds
from scheduler.shared.web import Request, keyset_page, operator_required, query_without, render_page

PAGE_SIZE = 50
PAYLOAD_SHOWN = 4000  # characters of the event's payload on the delivery page


def delivery_list(request: Request) -> HttpResponse:
    status = request.GET.get("status", "")
    status = status if status in Delivery.Status.values else ""
    channel_pk = bounds.parse_id(request.GET.get("channel"))
    rows = Delivery.objects.select_related("event", "recipient__channel").only(
        "pk",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "error",
        "template_error",
        "event__type",
        "recipient__address",
        "recipient__label",
        "recipient__channel__name",
    )
    if status:
        rows = rows.filter(status=status)
    if channel_pk:
        rows = rows.filter(recipient__channel_id=channel_pk)
    page = keyset_page(rows, request, PAGE_SIZE)
    context = {
        "title": _("Deliveries"),
        "page": page,
        "query": query_without(request, "before"),
        "status": status,
        "channel_pk": channel_pk,
        "statuses": Delivery.Status.choices,
        "channels": Channel.objects.order_by("name").only("pk", "name"),
    }
    return render_page(request, "channels_app/deliveries.html", context, partial="rows")


def delivery(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Delivery.objects.select_related("event", "recipient__channel"), pk=pk)
    payload = json.dumps(found.event.payload, ensure_ascii=False, indent=2, default=str)
    context = {
        "title": _("Delivery #%(pk)d") % {"pk": found.pk},
        "delivery": found,
        "payload": payload[:PAYLOAD_SHOWN],
        "payload_cut": len(payload) > PAYLOAD_SHOWN,
        "can_retry": found.status in REVIVABLE,
    }
    return render_page(request, "channels_app/delivery.html", context)


@operator_required
def delivery_retry(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Delivery, pk=pk)
    if sending.revive([found]):
        messages.success(request, _("Delivery queued again."))
    else:
        messages.warning(request, _("Only failed and dead deliveries can be retried."))
    return done(request, reverse("channels_app:delivery", args=[pk]))


urls = [
    path("deliveries/", delivery_list, name="deliveries"),
    path("deliveries/<int:pk>/", delivery, name="delivery"),
    path("deliveries/<int:pk>/retry/", delivery_retry, name="delivery_retry"),
]
