"""The operator's admin for sources, their items and the per-host budgets.

Thin: validation is SourceForm's (which also keeps each source's job in step); "check now" queues a
recorded run of the source's job (scheduler.services.run_now) and links to its live page.
"""

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

import httpx
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from scheduler import services
from scheduler.admin import ReadOnlyAdmin, ReadOnlyInline, clip, job_link, local_time
from scheduler.shared import budgets, recorded
from scrapers import ratelimit
from scrapers.models import HostBudget, Item, ItemRevision, Source
from scrapers.sources import access
from scrapers.sources.services import SourceForm, job_of, set_enabled

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups, _FieldOpts, _FieldsetSpec
    from django_stubs_ext import StrOrPromise, WithAnnotations

    class ItemCount(TypedDict):  # SourceAdmin.get_queryset's annotation
        item_count: int


# Each health's badge class in the admin (static/css/admin.css); the reading itself is Source.health.
TONES = {
    Source.Health.OK: "ok",
    Source.Health.NEW: "new",
    Source.Health.FAILING: "failing",
    Source.Health.SELECTORS: "failing",
    Source.Health.BROKEN: "broken",
}


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    # ModelAdmin saves through form.save(commit=False); save_model below then calls SourceForm.save, which
    # writes the source and creates/updates its check_source job in one transaction.
    form = SourceForm
    list_display = [
        "name",
        "kind",
        "short_url",
        "enabled",
        "health_badge",
        "last_success",
        "last_item_count",
        "item_count",
    ]
    list_filter = ["kind", "enabled", "broken"]
    search_fields = ["name", "url"]
    ordering = ["name"]
    actions = ["check_now", "enable", "disable"]
    health_fields = [
        "job_link",
        "last_checked_at",
        "last_success_at",
        "last_item_count",
        "consecutive_failures",
        "broken",
        "recorded_error",
        "last_error_at",
        "login_status",
        "etag",
        "last_modified",
    ]
    readonly_fields = health_fields
    edit_fieldsets: "_FieldsetSpec" = [
        (gettext_lazy("What"), {"fields": ["name", "kind", "url", "config"]}),
        (
            gettext_lazy("Schedule"),
            {
                "fields": [
                    "interval_seconds",
                    "cron",
                    "timezone",
                    ("active_from", "active_until"),
                    "enabled",
                    "announce_first_check",
                ]
            },
        ),
        (gettext_lazy("Request"), {"fields": ["method", "headers", "timeout_seconds", "user_agent", "fallback_urls"]}),
        (
            gettext_lazy("Login"),
            {"fields": ["login_url", "login_fields", "login_success_cookie", "login_success_text"]},
        ),
    ]
    # (a list of names is field groups too: cast only because the stubs' list type is invariant)
    health_fieldset: "tuple[StrOrPromise, _FieldOpts]" = (
        gettext_lazy("Health"),
        {"fields": cast("_FieldGroups", health_fields)},
    )

    def get_fieldsets(self, request: HttpRequest, obj: Source | None = None) -> "_FieldsetSpec":
        # A source being added has no health yet.
        return self.edit_fieldsets if obj is None else [*self.edit_fieldsets, self.health_fieldset]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return super().get_queryset(request).annotate(item_count=Count("items"))

    def save_model(self, request: HttpRequest, obj: Source, form: SourceForm, change: bool) -> None:
        form.save()  # the source and its job (obj is form.instance)

    def get_deleted_objects(
        self, objs: Sequence[Source] | QuerySet[Source], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        # The default confirmation page lists every item and revision, and a source may have thousands: count.
        sources = list(objs)
        items = Item.objects.filter(source__in=sources).count()
        perms_needed = {"item"} if items and not request.user.has_perm("scrapers.delete_item") else set()
        return [str(source) for source in sources], {"sources": len(sources), "items": items}, perms_needed, []

    @admin.display(description=gettext_lazy("URL"), ordering="url")
    def short_url(self, source: Source) -> str:
        return clip(source.url, 50)

    @admin.display(description=gettext_lazy("Health"), ordering="consecutive_failures")
    def health_badge(self, source: Source) -> SafeString:
        health = source.health
        label = f"{health.label} {source.consecutive_failures}" if health == Source.Health.FAILING else health.label
        tone = TONES[health]
        # classes, not style="": the Content-Security-Policy forbids inline styles (static/css/admin.css)
        title = recorded.translated(source.last_error)  # stored in English
        return format_html('<span class="vigia-badge vigia-{}" title="{}">{}</span>', tone, title, label)

    @admin.display(description=gettext_lazy("Last error"))
    def recorded_error(self, source: Source) -> str:
        return recorded.translated(source.last_error)  # stored in English

    @admin.display(description=gettext_lazy("Login"))
    def login_status(self, source: Source) -> str:
        """In words, never the session's cookies."""
        state = access.login_state(source)
        if state["state"] == "logged_in":
            return _("Logged in since %(since)s") % {"since": local_time(state["since"])}
        if state["state"] == "rejected":
            return recorded.translated(state["error"])
        if state["state"] == "pending":
            return _("Logging in…")
        return _("Not logged in yet") if state["state"] else "-"

    @admin.display(description=gettext_lazy("Last success"), ordering="last_success_at")
    def last_success(self, source: Source) -> str:
        return local_time(source.last_success_at)

    @admin.display(description=gettext_lazy("Items"), ordering="item_count")
    def item_count(self, source: "WithAnnotations[Source, ItemCount]") -> int:
        return source.item_count

    @admin.display(description=gettext_lazy("Job"))
    def job_link(self, source: Source) -> str:
        if not source.job_id:
            return _("No schedule: this source is not checked. Save it or check it now to give it one.")
        return job_link(source)

    @admin.action(description=gettext_lazy("Check now"), permissions=["change"])
    def check_now(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        # Not here, in the request: a recorded manual run of each source's job, on the workers' queue, with
        # a link to the run's page, which follows it live.
        with transaction.atomic():
            queued = [(source, services.run_now(job_of(source))) for source in queryset.select_related("job")]
        for source, run in queued:
            text = _('Source “{name}”: check queued as <a href="{url}">run #{run}</a>.')
            url = reverse("scheduler:run", args=[run.pk])
            self.message_user(request, format_html(text, name=source.name, url=url, run=run.pk), messages.SUCCESS)

    @admin.action(description=gettext_lazy("Enable"), permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        count = self._set_enabled(queryset, True)
        text = ngettext("Enabled %(count)d source.", "Enabled %(count)d sources.", count) % {"count": count}
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Disable"), permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        count = self._set_enabled(queryset, False)
        text = ngettext("Disabled %(count)d source.", "Disabled %(count)d sources.", count) % {"count": count}
        self.message_user(request, text, messages.SUCCESS)

    @staticmethod
    def _set_enabled(queryset: QuerySet[Source], enabled: bool) -> int:
        # The jobs pause or resume through scheduler.services (as on the Jobs pages); the sources follow.
        sources = list(queryset.select_related("job"))
        set_enabled(sources, enabled)
        return len(sources)


class ItemRevisionInline(ReadOnlyInline):
    model = ItemRevision
    fields = ["replaced_at", "valid_from", "title", "url", "published_at", "body"]
    ordering = ["-replaced_at"]


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):  # items come from checks; deleting one would only have it announced again
    list_display = ["title", "source", "short_key", "published_at", "first_seen", "last_seen", "revisions_count"]
    list_filter = ["source"]
    search_fields = ["title", "body", "key"]
    ordering = ["-first_seen", "-id"]
    # Many rows: no unfiltered COUNT(*), and the source's name in the same query.
    list_select_related = ["source"]
    show_full_result_count = False
    inlines = [ItemRevisionInline]

    @admin.display(description=gettext_lazy("Key"), ordering="key")
    def short_key(self, item: Item) -> str:
        return clip(item.key)


HOST_KEY = re.compile(r"(?:[\w-]+(?:\.[\w-]+)*\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?")  # a ratelimit.host_key


class HostBudgetForm(forms.ModelForm):
    """A host's own rate. A new budget names its host (a URL works too); an existing one keeps its name."""

    host = forms.CharField(
        label=gettext_lazy("Host"),
        max_length=200,
        help_text=gettext_lazy("As requests reach it: example.org, or example.org:8080 for another port."),
    )

    class Meta:
        model = HostBudget
        fields = ["per_second"]
        labels = {"per_second": gettext_lazy("Requests per second")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            del self.fields["host"]  # the name is the primary key: changing it would save a second row
        if "per_second" not in self.fields:  # shown read-only (view permission only): nothing to explain
            return
        self.fields["per_second"].help_text = _(
            "Requests per second to this host, shared by every worker. "
            "Empty: the default, VIGIA_HOST_RATE (%(rate)s/s)."
        ) % {"rate": f"{settings.VIGIA_HOST_RATE:g}"}

    def clean_host(self) -> str:
        value = self.cleaned_data["host"].strip()
        try:
            host = ratelimit.host_key(value if "://" in value else f"http://{value}")
        except (httpx.InvalidURL, ValueError):
            host = ""
        if not HOST_KEY.fullmatch(host):
            raise forms.ValidationError(_("Enter a host, such as example.org or example.org:8080."))
        if HostBudget.objects.filter(name=ratelimit.budget_name(host)).exists():
            raise forms.ValidationError(_("This host already has a budget: change that one."))
        return host

    def clean_per_second(self) -> float | None:
        rate = self.cleaned_data["per_second"]
        if rate is not None and rate <= 0:
            raise forms.ValidationError(_("Enter a number of requests per second greater than zero."))
        return rate


@admin.register(HostBudget)
class HostBudgetAdmin(admin.ModelAdmin):
    """The budgets of scrapers.ratelimit: the scheduler's Budget rows named "host:<host>"."""

    form = HostBudgetForm
    list_display = ["host_name", "rate", "next_slot"]
    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[HostBudget]:
        return super().get_queryset(request).filter(name__startswith=ratelimit.PREFIX)

    def get_fields(self, request: HttpRequest, obj: HostBudget | None = None) -> "_FieldGroups":
        return ["host", "per_second"] if obj is None else ["host_name", "per_second", "next_slot"]

    def get_readonly_fields(self, request: HttpRequest, obj: HostBudget | None = None) -> list[str]:
        return [] if obj is None else ["host_name", "next_slot"]

    def save_model(self, request: HttpRequest, obj: HostBudget, form: HostBudgetForm, change: bool) -> None:
        if not change:
            obj.name = ratelimit.budget_name(form.cleaned_data["host"])
        # Only the rate: the slot is the workers' (saving the whole row would move it back).
        budgets.set_rate(obj.name, obj.per_second)

    @admin.display(description=gettext_lazy("Host"), ordering="name")
    def host_name(self, budget: HostBudget) -> str:
        return budget.host

    @admin.display(description=gettext_lazy("Rate (requests/s)"), ordering="per_second")
    def rate(self, budget: HostBudget) -> str:
        if budget.per_second is None:
            return _("%(rate)s (default)") % {"rate": f"{settings.VIGIA_HOST_RATE:g}"}
        return f"{budget.per_second:g}"

    @admin.display(description=gettext_lazy("Next slot"), ordering="next_slot_at")
    def next_slot(self, budget: HostBudget) -> str:
        return local_time(budget.next_slot_at)
