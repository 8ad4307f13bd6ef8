"""Jobs: the filtered list, the editor (JobForm + services.save_job) with a live cron preview, and the operator's
actions (pause, resume, run now, duplicate, delete). Every change is a staff POST; the domain work is in
scheduler.services."""

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from scheduler import cron_text, job_kinds, owners, schedules, services, system_jobs
from scheduler.forms import JobForm
from scheduler.models import Job, Run
from scheduler.shared import roles
from scheduler.shared.web import Request, keyset_page, operator_required, query_without, render_page
from scheduler.views_runs import STATUSES, label_rows

PAGE_SIZE = 50
RECENT_RUNS = 20
LIST_COLUMNS = (
    "id", "name", "kind", "schedule_type", "cron", "timezone", "interval_seconds", "run_at", "enabled", "queue",
    "next_run_at", "external_service", "external_key",
)  # fmt: skip
RUN_COLUMNS = ("id", "job_id", "scheduled_for", "attempt", "trigger", "status", "started_at", "duration_ms")

# The list's state filter (Job.enabled); the other filters' labels are the model's choices.
STATES = {"enabled": gettext_lazy("Enabled"), "paused": gettext_lazy("Paused")}


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    return sorted(schedules.zone_names())


class JobEditForm(JobForm):
    """JobForm (the one validation of a job, its labels and help texts the model's) dressed for the dashboard: a
    zone picker, and the cron and zone inputs asking for a preview as the operator types. A job another object owns (a
    source's check) shows the fields that owner writes read-only: they are edited there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owners.of(self.instance) if self.instance.pk else None
        for name in self.owner.fields if self.owner else ():
            if name in self.fields:
                self.fields[name].disabled = True
        preview = {
            "hx-post": reverse("scheduler:cron_preview"),
            "hx-target": "#cron-preview",
            "hx-swap": "innerHTML",
            "autocomplete": "off",
        }
        self.fields["cron"].widget.attrs.update(
            preview, **{"hx-trigger": "input changed delay:300ms", "hx-include": "#id_timezone", "spellcheck": "false"}
        )
        self.fields["timezone"].widget.attrs.update(
            preview, **{"hx-trigger": "input changed delay:300ms", "hx-include": "#id_cron", "list": "zone-names"}
        )
        for name in ("run_at", "start_at", "end_at"):
            self.fields[name].widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def clean_kind(self) -> str:
        return owners.clean_kind(super().clean_kind(), self.instance)


def jobs(request: Request) -> HttpResponse:
    rows = Job.objects.only(*LIST_COLUMNS)
    filters = _list_filters(request)
    rows = rows.filter(**filters["lookups"])
    if filters["q"]:
        rows = rows.filter(name__icontains=filters["q"])
    latest = Run.objects.filter(job=OuterRef("pk")).order_by("-scheduled_for", "-attempt")
    rows = rows.with_last_status().annotate(
        last_run_id=Subquery(latest.values("id")[:1]), last_run_at=Subquery(latest.values("scheduled_for")[:1])
    )
    page = keyset_page(rows, request, PAGE_SIZE)
    _label_jobs(page)
    context = {
        "title": _("Jobs"),
        "page": page,
        "filters": filters,
        "kinds": job_kinds.choices(),
        "schedule_types": Job.ScheduleType.choices,
        "queues": Job.Queue.choices,
        "states": STATES.items(),
        "query": query_without(request, "before"),
    }
    return render_page(request, "scheduler/jobs.html", context, partial="rows")


def _label_jobs(rows: Iterable[Any]) -> None:
    """Links and labels computed once in Python (per-row `{% url %}`/`{% include %}` dominated the render)."""
    statuses = {value: str(label) for value, label in STATUSES}
    queues = {value: str(label) for value, label in Job.Queue.choices}
    jobs_path, runs_path = reverse("scheduler:jobs"), reverse("scheduler:runs")
    for row in rows:
        row.url = f"{jobs_path}{row.pk}/"
        row.last_run_url = f"{runs_path}{row.last_run_id}/" if row.last_run_id else ""
        row.last_status_label = statuses.get(row.last_status, row.last_status)
        row.queue_label = queues.get(row.queue, row.queue)
        row.display_name = system_jobs.display_name(row)  # a system job under its translated name


def _list_filters(request: Request) -> dict[str, Any]:
    get = request.GET.get
    values = {name: (get(name) or "").strip() for name in ("kind", "schedule", "state", "queue", "q")}
    lookups: dict[str, object] = {}
    if values["kind"]:
        lookups["kind"] = values["kind"]
    if values["schedule"] in Job.ScheduleType.values:
        lookups["schedule_type"] = values["schedule"]
    if values["queue"] in Job.Queue.values:
        lookups["queue"] = values["queue"]
    if values["state"] in STATES:
        lookups["enabled"] = values["state"] == "enabled"
    return {**values, "lookups": lookups}


def job_new(request: Request) -> HttpResponse:
    initial = {"schedule_type": "cron", "timezone": timezone.get_current_timezone_name(), "cron": "0 9 * * 1-5"}
    return _editor(request, Job(), "scheduler/job_new.html", initial)


def job(request: Request, pk: int) -> HttpResponse:
    instance = get_object_or_404(Job, pk=pk)
    return _editor(request, instance, "scheduler/job.html")


def _both_zones(job: Job) -> dict[str, Any]:
    """The next runs in the job's zone, and in the viewer's (the active zone) when that is another offset."""
    zone, viewer = services.zone_of(job), timezone.get_current_timezone()
    moments = services.next_runs(job, 5)
    differs = any(m.astimezone(zone).utcoffset() != m.astimezone(viewer).utcoffset() for m in moments)
    return {
        "zone": job.timezone,
        "viewer_zone": str(viewer),
        "differs": differs,
        "moments": [{"job": m.astimezone(zone), "viewer": m.astimezone(viewer)} for m in moments],
    }


def _editor(request: Request, instance: Job, template: str, initial: dict[str, Any] | None = None) -> HttpResponse:
    """GET shows the form; an operator's POST validates with JobForm and saves through services.save_job."""
    if request.method == "POST":
        roles.require(request.user, "operate")
        form = JobEditForm(request.POST, instance=instance)
        if form.is_valid():
            saved = services.save_job(form.save(commit=False))
            messages.success(request, _("Job “%(name)s” saved.") % {"name": saved.name})
            return _go(request, reverse("scheduler:job", args=[saved.pk]))
    else:
        form = JobEditForm(instance=instance, initial=initial)
    cron, zone = form["cron"].value(), form["timezone"].value()
    context: dict[str, object] = {
        "title": str(system_jobs.display_name(instance)) if instance.pk else _("New job"),
        "job": instance if instance.pk else None,
        "form": form,
        "preview": cron_text.preview(cron, zone),
        "zone_names": zone_names(),
    }
    if instance.pk:
        context["display_name"] = system_jobs.display_name(instance)
        context["next_runs"] = _both_zones(instance)
        context["owner"] = form.owner
        context["runs"] = label_rows(instance.runs.only(*RUN_COLUMNS).order_by("-scheduled_for", "-id")[:RECENT_RUNS])
    return render_page(request, template, context, partial="form")


@require_POST
def cron_preview(request: Request) -> HttpResponse:
    """The words and next occurrences under the cron field (a read-only computation: any login may ask)."""
    preview = cron_text.preview(request.POST.get("cron"), request.POST.get("timezone"))
    return render_page(request, "scheduler/_job_cron_preview.html", {"preview": preview})


@operator_required
def job_pause(request: Request, pk: int) -> HttpResponse:
    target = get_object_or_404(Job, pk=pk)
    services.pause([target])
    messages.success(request, _("Job paused."))
    return _go(request, _back(request, target))


@operator_required
def job_resume(request: Request, pk: int) -> HttpResponse:
    target = get_object_or_404(Job, pk=pk)
    services.resume([target])
    messages.success(request, _("Job resumed."))
    return _go(request, _back(request, target))


@operator_required
def job_run(request: Request, pk: int) -> HttpResponse:
    """Run now: answers at once; HTMX gets the new run's live status fragment (it polls until final)."""
    target = get_object_or_404(Job, pk=pk)
    run = services.run_now(target)
    if request.htmx:
        return render_page(request, "scheduler/run.html", {"run": run, "compact": True}, partial="live")
    messages.success(request, _("Run #%(id)s queued.") % {"id": run.pk})
    return redirect("scheduler:run", pk=run.pk)


@operator_required
def job_duplicate(request: Request, pk: int) -> HttpResponse:
    """A paused copy named "<name> (copy)", without the external id (that pair is unique); opens its editor."""
    copy = get_object_or_404(Job, pk=pk)
    owner = owners.of(copy)
    if owner is not None:  # a copy would be a second schedule its owner does not know of
        messages.error(
            request,
            _("This job cannot be copied: its schedule belongs to %(owner)s, which keeps one.")
            % {"owner": owner.label},
        )
        return _go(request, reverse("scheduler:job", args=[copy.pk]))
    copy.pk = copy.id = None
    copy.name = _copy_name(copy.name)
    copy.enabled = False
    copy.external_service = copy.external_key = None
    copy.occurrences = 0
    copy.last_scheduled_for = copy.completed_at = None
    copy.created_at = timezone.now()
    services.save_job(copy)
    messages.success(request, _("Copy created (paused)."))
    return _go(request, reverse("scheduler:job", args=[copy.pk]))


def _copy_name(name: str) -> str:
    suffix = " " + _("(copy)")
    candidate, number = name[: 200 - len(suffix)] + suffix, 2
    while Job.objects.filter(name=candidate).exists():
        suffix = " " + _("(copy %(number)s)") % {"number": number}
        candidate, number = name[: 200 - len(suffix)] + suffix, number + 1
    return candidate


@operator_required
def job_delete(request: Request, pk: int) -> HttpResponse:
    target = get_object_or_404(Job, pk=pk)
    name = target.name
    try:
        services.delete([target])
    except services.OwnedJob as refusal:  # a source's job goes with its source, never alone
        messages.error(request, str(refusal))
        return _go(request, reverse("scheduler:job", args=[target.pk]))
    messages.success(request, _("Job “%(name)s” deleted.") % {"name": name})
    return _go(request, reverse("scheduler:jobs"))


def _back(request: Request, target: Job) -> str:
    """Where an action returns to: the list when asked from it (`next`), else the job's page."""
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return back
    return reverse("scheduler:job", args=[target.pk])


def _go(request: Request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


urls = [
    path("jobs/", jobs, name="jobs"),
    path("jobs/new/", job_new, name="job_new"),
    path("jobs/cron-preview/", cron_preview, name="cron_preview"),
    path("jobs/<int:pk>/", job, name="job"),
    path("jobs/<int:pk>/pause/", job_pause, name="job_pause"),
    path("jobs/<int:pk>/resume/", job_resume, name="job_resume"),
    path("jobs/<int:pk>/run/", job_run, name="job_run"),
    path("jobs/<int:pk>/duplicate/", job_duplicate, name="job_duplicate"),
    path("jobs/<int:pk>/delete/", job_delete, name="job_delete"),
]
