"""The people list's filters (search, active, expiring, tribunal) and the people they choose: shared by the
list page and the export job, so an export holds exactly the people the list showed."""

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.db.models import QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy

from scrapers.models import MonitoredPerson
from scrapers.people import brazil, search

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

EVERY_TRIBUNAL = "*"  # people who chose no tribunal (every one is searched)


def tribunal_choices() -> list[tuple[str, "StrOrPromise"]]:
    known = sorted(brazil.known_tribunals())
    return [("", gettext_lazy("Any")), (EVERY_TRIBUNAL, gettext_lazy("Every tribunal (none chosen)"))] + [
        (name, name) for name in known
    ]


class PeopleFilters(forms.Form):
    q = forms.CharField(required=False, max_length=200, label=gettext_lazy("Search"))
    active = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Active"),
        choices=[("", gettext_lazy("All")), ("yes", gettext_lazy("Active")), ("no", gettext_lazy("Inactive"))],
    )
    expiring = forms.IntegerField(
        required=False, min_value=0, max_value=3650, label=gettext_lazy("Expiring within (days)")
    )
    tribunal = forms.ChoiceField(required=False, choices=tribunal_choices, label=gettext_lazy("Tribunal"))


def filtered_people(params: Mapping[str, Any]) -> tuple[PeopleFilters, QuerySet[MonitoredPerson]]:
    """The people the list's filters (`params`: a QueryDict) choose; invalid filters are ignored."""
    filters = PeopleFilters(params)
    filters.is_valid()
    data = filters.cleaned_data  # the valid fields only
    chosen = MonitoredPerson.objects.all()
    if data.get("q"):
        chosen = search.people(chosen, data["q"])
    if data.get("active") in {"yes", "no"}:
        chosen = chosen.filter(active=data["active"] == "yes")
    if data.get("expiring") is not None:
        today = timezone.localdate()
        chosen = chosen.filter(
            active=True, monitor_until__gte=today, monitor_until__lte=today + timedelta(data["expiring"])
        )
    if tribunal := data.get("tribunal"):
        if tribunal == EVERY_TRIBUNAL:
            chosen = chosen.filter(tribunals="")
        else:
            # ",TJSP,TRT2," contains ",TJSP," but ",TJSPX," does not: whole acronyms on any database.
            padded = Concat(Value(","), "tribunals", Value(","))
            chosen = chosen.alias(padded_tribunals=padded).filter(padded_tribunals__contains=f",{tribunal},")
    return filters, chosen
