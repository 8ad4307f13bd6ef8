"""Recipient pages: add, edit and delete a channel's recipient, and its subscriptions (topics offered and shown
in words by channels_app.topics). Validation is RecipientForm's and SubscriptionForm's."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from channels_app import forms as channel_forms
from channels_app import topics
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Recipient, Subscription
from channels_app.views_common import done
from scheduler import schedules
from scheduler.shared.web import Request, admin_required, render_page

TEMPLATE = "channels_app/recipient.html"


def _context(
    recipient: Recipient | None,
    form: channel_forms.RecipientForm,
    subscription_form: channel_forms.SubscriptionForm | None = None,
    channel: Channel | None = None,
) -> dict[str, object]:
    channel = channel or recipient.channel  # type: ignore[union-attr]  # a channel is given when there is no recipient
    context: dict[str, object] = {"recipient": recipient, "form": form, "channel": channel}
    context["zone_names"] = sorted(schedules.zone_names())  # the time zone field's suggestions
    if recipient is not None and recipient.quiet_from and recipient.quiet_until:
        context["quiet_zone"] = recipient.time_zone or settings.TIME_ZONE
    try:  # what an address is on this channel's kind
        form.fields["address"].help_text = kinds.get(channel.kind).address_help or _("This kind takes no address.")
    except KeyError:
        pass
    context["title"] = str(recipient.label or recipient.address or _("(channel)")) if recipient else _("New recipient")
    if recipient is not None:
        subscriptions = list(recipient.subscriptions.order_by("topic"))
        described = topics.describe(subscription.topic for subscription in subscriptions)
        context["subscriptions"] = [
            (subscription, *described[subscription.topic], topics.in_words(subscription.event_types))
            for subscription in subscriptions
        ]
        context["subscription_form"] = subscription_form or channel_forms.SubscriptionForm(
            initial={"recipient": recipient}
        )
    return context


@require_http_methods(["GET", "HEAD", "POST"])
def recipient_new(request: Request, pk: int) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None, pk)
    channel = get_object_or_404(Channel, pk=pk)
    form = channel_forms.RecipientForm(initial={"channel": channel})
    return render_page(request, TEMPLATE, _context(None, form, channel=channel))


@require_http_methods(["GET", "HEAD", "POST"])
def recipient(request: Request, pk: int) -> HttpResponse:
    if request.method == "POST":
        return _save(request, pk, None)
    found = get_object_or_404(Recipient.objects.select_related("channel"), pk=pk)
    return render_page(request, TEMPLATE, _context(found, channel_forms.RecipientForm(instance=found)))


@admin_required
def _save(request: Request, pk: int | None, channel_pk: int | None) -> HttpResponse:
    found = get_object_or_404(Recipient.objects.select_related("channel"), pk=pk) if pk else None
    channel = found.channel if found else get_object_or_404(Channel, pk=channel_pk)
    form = channel_forms.RecipientForm(request.POST, instance=found)
    if form.is_valid():
        saved = form.save()
        messages.success(request, _("Recipient saved."))
        return done(request, reverse("channels_app:recipient", args=[saved.pk]))
    stored = Recipient.objects.select_related("channel").get(pk=pk) if pk else None
    return render_page(request, TEMPLATE, _context(stored, form, channel=channel), partial="recipient_form")


@admin_required
def recipient_delete(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Recipient, pk=pk)
    channel_pk = found.channel_id
    found.delete()
    messages.success(request, _("Recipient deleted."))
    return done(request, reverse("channels_app:channel", args=[channel_pk]))


@admin_required
def subscription_new(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Recipient.objects.select_related("channel"), pk=pk)
    data = request.POST.copy()
    data["recipient"] = str(found.pk)  # the recipient is the page's, whatever was posted
    form = channel_forms.SubscriptionForm(data)
    if form.is_valid():
        form.save()
        topic = form.cleaned_data["topic"]
        messages.success(request, _("Subscribed to %(topic)s.") % {"topic": topics.describe([topic])[topic][0]})
        return done(request, reverse("channels_app:recipient", args=[found.pk]))
    context = _context(found, channel_forms.RecipientForm(instance=found), subscription_form=form)
    return render_page(request, TEMPLATE, context, partial="subscription_form")


@admin_required
def subscription_delete(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Subscription, pk=pk)
    recipient_pk = found.recipient_id
    found.delete()
    messages.success(request, _("Subscription removed."))
    return done(request, reverse("channels_app:recipient", args=[recipient_pk]))


urls = [
    path("channels/<int:pk>/recipients/new/", recipient_new, name="recipient_new"),
    path("recipients/<int:pk>/", recipient, name="recipient"),
    path("recipients/<int:pk>/delete/", recipient_delete, name="recipient_delete"),
    path("recipients/<int:pk>/subscriptions/new/", subscription_new, name="subscription_new"),
    path("subscriptions/<int:pk>/delete/", subscription_delete, name="subscription_delete"),
]
