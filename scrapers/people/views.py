"""The people pages: the list (search, filters, keyset paging by name), adding a person and watching its
first check live, the person page (check now, deactivate), force sync. CSV import and export:
scrapers.people.views_transfers.

Thin: validation is PersonForm's, the operations are scrapers.people.services's and scrapers.people.csv_io's, so the
dashboard, the admin, the import command and the API behave the same."""

from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.db.models import F, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from scheduler import progress
from scheduler.models import Run
from scheduler.shared import bounds, roles
from scheduler.shared.web import Request, operator_required, query_without, render_page
from scrapers.models import MonitoredPerson, PublicationMatch
from scrapers.people import brazil
from scrapers.people import services as operations
from scrapers.people.filters import filtered_people, tribunal_choices
from scrapers.people.views_publications import urls as publication_urls

PAGE_SIZE = 50
LATEST_MATCHES = 50
LIST_FIELDS = [
    "name",
    "normalized_name",
    "document",
    "oab_number",
    "oab_uf",
    "tribunals",
    "active",
    "monitor_until",
    "first_check",
    "last_success_at",
    "last_error",
]


# --- the list (its filters: scrapers.people.filters) ---------------------------------------------


class NamePage:
    """One page of people in name order; `?after=<pk>` (the last person shown) pages on. Served by the
    (normalized_name, id) index: a deep page costs what the first does, and nothing is counted."""

    def __init__(self, rows: list[MonitoredPerson], size: int, after: int | None) -> None:
        self.rows = rows[:size]
        self.after = after
        self.next_after: int | None = self.rows[-1].pk if len(rows) > size else None

    def __iter__(self) -> Iterator[MonitoredPerson]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def shown_document(request: Request, number: str) -> str:
    """The CPF/CNPJ as the page's user may see it: whole for operators and admins, masked for viewers."""
    if roles.can(request.user, "see_documents"):
        return brazil.format_document(number)
    return brazil.mask_document(number)


def page_by_name(queryset: QuerySet[MonitoredPerson], request: Request, size: int) -> NamePage:
    after = bounds.parse_id(request.GET.get("after", ""))
    if after is not None:
        last = MonitoredPerson.objects.filter(pk=after).values_list("normalized_name", flat=True).first()
        if last is None:
            after = None  # that person is gone: start again rather than guess
        else:  # the row comparison (name, id) > (last, after), written so an index range scan serves it
            queryset = queryset.filter(normalized_name__gte=last).filter(Q(normalized_name__gt=last) | Q(pk__gt=after))
    rows = list(queryset.order_by("normalized_name", "pk").only(*LIST_FIELDS)[: size + 1])
    for row in rows:
        row.document = shown_document(request, row.document)  # shown only, never saved
    return NamePage(rows, size, after)


@require_GET
def people(request: Request) -> HttpResponse:
    filters, chosen = filtered_people(request.GET)
    context = {
        "title": _("People"),
        "filters": filters,
        "page": page_by_name(chosen, request, PAGE_SIZE),
        "query": query_without(request, "after"),
        "tribunal_options": tribunal_choices(),
        "params": request.GET,
    }
    return render_page(request, "scrapers/people.html", context, partial="results")


@operator_required
def people_sync(request: Request) -> HttpResponse:
    """ "Check all people now" (here and on the overview): a run of the sync_people job queues the checks on
    a worker; the answer follows that run until it says how many it queued."""
    run = operations.start_force_sync()
    if request.htmx:
        return people_sync_answer(request, run)
    messages.info(request, _("Queuing a check of every monitored person: this run shows how far it got."))
    return redirect("scheduler:run", pk=run.pk)


@require_GET
def people_sync_run(request: Request, pk: int) -> HttpResponse:
    """The answer's poll: how far the sync_people run has come."""
    return people_sync_answer(request, get_object_or_404(Run, pk=pk, job__kind="sync_people"))


def people_sync_answer(request: Request, run: Run) -> HttpResponse:
    response = render(request, "scrapers/_people_sync.html", {"run": run, "progress": progress.of(run)})
    if run.status == Run.Status.SUCCEEDED:
        response["HX-Trigger"] = "queued"  # the overview's queue counts refresh at once
    return response


# --- adding a person -----------------------------------------------------------------------------


class NewPersonForm(operations.PersonForm):
    """PersonForm (the one validation; its labels and help texts the model's) with a shorter notes box."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["notes"].widget.attrs["rows"] = 3


@require_http_methods(["GET", "POST"])
def person_new(request: Request) -> HttpResponse:
    """The form; a POST saves through PersonForm (the person, its job, its first check queued at once) and
    goes to the person page, where that check is watched. Errors come back inline; nothing is saved."""
    if request.method == "POST":
        roles.require(request.user, "operate")
        form = NewPersonForm(request.POST)
        if form.is_valid():
            person = form.save()
            url = reverse("scrapers:person", args=[person.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    else:
        form = NewPersonForm()
    context = {"title": _("New person"), "form": form}
    return render_page(request, "scrapers/person_new.html", context, partial="form")


# --- one person ----------------------------------------------------------------------------------


def _url_or_empty(name: str, *args: object) -> str:
    """A link to another app's page, or '' while that page does not exist."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def check_context(person: MonitoredPerson) -> dict[str, object]:
    """The person's latest check run (the first check, right after creation) and whether to keep polling."""
    run = None
    if person.job_id:
        run = Run.objects.filter(job_id=person.job_id).order_by("-scheduled_for", "-attempt").first()
    result = run.result if run and isinstance(run.result, dict) else {}
    return {
        "person": person,
        "run": run,
        "run_url": _url_or_empty("scheduler:run", run.pk) if run else "",
        "polling": run is not None and run.status not in Run.FINAL,
        "found": result.get("matched"),
        "new": result.get("new"),
    }


def latest_matches(person: MonitoredPerson) -> list[PublicationMatch]:
    matches = PublicationMatch.objects.filter(person=person).select_related("publication")
    matches = matches.only(
        "how",
        "matched_at",
        "publication__date",
        "publication__tribunal",
        "publication__process_number",
        "publication__process_number_masked",
        "publication__communication_type",
        "publication__organ",
    )
    # Newest publication date first (undated ones last), then the newest publication.
    newest = [F("publication__date").desc(nulls_last=True), F("publication_id").desc()]
    return list(matches.order_by(*newest)[:LATEST_MATCHES])


@require_GET
def person(request: Request, pk: int) -> HttpResponse:
    person = get_object_or_404(MonitoredPerson.objects.select_related("job"), pk=pk)
    context = {
        **check_context(person),
        "title": person.name,
        "document": shown_document(request, person.document),
        "matches": latest_matches(person),
        "limit": LATEST_MATCHES,
        "job_url": _url_or_empty("scheduler:job", person.job_id) if person.job_id else "",
    }
    return render(request, "scrapers/person.html", context)


@require_GET
def person_status(request: Request, pk: int) -> HttpResponse:
    """The live part of the person page, polled every 2 s while the check runs. The answer that finds the
    run final also swaps in the publications it found (out of band), so no reload is needed."""
    person = get_object_or_404(MonitoredPerson, pk=pk)
    context = check_context(person)
    if not context["polling"]:
        context.update(matches=latest_matches(person), limit=LATEST_MATCHES)
    return render(request, "scrapers/_person_status.html", context)


@operator_required
def person_check(request: Request, pk: int) -> HttpResponse:
    """Check now: queue a check of this person (scrapers.people.services.force_sync; one already waiting is kept)."""
    person = get_object_or_404(MonitoredPerson, pk=pk)
    if not person.active:
        note = _("An inactive person is not checked.")
    elif operations.force_sync([person]):
        note = _("Check queued.")
    else:
        note = _("A check is already queued or running.")
    if request.htmx:
        return render(request, "scrapers/_person_status.html", {**check_context(person), "note": note})
    messages.info(request, note)
    return redirect("scrapers:person", pk=pk)


@operator_required
def person_deactivate(request: Request, pk: int) -> HttpResponse:
    person = get_object_or_404(MonitoredPerson, pk=pk)
    if operations.deactivate([person]):
        messages.success(request, _("%(name)s is no longer monitored.") % {"name": person.name})
    else:
        messages.info(request, _("%(name)s was already inactive.") % {"name": person.name})
    url = reverse("scrapers:person", args=[pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


urls = [
    path("people/", people, name="people"),
    path("people/new/", person_new, name="person_new"),
    path("people/sync/", people_sync, name="people_sync"),
    path("people/sync/<int:pk>/", people_sync_run, name="people_sync_run"),
    path("people/<int:pk>/", person, name="person"),
    path("people/<int:pk>/status/", person_status, name="person_status"),
    path("people/<int:pk>/check/", person_check, name="person_check"),
    path("people/<int:pk>/deactivate/", person_deactivate, name="person_deactivate"),
    *publication_urls,
]
