"""Runs: the history (filters, keyset pages on (scheduled_for, id) so a deep page on millions of rows costs the
same as the first: no OFFSET, no COUNT) and one run's page with a live status while it is queued or running."""

import json
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scheduler import progress, waiting
from scheduler.models import Job, Run
from scheduler.shared import bounds
from scheduler.shared.web import Request, query_without, render_page

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PAGE_SIZE = 50
LIST_COLUMNS = (
    "id",
    "job_id",
    "job__name",
    "job__external_service",  # with external_key: a system job's name in the reader's language
    "job__external_key",
    "scheduled_for",
    "attempt",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "worker",
)
# What other apps tell about a run on its page, without the scheduler importing them: each function gets the
# run (its job loaded) and returns (label, text) lines for the run's details (channels_app: its callback).
type RunFacts = Callable[[Run], Iterable[tuple["StrOrPromise", str]]]
_run_facts: list[RunFacts] = []


def add_run_facts(provider: RunFacts) -> None:
    if provider not in _run_facts:
        _run_facts.append(provider)


STATUSES = Run.Status.choices  # (value, label translated at the model)
TRIGGERS = Run.Trigger.choices


def label_rows[Rows: Iterable[Any]](runs: Rows) -> Rows:
    """Give list rows their links and translated labels (the model's, each translated once here) in Python:
    per-row `{% url %}` and `{% include %}` were most of a 50-row page's render time. The paths are the ones in
    `urls` below and in views_jobs."""
    statuses = {value: str(label) for value, label in STATUSES}
    triggers = {value: str(label) for value, label in TRIGGERS}
    runs_path, jobs_path = reverse("scheduler:runs"), reverse("scheduler:jobs")
    for row in runs:
        row.url = f"{runs_path}{row.pk}/"
        row.job_url = f"{jobs_path}{row.job_id}/"
        row.status_label = statuses.get(row.status, row.status)
        row.trigger_label = triggers.get(row.trigger, row.trigger)
    return runs


class RunFilters(forms.Form):
    """The history's filters; each one is served by an index (run_job_recent, run_status_recent, …).
    Dates are days on the operator's clock (the active time zone)."""

    job_name = forms.CharField(
        required=False,
        max_length=200,
        label=gettext_lazy("Job"),
        widget=forms.TextInput(
            attrs={
                "list": "job-names",
                "autocomplete": "off",
                "placeholder": gettext_lazy("Any job"),
                "hx-trigger": "input changed delay:200ms",
                "hx-target": "#job-names",
                "hx-swap": "outerHTML",
            }
        ),
    )
    status = forms.ChoiceField(
        required=False, label=gettext_lazy("Status"), choices=[("", gettext_lazy("All")), *STATUSES]
    )
    trigger = forms.ChoiceField(
        required=False, label=gettext_lazy("Trigger"), choices=[("", gettext_lazy("All")), *TRIGGERS]
    )
    since = forms.DateField(required=False, label=gettext_lazy("Since"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label=gettext_lazy("Until"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        # Links name a job by id (?job=12: "All runs of this job"); the form shows and filters by its name.
        data = data.copy() if data is not None else None
        job_id = bounds.parse_id(data.get("job", "")) if data is not None else None
        if data is not None and job_id is not None and not data.get("job_name"):
            data["job_name"] = Job.objects.filter(pk=job_id).values_list("name", flat=True).first() or ""
        super().__init__(data, **kwargs)
        bounds.bound_dates(self)
        self.fields["job_name"].widget.attrs["hx-get"] = reverse("scheduler:job_names")

    def clean_job_name(self) -> int | None:
        """The job named (names are unique), as its id; a name no job has is a field error."""
        name = self.cleaned_data.get("job_name", "").strip()
        if not name:
            return None
        found = Job.objects.filter(name=name).values_list("pk", flat=True).first() if _storable(name) else None
        if found is None:
            raise forms.ValidationError(_("No job is named “%(name)s”.") % {"name": name})
        return found

    def apply(self, queryset: QuerySet[Run]) -> QuerySet[Run]:
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("job_name"):
            queryset = queryset.filter(job_id=data["job_name"])
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("trigger"):
            queryset = queryset.filter(trigger=data["trigger"])
        if data.get("since"):
            queryset = queryset.filter(scheduled_for__gte=_local_midnight(data["since"]))
        if data.get("until"):  # the whole day named
            queryset = queryset.filter(scheduled_for__lt=_local_midnight(data["until"] + timedelta(days=1)))
        return queryset


def _storable(text: str) -> bool:
    return "\x00" not in text and bounds.storable_text(text)  # PostgreSQL refuses NUL in a query's text


def job_names(request: Request) -> HttpResponse:
    """The runs filter's suggestions: up to 20 job names containing what was typed (a <datalist>)."""
    typed = request.GET.get("job_name", "").strip()[:200]
    names = (
        list(Job.objects.filter(name__icontains=typed).order_by("name").values_list("name", flat=True)[:20])
        if typed and _storable(typed)
        else []
    )
    return render(request, "scheduler/_job_names.html", {"names": names})


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class Cursor:
    """`?after=<iso scheduled_for>_<id>`: the last row of the previous page."""

    def __init__(self, value: str | None) -> None:
        self.at: datetime | None
        self.id: int | None
        self.at = self.id = None
        moment, _sep, pk = (value or "").replace(" ", "+").rpartition("_")  # a raw "+" arrives as " "
        try:
            self.at, self.id = datetime.fromisoformat(moment), bounds.parse_id(pk)
        except ValueError:
            return
        if timezone.is_naive(self.at) or not bounds.in_range(self.at) or self.id is None:
            self.at = None

    def __bool__(self) -> bool:
        return self.at is not None

    def apply(self, queryset: QuerySet[Run]) -> QuerySet[Run]:
        if not self:
            return queryset
        # (scheduled_for, id) < (at, id), spelled so the run_recent index range is obvious to the planner.
        return queryset.filter(Q(scheduled_for__lte=self.at), Q(scheduled_for__lt=self.at) | Q(id__lt=self.id))

    @staticmethod
    def of(run: Run) -> str:
        return f"{run.scheduled_for.isoformat()}_{run.pk}"


def runs(request: Request) -> HttpResponse:
    filters = RunFilters(request.GET)
    cursor = Cursor(request.GET.get("after"))
    rows: QuerySet[Run] | list[Run]
    rows = cursor.apply(filters.apply(Run.objects.select_related("job").only(*LIST_COLUMNS)))
    rows = list(rows.order_by("-scheduled_for", "-id")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = label_rows(rows[:PAGE_SIZE])
    job_id = filters.cleaned_data.get("job_name") if filters.is_valid() else None
    context = {
        "title": _("Runs"),
        "filters": filters,
        "rows": rows,
        "cursor": bool(cursor),
        "next_after": Cursor.of(rows[-1]) if more else None,
        "query": query_without(request, "after"),
        "job": Job.objects.only("id", "name", "external_service", "external_key").filter(pk=job_id).first()
        if job_id
        else None,
    }
    return render_page(request, "scheduler/runs.html", context, partial="rows")


def run(request: Request, pk: int) -> HttpResponse:
    """The run's page; HTMX polls get only the live part (it stops asking once the run is final)."""
    record = get_object_or_404(Run.objects.select_related("job").defer("job__params"), pk=pk)
    context = {
        "title": _("Run #%(id)s") % {"id": record.pk},
        "run": record,
        "compact": bool(request.GET.get("compact")),
        "progress": progress.of(record),  # a long run's "done of total", written as it works
        "facts": [fact for provider in _run_facts for fact in provider(record)],
        "waiting": "" if record.is_final else waiting.why_waiting(record),  # why it has not started
    }
    context["result"] = json.dumps(record.result, indent=2, ensure_ascii=False, default=str) if record.result else ""
    if not (request.htmx and not request.htmx.boosted):
        context["attempts"] = (
            Run.objects.filter(job_id=record.job_id, scheduled_for=record.scheduled_for)
            .only("id", "attempt", "status", "trigger", "due_at", "started_at", "finished_at", "error")
            .order_by("attempt")
        )
    return render_page(request, "scheduler/run.html", context, partial="live")


urls = [
    path("runs/", runs, name="runs"),
    path("runs/job-names/", job_names, name="job_names"),
    path("runs/<int:pk>/", run, name="run"),
]
