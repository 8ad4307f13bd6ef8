"""Dashboard pages for sources (list with health, editor with Preview, check now) and the items they yield.

Thin: validation is SourceForm's (which keeps each source's job in step), previews are scrapers.sources.preview's,
checks run as the source's own check_source job (scheduler.services.run_now), diffs are scrapers.sources.diffs'.
"""

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.db import connection
from django.db.models import Count, IntegerField, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from scheduler import services
from scheduler.models import Run
from scheduler.shared import bounds
from scheduler.shared.web import Request, keyset_page, operator_required, query_without, render_page
from scrapers.models import Item, Source
from scrapers.sources import access, diffs
from scrapers.sources import preview as previews
from scrapers.sources.kinds import base as kinds
from scrapers.sources.services import SourceForm, job_of

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

SOURCES_PAGE = 50
ITEMS_PAGE = 50
LATEST_ITEMS = 20
RECENT_RUNS = 10
MAX_REVISIONS = 50
MAX_QUERY = 200  # a longer search is cut (it is a substring match anyway)
SEARCH_WINDOW = 20_000  # item ids a title search scans per page where no index answers it
TRIGRAM = 3  # the shortest search the trigram index answers

# Each health's badge class (the reading itself is Source.health, the admin's too).
BADGES = {
    Source.Health.OK: "healthy",
    Source.Health.NEW: "pending",
    Source.Health.FAILING: "retrying",
    Source.Health.SELECTORS: "retrying",
    Source.Health.BROKEN: "broken",
}
HEALTH_FILTERS = {
    "ok": Q(broken=False, consecutive_failures=0, last_success_at__isnull=False),
    "failing": Q(broken=False, consecutive_failures__gt=0),
    "broken": Q(broken=True),
    "new": Q(broken=False, consecutive_failures=0, last_success_at__isnull=True),
}
HEALTH_CHOICES = [(key, Source.Health(key).label) for key in HEALTH_FILTERS]  # "failing" includes selectors
LIST_COLUMNS = [
    "name",
    "kind",
    "enabled",
    "broken",
    "consecutive_failures",
    "last_checked_at",
    "last_success_at",
    "last_error",
    "last_item_count",
]
ITEM_COLUMNS = ["id", "title", "url", "first_seen", "published_at", "revisions_count", "source_id"]
RUN_COLUMNS = ["id", "job_id", "status", "trigger", "scheduled_for", "started_at", "finished_at", "duration_ms"]
WAITING = {*Run.ACTIVE, Run.Status.RETRYING}
CHECKED_EVENT = "source-checked"  # HX-Trigger of a status fragment with no check in flight: other panels reload


def badge(source: Source) -> dict[str, "StrOrPromise"]:
    """What the templates show for the source's health: its label and badge class."""
    health = source.health
    return {"key": health.value, "label": health.label, "css": BADGES[health]}


# --- sources ------------------------------------------------------------------------------------------


def sources(request: Request) -> HttpResponse:
    rows = Source.objects.only(*LIST_COLUMNS)
    chosen_health = request.GET.get("health", "")
    if chosen_health in HEALTH_FILTERS:
        rows = rows.filter(HEALTH_FILTERS[chosen_health])
    kind = request.GET.get("kind", "")
    if kind:
        rows = rows.filter(kind=kind)
    q = request.GET.get("q", "").strip()[:MAX_QUERY]
    if q:
        rows = rows.filter(name__icontains=q)
    # Counted per shown source (a correlated count on the item index), not over the whole items table.
    counted = Item.objects.filter(source=OuterRef("pk")).order_by().values("source").annotate(n=Count("*"))
    rows = rows.annotate(item_count=Coalesce(Subquery(counted.values("n"), output_field=IntegerField()), 0))
    page = keyset_page(rows, request, SOURCES_PAGE)
    for source in page:
        source.badge = badge(source)  # type: ignore[attr-defined]  # for the template
    context = {
        "title": _("Sources"),
        "page": page,
        "query": query_without(request, "before"),
        "health_choices": HEALTH_CHOICES,
        "kind_choices": kinds.choices(),
        "chosen": {"health": chosen_health, "kind": kind, "q": q},
    }
    return render_page(request, "scrapers/sources.html", context, partial="rows")


def source_new(request: Request) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    return _editor(request, SourceForm(initial={"config": {}, "headers": {}}), None)


def source(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Source.objects.select_related("job"), pk=pk)
    if request.method == "POST":
        return _save(request, found)
    return _editor(request, SourceForm(instance=found), found)


@operator_required
def _save(request: Request, found: Source | None) -> HttpResponse:
    # The form edits its own copy: on errors the page still shows the stored name and health.
    form = SourceForm(request.POST, instance=Source.objects.get(pk=found.pk) if found else None)
    if form.is_valid():
        saved = form.save()
        messages.success(request, _("Source “%(name)s” saved.") % {"name": saved.name})
        url = reverse("scrapers:source", args=[saved.pk])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _editor(request, form, found)


@operator_required
def source_preview(request: Request) -> HttpResponse:
    """Run the editor's current values against the live page; saves nothing (the source need not exist)."""
    found = None
    source_id = bounds.parse_id(request.POST.get("source_id"))
    if source_id:
        found = get_object_or_404(Source, pk=source_id)
    # Bound to the stored source, so its write-only values (headers, login fields) left empty are the stored ones.
    form = SourceForm(request.POST, instance=Source.objects.get(pk=found.pk) if found else None)
    result = previews.run(form)
    return _editor(request, form, found, preview=result, previewing=True)


def _editor(
    request: Request,
    form: SourceForm,
    found: Source | None,
    preview: previews.Preview | None = None,
    previewing: bool = False,
) -> HttpResponse:
    context: dict[str, object] = {
        "title": found.name if found else _("New source"),
        "source": found,
        "form": form,
        "preview": preview,
        "previewing": previewing,
    }
    if found and not (request.htmx and not request.htmx.boosted):  # the fragment needs only the form
        context.update(_status_context(found))
        context["latest"] = _latest(found)
    return render_page(request, "scrapers/source.html", context, partial="editor")


# --- checking now -------------------------------------------------------------------------------------


@operator_required
def source_check(request: Request, pk: int) -> HttpResponse:
    """Force a check of one source now: a recorded manual run of its check_source job, on the job's queue
    (never in this request); the status fragment then follows it live. A source left without a job gets
    it back first."""
    found = get_object_or_404(Source.objects.select_related("job"), pk=pk)
    run = services.run_now(job_of(found))
    if request.htmx:
        return _status(request, found, started=run)
    messages.success(request, _("Check queued (run #%(run)s).") % {"run": run.pk})
    return redirect("scrapers:source", pk=found.pk)


def source_status(request: Request, pk: int) -> HttpResponse:
    """The health and recent checks fragment; it polls itself while a check is waiting or running."""
    found = get_object_or_404(Source.objects.select_related("job"), pk=pk)
    if not request.htmx:  # a fragment: a browser that opens it gets the whole page
        return redirect("scrapers:source", pk=found.pk)
    return _status(request, found)


def _status(request: Request, found: Source, started: Run | None = None) -> HttpResponse:
    context = {"source": found, **_status_context(found, started), "started": started}
    response = render_page(request, "scrapers/source.html", context, partial="status")
    if not context["checking"]:  # a check just ended (or none runs): the panels it changes reload too
        response["HX-Trigger"] = CHECKED_EVENT
    return response


def source_latest(request: Request, pk: int) -> HttpResponse:
    """The latest items fragment, reloaded when a check ends (the status fragment's CHECKED_EVENT)."""
    found = get_object_or_404(Source, pk=pk)
    if not request.htmx:
        return redirect("scrapers:source", pk=found.pk)
    return render_page(request, "scrapers/source.html", {"source": found, "latest": _latest(found)}, partial="latest")


def _latest(found: Source) -> list[Item]:
    rows = Item.objects.filter(source=found).only(*ITEM_COLUMNS)
    return list(rows.order_by("-first_seen", "-id")[:LATEST_ITEMS])


def _status_context(found: Source, started: Run | None = None) -> dict[str, object]:
    """Health, the schedule (the source's job, or a warning that it has none), the last check's own outcome
    and the recent checks (always with the run the status line names)."""
    runs: list[Run] = []
    if found.job_id:
        runs = list(
            Run.objects.filter(job_id=found.job_id)
            .only(*RUN_COLUMNS, "error", "result")
            .order_by("-scheduled_for", "-id")[:RECENT_RUNS]
        )
    if started is not None and all(run.pk != started.pk for run in runs):
        runs.insert(0, started)
    for run in runs:
        run.outcome = outcome(run.result, run.error)  # type: ignore[attr-defined]  # for the template
    return {
        "health": badge(found),
        "job": found.job if found.job_id else None,
        "runs": runs,
        "checking": any(run.status in WAITING for run in runs),
        "last": last_check(found),
        "last_success": {"at": found.last_success_at, "items": found.last_item_count},
        "login": access.login_state(found),  # in words on the page, never the cookies
    }


def outcome(result: object, error: str = "") -> dict[str, Any]:
    """What one check came to, for the page: its status ("checked", "unchanged", "failed", "inactive" or ""),
    its figures, its error, and for an unchanged page since when (a datetime) and with how many items."""
    found: dict[str, Any] = dict(result) if isinstance(result, dict) else {}
    if error:
        found["status"], found["error"] = "failed", error
    if found.get("status") == "failed":
        found.update(found=0, new=0, updated=0)
    since = found.get("since")
    found["since"] = parse_datetime(since) if isinstance(since, str) else None
    found.setdefault("status", "")
    via = found.get("via")  # "fallback 2": the page came from the second fallback URL
    found["fallback"] = via.removeprefix("fallback ") if isinstance(via, str) and via.startswith("fallback ") else ""
    return found


def last_check(found: Source) -> dict[str, Any]:
    """The last check's own outcome, from the one UPDATE that also set last_checked_at; a source last checked
    before checks recorded their outcome reads it from the health fields (its error, else its count)."""
    if found.last_checked_at is None:
        return {"at": None, "status": ""}
    recorded: dict[str, Any] = found.last_check or {}
    if not recorded:
        if found.last_error and found.last_error_at == found.last_checked_at:
            recorded = {"status": "failed", "error": found.last_error}
        else:
            recorded = {"status": "succeeded", "items": found.last_item_count}
    return {**outcome(recorded), "at": found.last_checked_at}


# --- items --------------------------------------------------------------------------------------------


def indexed_search(q: str) -> bool:
    """Whether PostgreSQL's trigram index on titles (migration 0011) answers this search over the whole
    table: any search of at least 3 characters (a trigram) there."""
    return connection.vendor == "postgresql" and len(q) >= TRIGRAM


def items(request: Request) -> HttpResponse:
    # Newest first by id (insertion order), keyset-paged. The source's name comes from the filter's list of
    # sources rather than a join, which keeps PostgreSQL on the primary key's index for every variant.
    rows = Item.objects.only(*ITEM_COLUMNS)
    source_id = bounds.parse_id(request.GET.get("source"))
    if source_id:
        rows = rows.filter(source_id=source_id)
    q = request.GET.get("q", "").strip()[:MAX_QUERY]
    floor = None
    if q:
        rows = rows.filter(title__icontains=q)
    if q and not indexed_search(q):
        # No index for this search (SQLite; a word too short for trigrams): each page scans at most
        # SEARCH_WINDOW ids, newest first, so a rare word costs the same as a common one; "Older" goes on
        # below the window.
        ids = Item.objects.aggregate(low=Min("pk"), high=Max("pk"))
        top = bounds.parse_id(request.GET.get("before")) or (ids["high"] or 0) + 1
        floor = top - SEARCH_WINDOW
        rows = rows.filter(pk__gte=floor)
    page = keyset_page(rows, request, ITEMS_PAGE)
    if floor is not None and page.next_before is None and ids["low"] is not None and floor > ids["low"]:
        page.next_before, page.searched_to = floor, floor  # type: ignore[attr-defined]  # for the template
    sources = list(Source.objects.only("id", "name").order_by("name"))
    names = {found.pk: found.name for found in sources}
    for item in page:
        item.href = previews.safe_href(item.url)  # type: ignore[attr-defined]  # for the template
        item.source_name = names.get(item.source_id, "")  # type: ignore[attr-defined]  # for the template
    context = {
        "title": _("Items"),
        "page": page,
        "query": query_without(request, "before"),
        "sources": sources,
        "chosen": {"source": source_id, "q": q},
    }
    return render_page(request, "scrapers/items.html", context, partial="rows")


def item(request: Request, pk: int) -> HttpResponse:
    found = get_object_or_404(Item.objects.select_related("source"), pk=pk)
    found.href = previews.safe_href(found.url)  # type: ignore[attr-defined]  # for the template
    revisions = list(found.revisions.order_by("-replaced_at", "-id")[:MAX_REVISIONS])
    for revision in revisions:
        revision.href = previews.safe_href(revision.url)  # type: ignore[attr-defined]  # for the template
    context = {
        "title": found.title or found.key,
        "item": found,
        "raw": [(name, previews.display_text(value, limit=None)) for name, value in (found.raw or {}).items()],
        "revisions": revisions,
        "steps": diffs.steps(found, revisions),
    }
    return render_page(request, "scrapers/item.html", context)


urls = [
    path("sources/", sources, name="sources"),
    path("sources/new/", source_new, name="source_new"),
    path("sources/preview/", source_preview, name="source_preview"),
    path("sources/<int:pk>/", source, name="source"),
    path("sources/<int:pk>/check/", source_check, name="source_check"),
    path("sources/<int:pk>/status/", source_status, name="source_status"),
    path("sources/<int:pk>/latest/", source_latest, name="source_latest"),
    path("items/", items, name="items"),
    path("items/<int:pk>/", item, name="item"),
]
