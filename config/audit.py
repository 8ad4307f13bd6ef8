"""The audit trail page (/audit/), for the admin role: who changed what and when (scheduler.shared.audit),
newest first, filtered by object (type and id: a job's, a source's, a person's or a channel's "History" link
lands here), by actor, by way in and by date. Secrets were masked when the entries were written."""

import json
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from scheduler.models import AuditEntry
from scheduler.shared import audit, roles
from scheduler.shared.web import Request, keyset_page, query_without, render_page

TEMPLATE = "config/audit.html"
PAGE_SIZE = 50


def type_choices() -> list[tuple[str, str]]:
    return [("", _("Any")), *((label, label) for label in audit.tracked_labels())]


class AuditFilters(forms.Form):
    type = forms.ChoiceField(label=gettext_lazy("Object type"), choices=type_choices, required=False)
    id = forms.CharField(label=gettext_lazy("Object id"), max_length=64, required=False)
    actor = forms.CharField(
        label=gettext_lazy("Actor"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("A username, token:<name> or command:<name>."),
    )
    via = forms.ChoiceField(
        label=gettext_lazy("Via"), choices=[("", gettext_lazy("Any")), *AuditEntry.Via.choices], required=False
    )
    since = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    until = forms.DateField(
        label=gettext_lazy("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time()), timezone.get_current_timezone())


def filtered(data: dict[str, Any]) -> QuerySet[AuditEntry]:
    """The entries the cleaned filters choose (dates in the reader's zone; "until" includes its day)."""
    rows = AuditEntry.objects.all()
    if data.get("type"):
        rows = rows.filter(object_type=data["type"])
    if data.get("id"):
        rows = rows.filter(object_id=data["id"].strip())
    if data.get("actor"):
        rows = rows.filter(actor=data["actor"].strip())
    if data.get("via"):
        rows = rows.filter(via=data["via"])
    if data.get("since"):
        rows = rows.filter(at__gte=_day_start(data["since"]))
    if data.get("until"):
        rows = rows.filter(at__lt=_day_start(data["until"] + timedelta(days=1)))
    return rows


def changes_of(entry: AuditEntry) -> list[tuple[str, str, str]]:
    """(field, old, new) as text for the page (escaped by the template): the field by its translated name."""
    found = entry.changes if isinstance(entry.changes, dict) else {}
    rows = []
    for name, pair in found.items():
        old, new = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        rows.append((audit.field_label(entry.object_type, str(name)), _text(old), _text(new)))
    return rows


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@require_GET
def audit_list(request: Request) -> HttpResponse:
    roles.require(request.user, "administer")
    form = AuditFilters(request.GET)
    rows = filtered(form.cleaned_data) if form.is_valid() else AuditEntry.objects.none()
    page = keyset_page(rows, request, PAGE_SIZE)
    entries = [(entry, audit.action_label(entry.action), changes_of(entry)) for entry in page]
    context = {
        "title": _("Audit trail"),
        "form": form,
        "page": page,
        "entries": entries,
        "query": query_without(request, "before"),
    }
    return render_page(request, TEMPLATE, context)


urls = [path("audit/", audit_list, name="audit")]
