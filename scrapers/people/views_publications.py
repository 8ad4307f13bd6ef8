"""The publications pages: the DJEN publications kept for monitored people, searched (bounded, keyset by
-pk, never counted) and filtered by person; one publication with its text and the people it matched."""

from django import forms
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from scheduler.shared import bounds
from scheduler.shared.web import Request, keyset_page, query_without, render_page
from scrapers.models import MonitoredPerson, Publication
from scrapers.people import search

PAGE_SIZE = 50
LIST_FIELDS = [
    "date",
    "tribunal",
    "communication_type",
    "organ",
    "process_number",
    "process_number_masked",
    "djen_id",
]


class PublicationFilters(forms.Form):
    q = forms.CharField(required=False, max_length=200, label=gettext_lazy("Search"))
    person = bounds.id_field(widget=forms.HiddenInput)


@require_GET
def publications(request: Request) -> HttpResponse:
    filters = PublicationFilters(request.GET)
    filters.is_valid()
    data = filters.cleaned_data  # the valid fields only
    chosen = Publication.objects.only(*LIST_FIELDS)
    person = None
    if data.get("person"):
        person = MonitoredPerson.objects.filter(pk=data["person"]).only("name").first()
        # Served by the match_unique (person, publication) index, newest publication first.
        chosen = chosen.filter(matches__person_id=data["person"])
    if data.get("q"):
        chosen = search.publications(chosen, data["q"])
    context = {
        "title": _("Publications"),
        "filters": filters,
        "params": request.GET,
        "person": person,
        "person_id": data.get("person"),
        "page": keyset_page(chosen, request, PAGE_SIZE),
        "query": query_without(request, "before"),
    }
    return render_page(request, "scrapers/publications.html", context, partial="results")


@require_GET
def publication(request: Request, pk: int) -> HttpResponse:
    publication = get_object_or_404(Publication, pk=pk)
    matches = publication.matches.select_related("person").only(
        "how", "matched_at", "person__name", "person__document", "person__active"
    )
    link = publication.link if publication.link.startswith(("https://", "http://")) else ""
    context = {
        "title": str(publication),
        "publication": publication,
        "link": link,
        "matches": list(matches.order_by("matched_at", "pk")[:200]),
    }
    return render(request, "scrapers/publication.html", context)


urls = [
    path("publications/", publications, name="publications"),
    path("publications/<int:pk>/", publication, name="publication"),
]
