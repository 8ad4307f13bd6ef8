"""The operator's admin for jobs and runs. Thin: validation is JobForm's, actions are services'."""

import json
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from scheduler import owners, schedules, services
from scheduler.forms import JobForm
from scheduler.models import AuditEntry, ClusterPresence, Housekeeping, Job, JobQuerySet, Lease, Run
from scheduler.shared import audit, recorded

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups, _FieldOpts
    from django_stubs_ext import StrOrPromise, WithAnnotations

type _Fieldset = tuple[StrOrPromise | None, _FieldOpts]  # one of ModelAdmin.get_fieldsets()

UPCOMING = 5


def exact_time(moment: datetime, zone: tzinfo | None = None) -> str:
    """An instant in the locale's one format (config/formats), with the zone's abbreviation."""
    local = timezone.localtime(moment, zone)
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the app writes (items, publications, events, deliveries): listed and viewed, never added,
    edited or deleted here; their actions (retry, cancel) use their own permissions."""

    # (`obj`: Any, so that each subclass may name its own model)
    def get_readonly_fields(self, request: HttpRequest, obj: Any | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """The rows a record is made of (an item's revisions, a publication's matches), shown, never edited."""

    extra = 0
    can_delete = False

    # (`obj`: the parent record, Any so that each subclass may name its own model)
    def get_readonly_fields(self, request: HttpRequest, obj: Any | None = None) -> list[str] | tuple[str, ...]:
        # (the stubs allow field groups and None in `fields`: an inline here lists plain field names)
        return self.fields  # type: ignore[return-value]

    def has_add_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any | None = None) -> bool:
        return False


class _WithJob(Protocol):
    """A record with a job of its own (a source, a monitored person)."""

    @property
    def job_id(self) -> int | None: ...
    @property
    def job(self) -> Job | None: ...


def job_link(obj: _WithJob) -> str:
    """A link to the admin page of `obj.job` (a source's or a person's job), or a dash."""
    if not obj.job_id:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse("admin:scheduler_job_change", args=[obj.job_id]), obj.job)


def clip(text: str, length: int = 40) -> str:
    """`text` cut to `length` characters with an ellipsis, for the admin's list columns."""
    return text if len(text) <= length else text[: length - 1] + "…"


def local_time(moment: datetime | None) -> str:
    """A stored (UTC) instant on the operator's clock (TIME_ZONE, or whatever zone is active)."""
    return exact_time(moment) if moment else "—"


class JobAdminForm(JobForm):
    """JobForm; a job another object owns (a source's check) shows the fields that owner writes disabled:
    they are edited there, and what is posted for them is ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = owner_of(self.instance) if self.instance.pk else None
        for name in owner.fields if owner else ():
            if name in self.fields:
                self.fields[name].disabled = True

    def clean_kind(self) -> str:
        return owners.clean_kind(super().clean_kind(), self.instance)


class _LastStatus(TypedDict):
    last_status: str | None  # JobQuerySet.with_last_status()


def owner_of(job: Job) -> owners.Owner | None:
    """The job's owner (scheduler.owners), looked up once per job object."""
    if not hasattr(job, "_owner"):
        job._owner = owners.of(job)  # type: ignore[attr-defined]  # kept on the object: no field of Job
    return job._owner  # type: ignore[attr-defined]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    # The admin saves through form.save(commit=False) (ModelAdmin.save_form), so JobForm.save
    # recomputes next_run_at; save_model then only writes the row. A job another object owns (a
    # source's check) shows the fields that owner writes read-only, and is deleted with its owner only.
    form = JobAdminForm
    list_display = [
        "display_name",
        "kind",
        "schedule",
        "enabled",
        "next_run",
        "last_status",
        "queue",
        "occurrences_of_max",
    ]
    list_filter = ["kind", "schedule_type", "enabled", "queue"]
    search_fields = ["name", "kind", "external_key"]
    ordering = ["name"]
    actions = ["run_now", "pause", "resume"]
    readonly_fields = [
        "pause_reason",
        "upcoming",
        "next_run_at",
        "occurrences",
        "last_scheduled_for",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    edit_fieldsets: list[_Fieldset] = [
        (gettext_lazy("What"), {"fields": ["name", "kind", "params"]}),
        (
            gettext_lazy("When"),
            {
                "fields": [
                    "schedule_type",
                    "cron",
                    "timezone",
                    "interval_seconds",
                    "run_at",
                    ("start_at", "end_at"),
                    "max_occurrences",
                    "enabled",
                ]
            },
        ),
        (
            gettext_lazy("Policies"),
            {
                "fields": [
                    "queue",
                    "timeout_seconds",
                    "max_attempts",
                    ("backoff_base_seconds", "backoff_cap_seconds", "backoff_jitter"),
                    "overlap_policy",
                    ("misfire_policy", "misfire_grace_seconds"),
                ]
            },
        ),
        (
            gettext_lazy("Identity"),
            {"fields": [("external_service", "external_key")], "description": gettext_lazy("Set by an integration.")},
        ),
    ]
    state_fieldset: _Fieldset = (
        gettext_lazy("State"),
        {
            "fields": [
                "pause_reason",
                "upcoming",
                "next_run_at",
                "occurrences",
                "last_scheduled_for",
                "completed_at",
            ]
        },
    )
    record_fieldset: _Fieldset = (
        gettext_lazy("Record"),
        {"fields": [("created_at", "updated_at")], "classes": ["collapse"]},
    )

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> list[_Fieldset]:
        # A job being added has no state yet.
        if obj is None:
            return self.edit_fieldsets
        owned: list[_Fieldset] = [(gettext_lazy("Owner"), {"fields": ["managed_by"]})] if owner_of(obj) else []
        return [*owned, *self.edit_fieldsets, self.state_fieldset, self.record_fieldset]

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> list[str]:
        return [*self.readonly_fields, "managed_by"] if obj is not None and owner_of(obj) else self.readonly_fields

    @admin.display(description=gettext_lazy("Managed by"))
    def managed_by(self, job: Job) -> str:
        owner = owner_of(job)
        if owner is None:
            return "—"
        note = _("Its schedule is edited there; the job is deleted with it.")
        if owner.admin_url:
            return format_html('<a href="{}">{}</a> — {}', owner.admin_url, owner.label, note)
        return format_html("{} — {}", owner.label, note)

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        # No "Delete" link on an owned job's page (delete_view and the bulk action also refuse it).
        return super().has_delete_permission(request, obj) and not (obj is not None and owner_of(obj))

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = self.get_object(request, unquote(object_id))
        owner = owner_of(job) if job is not None else None
        if owner is not None:
            self.message_user(request, owner.delete_refusal, messages.ERROR)
            assert job is not None  # it has an owner
            return redirect("admin:scheduler_job_change", job.pk)
        return super().delete_view(request, object_id, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return cast(JobQuerySet, super().get_queryset(request)).with_last_status()  # Job.objects' queryset

    @admin.display(description=gettext_lazy("Name"), ordering="name")
    def display_name(self, job: Job) -> str:
        return str(job)  # a system job's, or a job an app made, in the reader's language

    @admin.display(description=gettext_lazy("Pause reason"))
    def pause_reason(self, job: Job) -> str:
        return recorded.translated(job.paused_reason)  # stored in English

    @admin.display(description=gettext_lazy("Schedule"))
    def schedule(self, job: Job) -> str:
        return job.schedule_display

    @admin.display(description=gettext_lazy("Next run"), ordering="next_run_at")
    def next_run(self, job: Job) -> str:
        return local_time(job.next_run_at)

    @admin.display(description=gettext_lazy("Last run"), ordering="last_status")
    def last_status(self, job: "WithAnnotations[Job, _LastStatus]") -> "StrOrPromise":
        return Run.Status(job.last_status).label if job.last_status else "—"

    @admin.display(description=gettext_lazy("Occurrences"))
    def occurrences_of_max(self, job: Job) -> str:
        return f"{job.occurrences}/{job.max_occurrences or '∞'}"

    @admin.display(description=gettext_lazy("Next 5 occurrences"))  # UPCOMING
    def upcoming(self, job: Job) -> str:
        try:
            zone = schedules.get_zone(job.timezone)
            moments = schedules.upcoming(job, timezone.now(), UPCOMING)
        except schedules.ScheduleError as exc:
            return _("Invalid schedule: %(error)s") % {"error": exc}
        if job.max_occurrences is not None:  # upcoming() leaves the limit to the caller
            moments = moments[: max(job.max_occurrences - job.occurrences, 0)]
        if not moments:
            return _("None: the schedule is complete.")
        note = [(_("(paused: these are the times if it were resumed now)"),)] if not job.enabled else []
        times = [(exact_time(moment, zone),) for moment in moments]
        return format_html_join("", "<div>{}</div>", [*times, *note])

    @admin.action(description=gettext_lazy("Run now"), permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        runs = [services.run_now(job) for job in queryset]
        message = ngettext("Queued %(count)d run.", "Queued %(count)d runs.", len(runs)) % {"count": len(runs)}
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Pause"), permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        count = services.pause(queryset)
        message = ngettext("Paused %(count)d job.", "Paused %(count)d jobs.", count) % {"count": count}
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Resume"), permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        count = services.resume(queryset)
        message = ngettext("Resumed %(count)d job.", "Resumed %(count)d jobs.", count) % {"count": count}
        self.message_user(request, message, messages.SUCCESS)

    def get_deleted_objects(
        self, objs: Sequence[Job] | QuerySet[Job], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        # The default confirmation page lists every related run, and a job may have millions: count them.
        # A job another object owns is "protected": the page says why and the deletion does not happen.
        jobs = list(objs)
        runs = Run.objects.filter(job__in=jobs).count()
        perms_needed = {"run"} if runs and not request.user.has_perm("scheduler.delete_run") else set()
        protected = [owner.delete_refusal for job in jobs if (owner := owner_of(job))]
        return [str(job) for job in jobs], {"jobs": len(jobs), "runs": runs}, perms_needed, protected


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "job",
        "scheduled_for",
        "attempt",
        "trigger",
        "status",
        "queued_at",
        "started_at",
        "finished_at",
        "duration",
        "worker",
    ]
    list_filter = ["status", "trigger", "job__kind"]
    search_fields = ["job__name"]
    # No date_hierarchy: its drill-down scans the whole table for distinct dates on millions of rows.
    ordering = ["-scheduled_for", "-id"]  # the run_recent index
    # Millions of rows: no unfiltered COUNT(*), and the job's name in the same query.
    show_full_result_count = False
    list_select_related = ["job"]
    actions = ["cancel"]

    def get_readonly_fields(self, request: HttpRequest, obj: Run | None = None) -> list[str]:
        return [field.name for field in Run._meta.fields] + ["recorded_error"]

    def get_fields(self, request: HttpRequest, obj: Run | None = None) -> "_FieldGroups":
        # The error as the reader reads it (it is stored in English), in the error's place.
        return ["recorded_error" if field.name == "error" else field.name for field in Run._meta.fields]

    @admin.display(description=gettext_lazy("Error"))
    def recorded_error(self, run: Run) -> str:
        return recorded.translated(run.error)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs come from the schedule, Run now, retries or the API

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        # View only: saving the form would write back a stale status over the worker's.
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("scheduler.change_run")

    @admin.display(description=gettext_lazy("Duration"), ordering="duration_ms")
    def duration(self, run: Run) -> str:
        return f"{run.duration_ms / 1000:.2f} s" if run.duration_ms is not None else "—"

    @admin.action(description=gettext_lazy("Cancel"), permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        cancelled, asked = services.cancel(queryset)
        message = ", ".join(
            [
                ngettext("%(count)d cancelled", "%(count)d cancelled", cancelled) % {"count": cancelled},
                ngettext("%(count)d asked to stop.", "%(count)d asked to stop.", asked) % {"count": asked},
            ]
        )
        self.message_user(request, message, messages.SUCCESS)


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ["name", "holder", "expires_at", "renewed_at", "acquired_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Lease | None = None) -> bool:
        return False  # the schedulers own it

    def has_delete_permission(self, request: HttpRequest, obj: Lease | None = None) -> bool:
        return False


@admin.register(ClusterPresence)
class ClusterPresenceAdmin(ReadOnlyAdmin):
    """The worker clusters as their heartbeats say (scheduler.liveness); the clusters write these rows."""

    list_display = ["cluster_id", "host", "queues", "started_at", "renewed_at", "expires_at"]
    ordering = ["-renewed_at"]


@admin.register(Housekeeping)
class HousekeepingAdmin(ReadOnlyAdmin):
    """The scheduler leader's own chores (scheduler.periodic): when each last ran, and how it went."""

    list_display = ["name", "every_seconds", "last_finished_at", "last_ok_at", "runs", "failures", "last_error"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit trail (scheduler.shared.audit): read here, never written or deleted (the retention job prunes
    it); the dashboard's /audit/ page filters it by object and by actor."""

    list_display = ["at", "actor", "via", "action_label", "object_type", "object_id", "object_shown"]
    list_filter = ["via", "object_type"]
    search_fields = ["actor", "object_id", "object_repr"]
    ordering = ["-pk"]
    shown: tuple[str, ...] = ("at", "actor", "user", "os_user", "via", "action_label", "object_type", "object_id")
    shown += ("object_shown", "changes_shown")
    fields = shown

    def get_readonly_fields(self, request: HttpRequest, obj: Any | None = None) -> list[str]:
        return list(self.shown)

    @admin.display(description=gettext_lazy("Action"), ordering="action")
    def action_label(self, entry: AuditEntry) -> str:
        return audit.action_label(entry.action)

    @admin.display(description=gettext_lazy("Object"), ordering="object_repr")
    def object_shown(self, entry: AuditEntry) -> str:
        return format_html("<code>{}</code>", entry.object_repr) if entry.object_repr else "—"

    @admin.display(description=gettext_lazy("Changes"))
    def changes_shown(self, entry: AuditEntry) -> str:
        """Each changed field: its name, then the old and the new value (secrets were masked when recorded)."""
        found = entry.changes if isinstance(entry.changes, dict) else {}
        rows = [(audit.field_label(entry.object_type, str(name)), *_pair(value)) for name, value in found.items()]
        if not rows:
            return "—"
        items = format_html_join("", "<li>{}: <code>{}</code> → <code>{}</code></li>", rows)
        return format_html("<ul>{}</ul>", items)


def _pair(value: Any) -> tuple[str, str]:
    old, new = value if isinstance(value, list) and len(value) == 2 else (None, value)
    return _shown(old), _shown(new)


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
