"""Channel pages: the list with recent delivery figures, the editor (secrets write-only), "send test" and
"retry every dead delivery" on one channel. Validation is ChannelForm's, sending is sendtest's (TestSendForm)."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from channels_app import forms as channel_forms
from channels_app import sending, sendtest
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery, Recipient
from channels_app.views_common import done
from scheduler.shared.web import Request, admin_required, keyset_page, operator_required, query_without, render_page

TEMPLATE = "channels_app/channel.html"
RECENT = timedelta(hours=24)
WAITING = (Delivery.Status.PENDING, Delivery.Status.SENDING, Delivery.Status.RETRYING)
WINDOW = 10_000  # at most this many of the newest deliveries are counted for the recent figures
BULK_RETRY = 1000  # dead deliveries revived per press: one request stays short


def recent_window() -> tuple[datetime, int, bool]:
    """(since, lowest pk, capped): the last 24 hours, but no more than the latest WINDOW deliveries, so the
    figures cost an index range scan however busy the day was. `capped` says the day had more."""
    since = timezone.now() - RECENT
    newest = Delivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    floor = newest - WINDOW
    below = Delivery.objects.filter(pk__lte=floor).order_by("-pk").values_list("created_at", flat=True).first()
    return since, floor, below is not None and below >= since


def recent_stats(
    channel_ids: Iterable[int], window: tuple[datetime, int, bool] | None = None
) -> dict[int, dict[str, int]]:
    """{channel id: {"sent", "failing", "waiting", "dead"}} in the recent window, in one grouped query."""
    since, floor, _capped = window or recent_window()
    stats = {pk: {"sent": 0, "failing": 0, "waiting": 0, "dead": 0} for pk in channel_ids}
    rows = (
        Delivery.objects.filter(pk__gt=floor, created_at__gte=since, recipient__channel__in=channel_ids)
        .values_list("recipient__channel", "status")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for channel_id, status, count in rows:
        figures = stats[channel_id]
        if status == Delivery.Status.SENT:
            figures["sent"] += count
        elif status in WAITING:
            figures["waiting"] += count
        elif status in (Delivery.Status.FAILED, Delivery.Status.DEAD):
            figures["failing"] += count
        if status == Delivery.Status.DEAD:
            figures["dead"] += count
    return stats


def kind_help() -> list[dict[str, object]]:
    """Each channel kind's settings, secrets and address, as its Config form declares them."""
    found: list[dict[str, object]] = []
    for name in kinds.names():
        kind = kinds.get(name)
        fields = kind.Config.base_fields
        found.append(
            {
                "name": name,
                "label": kind.label,
                "settings": [(key, field.help_text) for key, field in fields.items() if key not in kind.secret_fields],
                "secrets": [(key, fields[key].help_text if key in fields else "") for key in kind.secret_fields],
                "address": kind.address_help,
            }
        )
    return found


def channel_list(request: Request) -> HttpResponse:
    rows = list(Channel.objects.annotate(recipient_count=Count("recipients")).order_by("name"))
    window = recent_window()
    stats = recent_stats([row.pk for row in rows], window)
    for row in rows:
        row.stats = stats[row.pk]  # type: ignore[attr-defined]  # for the template
    context = {"title": _("Channels"), "channels": rows, "capped": window[2], "window": WINDOW}
    return render_page(request, "channels_app/channels.html", context)


def _page_context(request: Request, channel: Channel | None, form: channel_forms.ChannelForm) -> dict[str, object]:
    """Everything the channel page shows besides the form (skipped when HTMX asks for the form only)."""
    context: dict[str, object] = {
        "channel": channel,
        "form": form,
        "title": channel.name if channel else _("New channel"),
    }
    context["kinds"] = kind_help()
    if channel is None:
        return context
    if request.htmx and request.method == "POST":
        return context
    recipients = Recipient.objects.filter(channel=channel).annotate(subscription_count=Count("subscriptions"))
    page = keyset_page(recipients, request, 100)
    window = recent_window()
    recent = (
        Delivery.objects.filter(recipient__channel=channel)
        .select_related("event", "recipient")
        .only(
            "pk", "status", "created_at", "attempts", "error", "event__type", "recipient__address", "recipient__label"
        )
        .order_by("-pk")[:10]
    )
    context.update(
        has_dead=Delivery.objects.filter(recipient__channel=channel, status=Delivery.Status.DEAD).exists(),
        recipients=page,
        query=query_without(request, "before"),
        recent=list(recent),
        stats=recent_stats([channel.pk], window)[channel.pk],
        capped=window[2],
        window=WINDOW,
        test_form=sendtest.TestSendForm(channel),
    )
    return context


@require_http_methods(["GET", "HEAD", "POST"])
def channel_new(request: Request) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    return render_page(request, TEMPLATE, _page_context(request, None, channel_forms.ChannelForm()))


@require_http_methods(["GET", "HEAD", "POST"])
def channel(request: Request, pk: int) -> HttpResponse:
    if request.method == "POST":
        return _save(request, pk)
    found = get_object_or_404(Channel, pk=pk)
    return render_page(request, TEMPLATE, _page_context(request, found, channel_forms.ChannelForm(instance=found)))


@admin_required
def _save(request: Request, pk: int | None) -> HttpResponse:
    found = get_object_or_404(Channel, pk=pk) if pk else None
    form = channel_forms.ChannelForm(request.POST, instance=found)
    if form.is_valid():
        saved = form.save()
        messages.success(request, _("Channel “%(name)s” saved.") % {"name": saved.name})
        return done(request, reverse("channels_app:channel", args=[saved.pk]))
    # The form changed `found` in memory with what was posted: the page shows the stored channel.
    stored = Channel.objects.get(pk=pk) if pk else None
    return render_page(request, TEMPLATE, _page_context(request, stored, form), partial="channel_form")


@admin_required
def channel_test(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Channel, pk=pk)
    form = sendtest.TestSendForm(found, request.POST)
    delivery = form.send() if form.is_valid() else None
    if not request.htmx:
        if delivery is not None and delivery.status == Delivery.Status.SENT:
            messages.success(request, _("Test message sent."))
        else:
            refused = " ".join(str(message) for field in form.errors.values() for message in field)
            error = delivery.error if delivery is not None else refused
            messages.error(request, _("The test message was not sent: %(error)s") % {"error": error})
        return done(request, reverse("channels_app:channel", args=[pk]))
    context = {"channel": found, "delivery": delivery, "test_form": form}
    return render_page(request, TEMPLATE, context, partial="test_form")


@operator_required
def channel_retry_dead(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Channel, pk=pk)
    dead = Delivery.objects.filter(recipient__channel=found, status=Delivery.Status.DEAD).only("pk")
    revived = sending.revive(list(dead[:BULK_RETRY]))
    text = ngettext("Queued %(count)d dead delivery again.", "Queued %(count)d dead deliveries again.", revived)
    messages.success(request, text % {"count": revived})
    return done(request, reverse("channels_app:channel", args=[pk]))


urls = [
    path("channels/", channel_list, name="channels"),
    path("channels/new/", channel_new, name="channel_new"),
    path("channels/<int:pk>/", channel, name="channel"),
    path("channels/<int:pk>/test/", channel_test, name="channel_test"),
    path("channels/<int:pk>/retry-dead/", channel_retry_dead, name="channel_retry_dead"),
]
