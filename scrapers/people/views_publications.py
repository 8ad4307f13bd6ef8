"""The publications pages: the DJEN publications kept for monitored people, newest publication date first
(then id), with the people each matched; filtered by person, tribunal, date range and text, and exported
as CSV exactly as filtered. Paged by a (date, id) keyset, never counted: every page is an index range
(publication_date_id, publication_tribunal_date: migration 0015). One publication with its text and the
people it matched."""

import csv
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from django import forms
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Substr
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from scheduler.shared import bounds, roles
from scheduler.shared.web import Request, query_without, render_page
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import brazil, search
from scrapers.people.csv_io import FORMULA

PAGE_SIZE = 50
EXCERPT = 160  # characters of the text shown in the list
EXPORT_CHUNK = 1000  # rows read from the database at a time by the CSV export
LIST_FIELDS = [
    "date",
    "tribunal",
    "communication_type",
    "organ",
    "process_number",
    "process_number_masked",
    "djen_id",
]
# Newest publication date first, undated ones last on every database, then the newest id.
ORDER = [F("date").desc(nulls_last=True), F("pk").desc()]
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]  # what a date input sends, and what a person types
EXPORT_COLUMNS = ["date", "tribunal", "process", "people", "type", "organ", "djen_id", "link", "text"]


def tribunal_choices() -> list[tuple[str, str]]:
    return [("", _("Any"))] + [(name, name) for name in sorted(brazil.known_tribunals())]


class PublicationFilters(forms.Form):
    q = forms.CharField(required=False, max_length=200, label=gettext_lazy("Text"))
    name = forms.CharField(required=False, max_length=200, label=gettext_lazy("Person"))
    person = bounds.id_field(widget=forms.HiddenInput)
    tribunal = forms.ChoiceField(required=False, choices=tribunal_choices, label=gettext_lazy("Tribunal"))
    date_from = forms.DateField(
        required=False,
        label=gettext_lazy("From"),
        input_formats=DATE_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        required=False,
        label=gettext_lazy("To"),
        input_formats=DATE_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bounds.bound_dates(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


def filtered_publications(params: Mapping[str, Any]) -> tuple[PublicationFilters, QuerySet[Publication]]:
    """The publications the list's filters (`params`: a QueryDict) choose, unordered; an invalid filter is
    left out (and shown as a field error by the form)."""
    filters = PublicationFilters(params)
    filters.is_valid()
    data = filters.cleaned_data  # the valid fields only
    chosen = Publication.objects.all()
    if data.get("person"):
        # Served by the match_unique (person, publication) index.
        chosen = chosen.filter(matches__person_id=data["person"])
    if data.get("name"):
        people = search.people(MonitoredPerson.objects.all(), data["name"]).values("pk")
        matched = PublicationMatch.objects.filter(publication=OuterRef("pk"), person__in=people)
        chosen = chosen.filter(Exists(matched))
    if data.get("tribunal"):
        chosen = chosen.filter(tribunal=data["tribunal"])
    if data.get("date_from"):
        chosen = chosen.filter(date__gte=data["date_from"])
    if data.get("date_to"):
        chosen = chosen.filter(date__lte=data["date_to"])
    if data.get("q"):
        chosen = search.publications(chosen, data["q"])
    return filters, chosen


def with_people(queryset: QuerySet[Publication]) -> QuerySet[Publication]:
    """The people each publication matched, in one more query for the whole page."""
    matches = PublicationMatch.objects.select_related("person").only("publication", "person", "person__name")
    return queryset.prefetch_related(Prefetch("matches", queryset=matches.order_by("person__name", "pk")))


class Page:
    """One page of publications by (date desc nulls last, id desc). `?before=<YYYY-MM-DD>_<id>` (or `_<id>`
    for an undated publication) pages on; no total is counted."""

    def __init__(self, rows: list[Publication], size: int, before: str | None) -> None:
        self.rows = rows[:size]
        self.before = before
        self.next_before: str | None = cursor(self.rows[-1]) if len(rows) > size else None

    def __iter__(self) -> Iterator[Publication]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def cursor(row: Publication) -> str:
    return f"{row.date.isoformat() if row.date else ''}_{row.pk}"


def parse_cursor(value: str) -> tuple[date | None, int] | None:
    """(date or None, id) from a `before` parameter; None for anything unparsable (the first page)."""
    day, _sep, ident = value.partition("_")
    pk = bounds.parse_id(ident)
    if pk is None:
        return None
    if not day:
        return None, pk
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return None
    return (parsed, pk) if bounds.in_range(parsed) else None


def publication_page(queryset: QuerySet[Publication], before: str, size: int) -> Page:
    """The first page in one query (undated publications sort last); after a dated cursor, the dated
    publications past it (one range of the date index), then, once they run out, the undated ones by id:
    two index ranges instead of an OR that no index serves."""
    position = parse_cursor(before)
    if position is None:
        return Page(list(queryset.order_by(*ORDER)[: size + 1]), size, None)
    day, pk = position
    rows: list[Publication] = []
    if day is not None:
        dated = queryset.filter(date__lte=day).filter(Q(date__lt=day) | Q(pk__lt=pk))
        rows = list(dated.order_by(*ORDER)[: size + 1])
    if len(rows) <= size:
        undated = queryset.filter(date__isnull=True)
        if day is None:
            undated = undated.filter(pk__lt=pk)
        rows += list(undated.order_by("-pk")[: size + 1 - len(rows)])
    return Page(rows, size, before)


@require_GET
def publications(request: Request) -> HttpResponse:
    filters, chosen = filtered_publications(request.GET)
    data = filters.cleaned_data
    person = None
    if data.get("person"):
        person = MonitoredPerson.objects.filter(pk=data["person"]).only("name").first()
    listed = with_people(chosen.only(*LIST_FIELDS).annotate(excerpt=Substr("text", 1, EXCERPT)))
    context = {
        "title": _("Publications"),
        "filters": filters,
        "params": request.GET,
        "person": person,
        "person_id": data.get("person"),
        "page": publication_page(listed, request.GET.get("before", ""), PAGE_SIZE),
        "query": query_without(request, "before"),
        "export_query": query_without(request, "before"),
        "excerpt_length": EXCERPT,
    }
    return render_page(request, "scrapers/publications.html", context, partial="results")


class Echo:
    """A file-like object whose write returns what it was given: csv.writer's rows, one string at a time."""

    def write(self, value: str) -> str:
        return value


def _defused(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, written as text (as the people export does)."""
    return f"'{cell}" if cell.startswith(FORMULA) else cell


def export_rows(queryset: Iterable[Publication]) -> Iterator[str]:
    """The CSV's lines: a UTF-8 BOM (Excel then shows accents), a header, one line per publication."""
    writer = csv.writer(Echo(), delimiter=",", lineterminator="\r\n")
    yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)
    for row in queryset:
        people = "; ".join(match.person.name for match in row.matches.all())
        cells = [
            row.date.isoformat() if row.date else "",
            row.tribunal,
            row.process_number_masked or row.process_number,
            people,
            row.communication_type,
            row.organ,
            str(row.djen_id),
            row.link,
            row.text,
        ]
        yield writer.writerow([_defused(cell) for cell in cells])


@require_GET
def publications_export(request: Request) -> StreamingHttpResponse:
    """The filtered list as CSV, streamed in chunks: 100,000 rows never sit in memory at once. A viewer may not
    export (403): the texts may hold documents and phone numbers a viewer's pages mask."""
    roles.require(request.user, "export")
    _filters, chosen = filtered_publications(request.GET)
    rows = with_people(chosen.order_by(*ORDER)).iterator(chunk_size=EXPORT_CHUNK)
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in export_rows(rows)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="publications-{stamp}.csv"'
    return response


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
    path("publications/export.csv", publications_export, name="publications_export"),
    path("publications/<int:pk>/", publication, name="publication"),
]
