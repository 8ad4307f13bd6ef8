"""CSV import and export of monitored people: the upload form, the export form, and the page that follows
either one live (progress every second, then the report or the file). The work runs on the workers
(scrapers.people.transfers); these views only validate, start it and show it."""

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from scheduler.shared import roles
from scheduler.shared.web import Request, render_page
from scrapers.models import PeopleTransfer
from scrapers.people import csv_io as people_csv
from scrapers.people import transfers
from scrapers.people.filters import PeopleFilters, filtered_people

MAX_UPLOAD = 5 * 1024 * 1024  # ~150,000 rows; the bytes are kept in the database until pruned


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"))
    dry_run = forms.BooleanField(
        required=False,
        label=gettext_lazy("Dry run"),
        help_text=gettext_lazy("Check every line and report, but save nothing."),
    )

    def clean_file(self) -> UploadedFile:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        self.bytes: bytes = upload.read()
        try:
            transfers.check_readable(self.bytes)
        except people_csv.CsvError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


class ExportForm(PeopleFilters):
    excel = forms.BooleanField(
        required=False,
        label=gettext_lazy("Excel (Brazil)"),
        help_text=gettext_lazy("Separated by ';' and in Windows-1252, as Excel in Portuguese opens it."),
    )


def _to_transfer(request: Request, transfer: PeopleTransfer) -> HttpResponse:
    url = reverse("scrapers:people_transfer", args=[transfer.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_http_methods(["GET", "POST"])
def people_import(request: Request) -> HttpResponse:
    """Upload a CSV (operators only). A file that cannot be read at all is refused here, with nothing stored;
    otherwise the import starts as a job and the browser goes to its page."""
    if request.method == "POST":
        roles.require(request.user, "operate")
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            dry_run = form.cleaned_data["dry_run"]
            return _to_transfer(request, transfers.start_import(form.bytes, upload.name, dry_run, request.user))
    else:
        form = ImportForm()
    context = {"title": _("Import people"), "form": form, "columns": people_csv.COLUMNS}
    return render_page(request, "scrapers/people_import.html", context, partial="import")


@require_http_methods(["GET", "POST"])
def people_export(request: Request) -> HttpResponse:
    """GET: what will be exported (the list's filters, from the query string); POST: start the export job.
    Only a role that sees every column may export (scheduler.shared.roles, "export"): a viewer gets 403."""
    roles.require(request.user, "export")
    if request.method == "POST":
        form = ExportForm(request.POST)
        form.is_valid()  # invalid filters are ignored, as the list ignores them
        excel = form.cleaned_data.get("excel", False)
        return _to_transfer(request, transfers.start_export(filters=form.cleaned_data, excel=excel, user=request.user))
    form = ExportForm(request.GET)
    form.is_valid()
    _filters, chosen = filtered_people(request.GET)
    chosen_filters = transfers.chosen_filters(form.cleaned_data)
    context = {
        "title": _("Export people"),
        "form": form,
        "filters": chosen_filters,
        "shown": [(form.fields[name].label, value) for name, value in chosen_filters.items()],
        "count": chosen.count(),
        "excel": request.GET.get("excel") == "1",
    }
    return render_page(request, "scrapers/people_export.html", context)


def _visible(request: Request, pk: int) -> PeopleTransfer:
    return get_object_or_404(transfers.visible_to(request.user), pk=pk)


@require_GET
def people_transfer(request: Request, pk: int) -> HttpResponse:
    """An import's or export's page; HTMX polls its live part every second until the run ends."""
    transfer = _visible(request, pk)
    context = {**transfers.state(transfer), "title": str(transfer), "whole_row": people_csv.WHOLE_ROW}
    return render_page(request, "scrapers/people_transfer.html", context, partial="live")


@require_GET
def people_transfer_download(request: Request, pk: int) -> HttpResponse:
    """The exported file, or the import's per-line report, once the transfer has ended well."""
    transfer = _visible(request, pk)
    if transfer.finished_at is None or transfer.error:
        raise Http404(_("Nothing to download yet."))
    data, content_type, name = transfers.download(transfer)
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


urls = [
    path("people/import/", people_import, name="people_import"),
    path("people/export/", people_export, name="people_export"),
    path("people/transfers/<int:pk>/", people_transfer, name="people_transfer"),
    path("people/transfers/<int:pk>/download/", people_transfer_download, name="people_transfer_download"),
]
