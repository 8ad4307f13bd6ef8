"""The overview (a summary of every app, refreshing itself part by part) and its "check now" buttons."""

from datetime import datetime

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from config import overview as summary
from scheduler import liveness
from scheduler.shared.web import Request, operator_required, render_page
from scrapers.people.views import people_sync
from scrapers.sources import services as sources

TEMPLATE = "config/overview.html"


def _engine(now: datetime) -> dict[str, object]:
    return {
        "leader": liveness.leader(now),
        "clusters": liveness.clusters(now),
        "queues": liveness.queue_depths(now),
    }


def _work(now: datetime) -> dict[str, object]:
    """The team's work: what came in, what went out, what needs a hand."""
    dead_count, dead_latest = summary.dead_deliveries()
    return {
        "latest_items": summary.latest_items(),
        "latest_deliveries": summary.latest_deliveries(),
        "failing_sources": summary.failing_sources(),
        "expiring_people": summary.expiring_people(),
        "expiry_days": summary.EXPIRY_DAYS,
        "dead_count": dead_count,
        "dead_latest": dead_latest,
    }


def _activity(now: datetime) -> dict[str, object]:
    return {"activity": summary.runs_by_hour(now), "next_runs": summary.next_jobs()}


# Each live part of the page is a partial of the template, refreshed by its own poll (?part=name); in the
# page's order: the work first, then the engine (its runs, then its processes and queues).
PARTS = {"work": _work, "activity": _activity, "engine": _engine}


def overview(request: Request) -> HttpResponse:
    now = timezone.now()
    part = request.GET.get("part")
    context: dict[str, object] = {"title": _("Overview"), "now": now}
    if request.htmx and part in PARTS:
        context.update(PARTS[part](now))
        return render_page(request, TEMPLATE, context, partial=part)
    setup = summary.setup()
    context["setup"] = setup
    for name, build in PARTS.items():
        if name == "work" and setup.empty:
            continue  # nothing to show yet: the first steps take its place
        context.update(build(now))
    return render(request, TEMPLATE, context)


def _queued(request: Request, text: str) -> HttpResponse | HttpResponseRedirect:
    """HTMX: a small fragment saying what was queued; otherwise back to the overview with a message."""
    if request.htmx:
        response = render(request, "config/_sync_result.html", {"text": text})
        response["HX-Trigger"] = "queued"  # the overview's queue counts refresh at once
        return response
    messages.success(request, text)
    return redirect("overview")


@operator_required
def force_sync_sources(request: Request) -> HttpResponse | HttpResponseRedirect:
    n = sources.force_sync()
    return _queued(request, ngettext("Queued %(n)d source check.", "Queued %(n)d source checks.", n) % {"n": n})


# Included by config/urls.py (no namespace): the POST targets of the overview's buttons.
urls = [
    path("sync/people/", people_sync, name="force_sync_people"),  # on a worker: scrapers.people.views
    path("sync/sources/", force_sync_sources, name="force_sync_sources"),
]
