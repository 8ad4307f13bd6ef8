"""The live queue: what waits and what runs on each named queue, the worker clusters, and cancelling a run."""

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduler import liveness, progress, services
from scheduler.models import Run
from scheduler.shared.web import Request, operator_required, render_page

TEMPLATE = "scheduler/queue.html"


def _context(now: datetime) -> dict[str, object]:
    state = liveness.queue_state(now)
    waiting: list[Any] = liveness.waiting_runs(now)
    for run in waiting:  # the queue its task is on (a check forced onto high says so), else its job's
        run.queue = state.queue_of.get(run.pk, run.job.queue)
    bulk = progress.bulk(now)
    return {
        "title": _("Queue"),
        "now": now,
        "queues": state.queues,
        "total": state.total,
        "running": state.running,
        "taken": state.taken,
        "waiting": waiting,
        "bulk": bulk,
        "bulk_eta": liveness.short_age(bulk.eta) if bulk and bulk.eta is not None else None,
        "clusters": liveness.clusters(now),
        "leader": liveness.leader(now),
    }


def queue(request: Request) -> HttpResponse:
    """The whole page, or (HTMX polling every 3 s) only its live part."""
    return render_page(request, TEMPLATE, _context(timezone.now()), partial="live")


@operator_required
def cancel(request: Request, pk: int) -> HttpResponse:
    """Cancel a waiting run (it never starts) or ask a running one to stop (within a heartbeat)."""
    run = get_object_or_404(Run, pk=pk)
    waiting, running = services.cancel([run])
    if waiting:
        text = _("Run #%(id)d cancelled.") % {"id": run.pk}
    elif running:
        text = _("Run #%(id)d was asked to stop.") % {"id": run.pk}
    else:
        text = _("Run #%(id)d had already finished.") % {"id": run.pk}
    if request.htmx:
        context = _context(timezone.now())
        context["notice"] = text
        return render_page(request, TEMPLATE, context, partial="live")
    messages.success(request, text)
    return redirect("scheduler:queue")


urls = [
    path("queue/", queue, name="queue"),
    path("queue/runs/<int:pk>/cancel/", cancel, name="queue_cancel"),
]
