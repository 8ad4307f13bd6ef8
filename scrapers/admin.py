"""The operator's admin for sources, their items and the per-host budgets.

Thin: validation is SourceForm's (which also keeps each source's job in step), checking is scrapers.checks'.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.utils.html import format_html

from scheduler.admin import ReadOnlyAdmin, ReadOnlyInline, _local, _short, job_link
from scheduler.errors import JobError
from scrapers import checks
from scrapers.models import HostBudget, Item, ItemRevision, Source
from scrapers.sources import SourceForm, sync_job

SELECTORS_BROKEN = "selectors may be broken"


def health(source):
    """(label, tone) for the source's health badge."""
    if not source.consecutive_failures:
        return ("ok", "ok") if source.last_success_at else ("not checked yet", "new")
    if SELECTORS_BROKEN in source.last_error.lower():  # checks.py's "0 items where the last check found N"
        return SELECTORS_BROKEN, "broken" if source.broken else "failing"
    if source.broken:
        return "broken", "broken"
    return f"failing {source.consecutive_failures}", "failing"


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
        "last_error",
        "last_error_at",
        "etag",
        "last_modified",
    ]
    readonly_fields = health_fields
    edit_fieldsets = [
        ("What", {"fields": ["name", "kind", "url", "config"]}),
        (
            "Schedule",
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
        ("Request", {"fields": ["method", "headers", "timeout_seconds", "user_agent"]}),
    ]
    health_fieldset = ("Health", {"fields": health_fields})

    def get_fieldsets(self, request, obj=None):
        # A source being added has no health yet.
        return self.edit_fieldsets if obj is None else [*self.edit_fieldsets, self.health_fieldset]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_count=Count("items"))

    def save_model(self, request, obj, form, change):
        form.save()  # the source and its job (obj is form.instance)

    def get_deleted_objects(self, objs, request):
        # The default confirmation page lists every item and revision, and a source may have thousands: count.
        sources = list(objs)
        items = Item.objects.filter(source__in=sources).count()
        perms_needed = {"item"} if items and not request.user.has_perm("scrapers.delete_item") else set()
        return [str(source) for source in sources], {"sources": len(sources), "items": items}, perms_needed, []

    @admin.display(description="URL", ordering="url")
    def short_url(self, source):
        return _short(source.url, 50)

    @admin.display(description="Health", ordering="consecutive_failures")
    def health_badge(self, source):
        label, tone = health(source)
        # classes, not style="": the Content-Security-Policy forbids inline styles (static/css/admin.css)
        return format_html('<span class="vigia-badge vigia-{}" title="{}">{}</span>', tone, source.last_error, label)

    @admin.display(description="Last success", ordering="last_success_at")
    def last_success(self, source):
        return _local(source.last_success_at)

    @admin.display(description="Items", ordering="item_count")
    def item_count(self, source):
        return source.item_count

    @admin.display(description="Job")
    def job_link(self, source):
        return job_link(source)

    @admin.action(description="Check now", permissions=["change"])
    def check_now(self, request, queryset):
        # Synchronous: one fetch per source, outside the active window too (the operator asked).
        for source in queryset:
            try:
                outcome = checks.check_source(source, respect_window=False)
            except JobError as exc:
                self.message_user(request, f"Source {source.name}: {exc}", messages.ERROR)
                continue
            if outcome.status == "unchanged":
                text = f"Source {source.name}: not modified since the last check"
            else:
                text = f"Source {source.name}: {len(outcome.new)} new, {len(outcome.updated)} updated"
                text += " (first check: the baseline, not announced)" if outcome.baseline else ""
            self.message_user(request, text, messages.SUCCESS)

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request, queryset):
        self.message_user(request, f"Enabled {self._set_enabled(queryset, True)} source(s).", messages.SUCCESS)

    @admin.action(description="Disable", permissions=["change"])
    def disable(self, request, queryset):
        self.message_user(request, f"Disabled {self._set_enabled(queryset, False)} source(s).", messages.SUCCESS)

    @staticmethod
    @transaction.atomic
    def _set_enabled(queryset, enabled):
        sources = list(queryset.select_related("job"))
        for source in sources:
            source.enabled = enabled
            source.save(update_fields=["enabled", "updated_at"])
            sync_job(source)  # the job is paused/resumed with its source
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

    @admin.display(description="Key", ordering="key")
    def short_key(self, item):
        return _short(item.key)


@admin.register(HostBudget)
class HostBudgetAdmin(admin.ModelAdmin):
    list_display = ["host", "rate", "next_slot"]
    search_fields = ["host"]
    ordering = ["host"]
    fields = ["host", "rate_per_second", "next_slot_at"]

    def get_readonly_fields(self, request, obj=None):
        # The host is the primary key: editing it would save a second row.
        return ["next_slot_at"] if obj is None else ["host", "next_slot_at"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "rate_per_second":
            field.help_text = (
                f"Requests per second to this host, shared by every worker. "
                f"Empty: the default, VIGIA_HOST_RATE ({settings.VIGIA_HOST_RATE:g}/s)."
            )
        return field

    @admin.display(description="Rate (requests/s)", ordering="rate_per_second")
    def rate(self, budget):
        if budget.rate_per_second is None:
            return f"{settings.VIGIA_HOST_RATE:g} (default)"
        return f"{budget.rate_per_second:g}"

    @admin.display(description="Next slot", ordering="next_slot_at")
    def next_slot(self, budget):
        return _local(budget.next_slot_at)


from scrapers import people_admin  # noqa: E402,F401
