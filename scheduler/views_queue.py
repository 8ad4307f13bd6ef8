"""The live queue: what waits and what runs on each named queue, the worker clusters, and cancelling a run."""

from datetime import datetime

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduler import liveness, services
from scheduler.models import Run
from scheduler.shared.web import Request, render_page, staff_required

TEMPLATE = "scheduler/queue.html"


def _context(now: datetime) -> dict[str, object]:
    return {
        "title": _("Queue"),
        "now": now,
        "queues": liveness.queue_depths(now),
        "running": liveness.running_runs(now),
        "waiting": liveness.waiting_runs(now),
        "clusters": liveness.clusters(now),
        "leader": liveness.leader(now),
    }


def queue(request: Request) -> HttpResponse:
    """The whole page, or (HTMX polling every 3 s) only its live part."""
    return render_page(request, TEMPLATE, _context(timezone.now()), partial="live")


@staff_required
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
