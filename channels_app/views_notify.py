"""The Notify panel on a source's, a person's or a job's page: who is told of that object's events (and who
hears of them through a pattern such as "Any source"), and a form to subscribe a recipient or remove one.

The panel is the `{% notify_panel %}` tag (channels_app.templatetags.notify), so the domain's pages need no
view code; its forms post to the one view here, which answers HTMX with the panel and a plain form with a
redirect back to the object's page."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _

from channels_app import digests, topics
from channels_app.forms import NotifyForm
from channels_app.models import Subscription
from scheduler.shared import bounds, roles
from scheduler.shared.web import Request, admin_required

TEMPLATE = "channels_app/_notify.html"


def panel(topic: str, user: object, form: NotifyForm | None = None, note: str = "") -> dict[str, object]:
    """The panel's context for an object's topic (`source:12`)."""
    patterns = topics.covering(topic)
    described = topics.describe(patterns)
    published = topics.event_types(topic)
    rows = (
        Subscription.objects.filter(topic__in=[topic, *patterns])
        .select_related("recipient__channel")
        .order_by("recipient__channel__name", "recipient__label", "recipient__address", "pk")
    )
    direct, via = [], []
    for subscription in rows:
        if subscription.topic == topic:
            direct.append((subscription, topics.in_words(subscription.event_types)))
            continue
        # What a pattern's subscriber hears of this object: its event types (or the pattern's), ours only.
        theirs = subscription.event_types or topics.event_types(subscription.topic)
        heard = [name for name in published if name in theirs]
        if heard:
            words = topics.in_words([] if heard == published else heard)
            via.append((subscription, described[subscription.topic][0], words))
    can_edit = roles.can(user, "administer")  # the page's user; subscriptions are the admin role's
    if can_edit and form is None:
        form = NotifyForm(topic)
    return {
        "topic": topic,
        "subscriptions": direct,
        "via": via,
        "can_edit": can_edit,
        "form": form,
        "has_recipients": form is not None and form.has_recipients,
        "note": note,
    }


@admin_required
def notify(request: Request) -> HttpResponse:
    """POST topic + recipient + event_types (+ digest, digest_hours, digest_at): subscribe (or update that
    recipient's events and delivery); topic + remove=<id>: remove that subscription."""
    topic = request.POST.get("topic", "")
    if topics.parse(topic) is None:
        raise Http404
    form: NotifyForm | None = None
    if "remove" in request.POST:
        chosen = Subscription.objects.filter(pk=bounds.parse_id(request.POST["remove"]) or 0, topic=topic)
        removed, _by_model = chosen.delete()
        note = _("Subscription removed.") if removed else ""
    else:
        recipient = bounds.parse_id(request.POST.get("recipient", ""))
        existing = Subscription.objects.filter(topic=topic, recipient_id=recipient).first() if recipient else None
        form = NotifyForm(topic, request.POST, instance=existing)
        note = ""
        if form.is_valid():
            saved = form.save()
            who = saved.recipient.label or saved.recipient.address or _("(channel)")
            note = _("%(recipient)s on %(channel)s will be notified.") % {
                "recipient": who,
                "channel": saved.recipient.channel.name,
            }
            if words := digests.in_words(saved):
                note = _("%(recipient)s on %(channel)s will be notified: %(delivery)s.") % {
                    "recipient": who,
                    "channel": saved.recipient.channel.name,
                    "delivery": words,
                }
            form = None
    if request.htmx:
        return render(request, TEMPLATE, panel(topic, request.user, form, note))
    if form is not None:  # without JS: the errors, in words, on the page we go back to
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    elif note:
        messages.success(request, note)
    url = topics.describe([topic])[topic][1]
    return redirect(f"{url}#notify" if url else reverse("overview"))


urls = [path("notify/", notify, name="notify")]
