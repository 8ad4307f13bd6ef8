"""The operator's admin for monitored people and the DJEN publications kept for them.

Thin, like the sources admin: validation is PersonForm's (which also keeps each person's job in step and
queues a new person's first check), checks run on the workers, never inside a request.
"""

from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from scheduler.admin import ReadOnlyAdmin, ReadOnlyInline, clip, job_link, local_time
from scheduler.models import Job
from scheduler.shared import recorded
from scrapers.models import MonitoredPerson, PeopleTransfer, Publication, PublicationMatch
from scrapers.people import search, transfers
from scrapers.people import services as people
from scrapers.people.brazil import digits, format_document

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups, _FieldOpts, _FieldsetSpec
    from django_stubs_ext import StrOrPromise, WithAnnotations

# The most people the admin exports by their ids (SQLite caps a statement's parameters at 32,766); more are
# exported from the People page, by the list's filters.
EXPORT_SELECTED_MAX = 10_000
CHECK_SELECTED_MAX = 10_000


class PublicationCount(TypedDict):
    """MonitoredPersonAdmin.get_queryset's annotation."""

    publication_count: int


class PeopleCount(TypedDict):
    """PublicationAdmin.get_queryset's annotation."""

    people_count: int


class ExpiryFilter(admin.SimpleListFilter):
    title = gettext_lazy("expiry")
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: "admin.ModelAdmin[Any]") -> list[tuple[str, "StrOrPromise"]]:
        return [
            ("expired", gettext_lazy("Expired")),
            ("7", gettext_lazy("Within 7 days")),
            ("30", gettext_lazy("Within 30 days")),
            ("never", gettext_lazy("No expiry")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MonitoredPerson]) -> QuerySet[MonitoredPerson]:
        today = timezone.localdate()
        value = self.value()
        if value == "expired":
            return queryset.filter(monitor_until__lt=today)
        if value in {"7", "30"}:
            return queryset.filter(monitor_until__gte=today, monitor_until__lte=today + timedelta(int(value)))
        if value == "never":
            return queryset.filter(monitor_until__isnull=True)
        return queryset


class TribunalFilter(admin.SimpleListFilter):
    title = gettext_lazy("tribunal")
    parameter_name = "tribunal"
    EVERY = "*"

    def lookups(self, request: HttpRequest, model_admin: "admin.ModelAdmin[Any]") -> list[tuple[str, "StrOrPromise"]]:
        # The acronyms people actually use (distinct comma-separated values, split here: few of them).
        used = MonitoredPerson.objects.exclude(tribunals="").values_list("tribunals", flat=True).distinct()
        names = sorted({name for value in used for name in value.split(",") if name})
        return [(self.EVERY, gettext_lazy("Every tribunal (none chosen)")), *[(name, name) for name in names]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MonitoredPerson]) -> QuerySet[MonitoredPerson]:
        value = self.value()
        if not value:
            return queryset
        if value == self.EVERY:
            return queryset.filter(tribunals="")
        # ",TJSP,TRT2," contains ",TJSP," but ",TJSPX," does not: whole acronyms on any database.
        padded = Concat(Value(","), "tribunals", Value(","))
        return queryset.alias(padded_tribunals=padded).filter(padded_tribunals__contains=f",{value.upper()},")


class PersonFilter(admin.SimpleListFilter):
    """Publications kept for one person (the person page links here). The sidebar lists only the chosen
    person: listing everyone would not scale."""

    title = gettext_lazy("person")
    parameter_name = "person"

    def lookups(self, request: HttpRequest, model_admin: "admin.ModelAdmin[Any]") -> list[tuple[str, str]]:
        # Always one choice for a given value: the admin drops a filter without choices, and with it the
        # filtering, which would list every publication for an unknown person.
        value = self.value()
        if value is None:
            return []
        if not value.isdigit():
            raise IncorrectLookupParameters(_("Unknown person %(value)r.") % {"value": value})
        name = MonitoredPerson.objects.filter(pk=value).values_list("name", flat=True).first()
        return [(value, name or _("#%(id)s (deleted)") % {"id": value})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Publication]) -> QuerySet[Publication]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(matches__person_id=int(value))  # one match per person: no duplicates


@admin.register(MonitoredPerson)
class MonitoredPersonAdmin(admin.ModelAdmin):
    # ModelAdmin saves through form.save(commit=False); save_model then calls PersonForm.save, which writes
    # the person and its check_person job, and queues a new person's first check, in one transaction.
    form = people.PersonForm
    list_display = [
        "name",
        "formatted_document",
        "oab",
        "tribunals",
        "active",
        "monitor_until",
        "first_check",
        "last_success",
        "next_check",
        "publication_count",
    ]
    list_filter = ["active", ExpiryFilter, TribunalFilter, "first_check"]
    search_fields = ["name", "normalized_name", "document", "oab_number"]  # what get_search_results compares
    search_help_text = gettext_lazy(
        "Name (accents and case ignored), CPF/CNPJ or OAB number, with or without punctuation."
    )
    ordering = ["normalized_name", "pk"]
    actions = ["check_now", "deactivate", "export_selected"]
    # templates/admin/scrapers/monitoredperson/change_list.html adds "Import CSV" and "Export CSV" links to
    # the dashboard's pages, which run them as jobs with live progress (scrapers.people.transfers).
    health_fields = [
        "job_link",
        "publications_link",
        "last_checked_at",
        "last_success_at",
        "next_check_at",
        "first_check",
        "recorded_error",
    ]
    readonly_fields = health_fields
    edit_fieldsets: "_FieldsetSpec" = [
        (gettext_lazy("Who"), {"fields": ["name", "document", ("oab_number", "oab_uf")]}),
        (gettext_lazy("Where"), {"fields": ["tribunals", "match_in_text"]}),
        (
            gettext_lazy("Monitoring"),
            {"fields": ["active", "monitor_until", "check_interval_minutes", "recipients", "notes"]},
        ),
    ]
    # (a list of names is field groups too: cast only because the stubs' list type is invariant)
    health_fieldset: "tuple[StrOrPromise, _FieldOpts]" = (
        gettext_lazy("Health"),
        {"fields": cast("_FieldGroups", health_fields)},
    )

    def get_fieldsets(self, request: HttpRequest, obj: MonitoredPerson | None = None) -> "_FieldsetSpec":
        # A person being added has no health yet.
        return self.edit_fieldsets if obj is None else [*self.edit_fieldsets, self.health_fieldset]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MonitoredPerson]:
        return super().get_queryset(request).annotate(publication_count=Count("matches"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[MonitoredPerson], search_term: str
    ) -> tuple[QuerySet[MonitoredPerson], bool]:
        # Django's search compares the raw words: "José" would miss "JOSE" and "529.982.247-25" the stored
        # characters. The dashboard's search (scrapers.people.search) compares each word normalized too: as a name
        # to normalized_name, as a CPF/CNPJ (or OAB number) without its punctuation. Every word must match.
        return search.people(queryset, search_term), False

    def save_model(self, request: HttpRequest, obj: MonitoredPerson, form: people.PersonForm, change: bool) -> None:
        form.save()  # the person, its job and (when new) its first check (obj is form.instance)

    @admin.display(description=gettext_lazy("CPF/CNPJ"), ordering="document")
    def formatted_document(self, person: MonitoredPerson) -> str:
        return format_document(person.document) or "—"

    @admin.display(description=gettext_lazy("OAB"), ordering="oab_number")
    def oab(self, person: MonitoredPerson) -> str:
        return f"{person.oab_number}/{person.oab_uf}" if person.oab_number else "—"

    @admin.display(description=gettext_lazy("Last success"), ordering="last_success_at")
    def last_success(self, person: MonitoredPerson) -> str:
        return local_time(person.last_success_at)

    @admin.display(description=gettext_lazy("Next check"), ordering="next_check_at")
    def next_check(self, person: MonitoredPerson) -> str:
        return local_time(person.next_check_at)

    @admin.display(description=gettext_lazy("Publications"), ordering="publication_count")
    def publication_count(self, person: "WithAnnotations[MonitoredPerson, PublicationCount]") -> int:
        return person.publication_count

    @admin.display(description=gettext_lazy("Last error"))
    def recorded_error(self, person: MonitoredPerson) -> str:
        return recorded.translated(person.last_error)  # stored in English

    @admin.display(description=gettext_lazy("Job"))
    def job_link(self, person: MonitoredPerson) -> str:
        return job_link(person)

    @admin.display(description=gettext_lazy("Publications"))
    def publications_link(self, person: MonitoredPerson) -> SafeString:
        query = urlencode({PersonFilter.parameter_name: person.pk})
        url = f"{reverse('admin:scrapers_publication_changelist')}?{query}"
        count = person.matches.count()
        text = ngettext("%(count)d publication", "%(count)d publications", count) % {"count": count}
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.action(description=gettext_lazy("Check now"), permissions=["change"])
    def check_now(self, request: HttpRequest, queryset: QuerySet[MonitoredPerson]) -> None:
        # Queued on the high queue, ahead of the routine cycle; a worker checks DJEN, not this request.
        # Queued in bulk (10,000 in about 1.5 s); more is "Check all people now"'s job, on a worker.
        chosen = list(queryset.only("pk", "active")[: CHECK_SELECTED_MAX + 1])
        if len(chosen) > CHECK_SELECTED_MAX:
            text = _("Select at most %(max)s people, or use “Check all people now” on the People page.") % {
                "max": f"{CHECK_SELECTED_MAX:,}"
            }
            self.message_user(request, text, messages.ERROR)
            return
        active = [person for person in chosen if person.active]
        queued = people.force_sync(active, queue_name=Job.Queue.HIGH) if active else 0
        text = ngettext("Queued a check of %(count)d person.", "Queued a check of %(count)d people.", queued) % {
            "count": queued
        }
        if len(active) > queued:
            waiting = len(active) - queued
            text += " " + ngettext(
                "%(count)d already had a check waiting.", "%(count)d already had a check waiting.", waiting
            ) % {"count": waiting}
        if len(active) < len(chosen):
            inactive = len(chosen) - len(active)
            text += " " + ngettext("Skipped %(count)d inactive.", "Skipped %(count)d inactive.", inactive) % {
                "count": inactive
            }
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Deactivate"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[MonitoredPerson]) -> None:
        count = people.deactivate(queryset)
        text = ngettext("Deactivated %(count)d person.", "Deactivated %(count)d people.", count) % {"count": count}
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Export selected people as CSV"), permissions=["view"])
    def export_selected(self, request: HttpRequest, queryset: QuerySet[MonitoredPerson]) -> HttpResponse | None:
        # A job, as from the People page; the browser goes to its page (progress, then the download).
        ids = list(queryset.values_list("pk", flat=True)[: EXPORT_SELECTED_MAX + 1])
        if len(ids) > EXPORT_SELECTED_MAX:
            text = _("Select at most %(max)s people, or export from the People page with its filters.") % {
                "max": f"{EXPORT_SELECTED_MAX:,}"
            }
            self.message_user(request, text, messages.ERROR)
            return None
        # The admin lets only signed-in staff in: a real user, not AnonymousUser.
        transfer = transfers.start_export(ids=ids, user=cast(User, request.user))
        return redirect("scrapers:people_transfer", pk=transfer.pk)


@admin.register(PeopleTransfer)
class PeopleTransferAdmin(ReadOnlyAdmin):
    """CSV imports and exports of people: each has its job and a dashboard page with the progress, the
    report and the download. Pruned with their job after VIGIA_RETAIN_TRANSFERS_DAYS."""

    list_display = ["__str__", "file_name", "user", "created_at", "progress", "finished_at", "page_link"]
    list_filter = ["kind", "dry_run"]
    fields = ["kind", "file_name", "user", "created_at", "dry_run", "options", "job", "progress", "error"]
    fields += ["finished_at", "page_link"]
    # (names only, so field groups too: cast only because the stubs' list type is invariant)
    readonly_fields = cast("list[str]", fields)
    ordering = ["-pk"]

    def get_readonly_fields(self, request: HttpRequest, obj: PeopleTransfer | None = None) -> list[str]:
        return cast("list[str]", self.fields)  # never the stored bytes

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeopleTransfer]:
        return super().get_queryset(request).defer(*PeopleTransfer.LIGHT).select_related("user")

    @admin.display(description=gettext_lazy("Progress"))
    def progress(self, transfer: PeopleTransfer) -> str:
        return f"{transfer.done} / {transfer.total}" if transfer.total is not None else "—"

    @admin.display(description=gettext_lazy("Page"))
    def page_link(self, transfer: PeopleTransfer) -> SafeString:
        url = reverse("scrapers:people_transfer", args=[transfer.pk])
        return format_html('<a href="{}">{}</a>', url, _("progress, report and download"))


class PublicationMatchInline(ReadOnlyInline):
    model = PublicationMatch
    fields = ["person", "how", "matched_at"]
    ordering = ["matched_at"]


@admin.register(Publication)
class PublicationAdmin(ReadOnlyAdmin):  # from checks; deleting one would only have it announced again
    list_display = ["date", "tribunal", "process", "communication_type", "short_organ", "people_count"]
    list_filter = ["tribunal", "medium", PersonFilter]
    search_fields = ["process_number", "process_number_masked", "text"]  # what get_search_results compares
    search_help_text = gettext_lazy("Process number (with or without its mask) or words of the text.")
    date_hierarchy = "date"
    ordering = ["-date", "-djen_id"]  # the publication_recent index
    show_full_result_count = False  # many rows: no unfiltered COUNT(*)
    inlines = [PublicationMatchInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Publication]:
        return super().get_queryset(request).annotate(people_count=Count("matches"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Publication], search_term: str
    ) -> tuple[QuerySet[Publication], bool]:
        # A process number typed with its mask ("0001234-56.2024.8.26.0100") is also compared as digits to
        # process_number, which DJEN always fills (the masked copy may be empty).
        for word in search.words(search_term):
            match = Q(process_number_masked__icontains=word) | Q(text__icontains=word)
            if search.NUMERIC.fullmatch(word) and (number := digits(word)):
                match |= Q(process_number__contains=number)
            queryset = queryset.filter(match)
        return queryset, False

    @admin.display(description=gettext_lazy("Process"), ordering="process_number")
    def process(self, publication: Publication) -> str:
        return publication.process_number_masked or publication.process_number or "—"

    @admin.display(description=gettext_lazy("Organ"), ordering="organ")
    def short_organ(self, publication: Publication) -> str:
        return clip(publication.organ, 50)  # escaped by the admin like any text (scraped: never mark_safe)

    @admin.display(description=gettext_lazy("People"), ordering="people_count")
    def people_count(self, publication: "WithAnnotations[Publication, PeopleCount]") -> int:
        return publication.people_count
