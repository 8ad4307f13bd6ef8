"""The open alerts page (`/alerts/`) and the alert panel of a job's, a source's, a person's and a channel's page
(`{% alert_panel %}`, channels_app.templatetags.alert_panel): each watched object's state in words, and for
operators acknowledge / silence / unsilence and the object's alert policy.

The changes are channels_app.alerts' (acknowledge, silence, watch_for) and forms_alerts' (the policy's rules);
they answer HTMX with the list or the panel, and a plain form with a redirect back to the page it came from."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from channels_app import alerts, topics
from channels_app.forms_alerts import SILENCES, ActionForm, PolicyForm, moment_words
from channels_app.models import Watch
from scheduler.shared import roles
from scheduler.shared.web import Request, operator_required, render_page

PANEL = "channels_app/_alert_panel.html"
PAGE = "channels_app/alerts.html"
POLICY_PREFIXES = ("job", "source", "person", "channel")  # objects with a page and a policy of their own
SHOWS = {
    "all": gettext_lazy("All"),
    "alerting": gettext_lazy("Alerting"),
    "silenced": gettext_lazy("Silenced"),
}
LIMIT = 500  # rows on the page: open alerts are few; more than this is a fire, shown first by state


@dataclass
class Row:
    subject: str
    label: str
    link: str | None
    watch: Watch | None
    words: list[str]
    tone: str  # ok / warn / bad: the state's colour
    silenced: bool


def _row(subject: str, label: str, link: str | None, watch: Watch | None, now: datetime) -> Row:
    silenced = watch is not None and _silenced(watch, now)
    return Row(subject, label, link, watch, state_words(watch, now), tone(watch), silenced)


def state_words(watch: Watch | None, now: datetime | None = None) -> list[str]:
    """The watch's state in words, each a phrase: "Failing since 07/12/2026 14:05, 2 failures in a row",
    "Silenced until … by ana", "Acknowledged by ana"."""
    now = now or timezone.now()
    if watch is None or (watch.state == Watch.State.OK and not _silenced(watch, now)):
        return [_("OK")]
    words = []
    count = {"count": watch.failures}
    if watch.state == Watch.State.ALERTING:
        since = moment_words(watch.alerted_at or watch.failing_since)
        words.append(
            ngettext(
                "Alerting since %(since)s, %(count)d failure in a row",
                "Alerting since %(since)s, %(count)d failures in a row",
                watch.failures,
            )
            % {**count, "since": since}
        )
    elif watch.state == Watch.State.FAILING:
        since = moment_words(watch.failing_since)
        words.append(
            ngettext(
                "Failing since %(since)s, %(count)d failure in a row",
                "Failing since %(since)s, %(count)d failures in a row",
                watch.failures,
            )
            % {**count, "since": since}
        )
    else:
        words.append(_("OK"))
    if watch.state == Watch.State.ALERTING and watch.acknowledged_at:
        words.append(_("acknowledged by %(who)s") % {"who": watch.acknowledged_by or "—"})
    if _silenced(watch, now):
        words.append(
            _("silenced until %(until)s by %(who)s")
            % {"until": moment_words(watch.silenced_until), "who": watch.silenced_by or "—"}
        )
    return words


def tone(watch: Watch | None) -> str:
    if watch is None or watch.state == Watch.State.OK:
        return "ok"
    return "bad" if watch.state == Watch.State.ALERTING else "warn"


def _silenced(watch: Watch, now: datetime) -> bool:
    return bool(watch.silenced_until and watch.silenced_until > now)


def link_of(subject: str) -> str | None:
    try:
        family, ident = alerts.split(subject)
        return family.link(ident)
    except (KeyError, ValueError):  # a family no longer registered, or an id that is not one
        return None


def policy_summary(watch: Watch | None, subject: str) -> str:
    """ "Alert after 3 failures in a row (default) · remind every 1:00:00 · ..." for whoever reads the page."""
    family, _ident = alerts.split(subject)
    n = watch.alert_after if watch and watch.alert_after else None
    count = n or family.alert_after()
    parts = [
        (
            ngettext("Alert after %(n)d failure in a row", "Alert after %(n)d failures in a row", count)
            if n
            else ngettext(
                "Alert after %(n)d failure in a row (default)", "Alert after %(n)d failures in a row (default)", count
            )
        )
        % {"n": count}
    ]
    if watch and watch.remind_every:
        parts.append(_("remind every %(period)s") % {"period": period_words(watch.remind_every)})
    else:
        parts.append(_("no reminders"))
    if watch is None or watch.notify_recovery:
        parts.append(_("told when it works again"))
    if watch and watch.expect_every:
        parts.append(_("must succeed at least every %(period)s") % {"period": period_words(watch.expect_every)})
    return " · ".join(parts)


def period_words(period: object) -> str:
    from datetime import timedelta

    assert isinstance(period, timedelta)
    minutes = int(period.total_seconds() // 60)
    if minutes and minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if minutes and minutes % 60 == 0:
        return _("%(n)d h") % {"n": minutes // 60}
    return _("%(n)d min") % {"n": minutes}


# --- the open alerts page ----------------------------------------------------------------------------------


def open_watches(show: str, now: datetime) -> "QuerySet[Watch]":
    silenced = Q(silenced_until__gt=now)
    rows = Watch.objects.all()
    if show == "alerting":
        rows = rows.filter(state=Watch.State.ALERTING)
    elif show == "silenced":
        rows = rows.filter(silenced)
    else:
        rows = rows.filter(~Q(state=Watch.State.OK) | silenced)
    order = Case(
        When(state=Watch.State.ALERTING, then=Value(0)),
        When(state=Watch.State.FAILING, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return rows.annotate(order=order).order_by("order", "failing_since", "subject")


def _list_context(request: Request, show: str, note: str = "") -> dict[str, object]:
    now = timezone.now()
    watches = list(open_watches(show, now)[: LIMIT + 1])
    rows = [
        _row(watch.subject, watch.name or watch.subject, link_of(watch.subject), watch, now)
        for watch in watches[:LIMIT]
    ]
    return {
        "rows": rows,
        "more": len(watches) > LIMIT,
        "show": show,
        "shows": list(SHOWS.items()),
        "can_act": roles.can(request.user, "operate"),
        "silences": SILENCES,
        "note": note,
        "action_form": ActionForm(),
    }


def _show(value: object) -> str:
    return value if isinstance(value, str) and value in SHOWS else "all"


def alert_list(request: Request) -> HttpResponse:
    show = _show(request.GET.get("show"))
    return render_page(request, PAGE, _list_context(request, show), partial="list")


# --- the panel on an object's page ----------------------------------------------------------------------------


def object_of(subject: str) -> tuple[str, bool] | None:
    """(name, policy allowed) of an object subject (`source:12`, `deadline:7`) whose object exists, or None."""
    prefix, _sep, ident = subject.partition(":")
    if not ident.isascii() or not ident.isdigit() or len(ident) > 18:
        return None
    pk = int(ident)
    own = "job" if prefix == "deadline" else prefix
    if own not in POLICY_PREFIXES or prefix not in alerts.FAMILIES:
        return None
    parsed = topics.parse(topics.topic_for(own, pk))
    if parsed is None:
        return None
    found = parsed[0].lookup([pk])
    if pk not in found:
        return None
    allowed = prefix != "deadline" and (own != "job" or _unowned_job(pk))
    return found[pk][0], allowed


def panel(
    prefix: str,
    pk: object,
    user: object,
    form: PolicyForm | None = None,
    note: str = "",
    policy: bool | None = None,
) -> dict[str, object]:
    """The panel's context for an object (`"source", 12`): its state (and a job's dead man's switch), the
    actions and the policy form for an operator. A job another object owns (a source's check) has no policy of
    its own: its owner's page sets it."""
    subject = f"{prefix}:{pk}"
    if policy is None:  # the page may know (a job page knows its owner): one query less
        policy = prefix != "job" or _unowned_job(pk)
    subjects = [subject, f"deadline:{pk}"] if prefix == "job" else [subject]
    found = alerts.states(subjects)
    now = timezone.now()
    watch = found.get(subject)
    rows = [_row(subject, _("Alert state"), None, watch, now)]
    late = found.get(f"deadline:{pk}")
    if prefix == "job" and (late is not None or (watch is not None and watch.expect_every)):
        label = _("No success in time (dead man's switch)")
        rows.append(_row(f"deadline:{pk}", label, None, late, now))
    can_act = roles.can(user, "operate")
    if can_act and policy and form is None:
        form = PolicyForm(subject, watch=watch)
    return {
        "subject": subject,
        "rows": rows,
        "can_act": can_act,
        "policy": policy,
        "summary": policy_summary(watch, subject),
        "form": form if policy else None,
        "silences": SILENCES,
        "note": note,
        "action_form": ActionForm(),
    }


def _unowned_job(pk: object) -> bool:
    from scheduler.models import Job

    ident = str(pk)
    return ident.isascii() and ident.isdigit() and Job.objects.filter(pk=int(ident), owner="").exists()


def _back(subject: str, where: str, show: str) -> str:
    if where == "panel":
        prefix, _sep, ident = subject.partition(":")
        link = link_of(f"job:{ident}" if prefix == "deadline" else subject)
        if link:
            return f"{link}#alerts-panel"
    query = f"?show={show}" if show != "all" else ""
    return reverse("channels_app:alerts") + query


def _panel_answer(request: Request, subject: str, note: str = "", form: PolicyForm | None = None) -> HttpResponse:
    prefix, _sep, ident = subject.partition(":")
    if prefix == "deadline":
        prefix = "job"
    return render(request, PANEL, panel(prefix, ident, request.user, form=form, note=note))


@operator_required
def act(request: Request) -> HttpResponse:
    """POST subject + do (acknowledge, unsilence, 1h/4h/1d, until + until=<moment>); where=panel|list."""
    subject = request.POST.get("subject", "")
    where = "panel" if request.POST.get("where") == "panel" else "list"
    show = _show(request.POST.get("show"))
    watch = Watch.objects.filter(subject=subject).first()
    if watch is None:
        named = object_of(subject)  # a silence before anything failed (planned work): the object must exist
        if named is None:
            raise Http404
        watch = alerts.watch_for(subject, named[0])
    form = ActionForm(request.POST)
    note, error = "", ""
    if form.is_valid():
        note = form.apply(watch, request.user.get_username())
    else:
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    if request.htmx:
        if where == "panel":
            return _panel_answer(request, subject, note=error or note)
        context = _list_context(request, show, note=error or note)
        return render(request, f"{PAGE}#list", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, note)
    return redirect(_back(subject, where, show))


@operator_required
def policy(request: Request) -> HttpResponse:
    """POST subject + the policy's fields: save them (the state is not touched); field errors change nothing."""
    subject = request.POST.get("subject", "")
    named = object_of(subject)
    if named is None or not named[1]:
        raise Http404  # no such object, or one whose policy is set elsewhere (a source's check job)
    form = PolicyForm(subject, request.POST)
    note = ""
    if form.is_valid():
        form.save(named[0])
        note = _("Alert policy saved.")
        saved: PolicyForm | None = None
    else:
        saved = form
    if request.htmx:
        return _panel_answer(request, subject, note=note, form=saved)
    if saved is not None:
        for name, errors in saved.errors.items():
            label = saved.fields[name].label if name in saved.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else str(error))
    else:
        messages.success(request, note)
    return redirect(_back(subject, "panel", "all"))


urls = [
    path("alerts/", alert_list, name="alerts"),
    path("alerts/act/", act, name="alert_act"),
    path("alerts/policy/", policy, name="alert_policy"),
]
