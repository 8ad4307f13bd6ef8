"""`python manage.py import_sources FILE`: create or update sources from JSON (as written by export_sources).

All or nothing, matched by name (see scheduler.importing): every entry is validated with SourceForm first,
and SourceForm.save creates or updates each source's check_source job in the same transaction.
"""

from typing import Any

from django.forms import ModelForm

from scheduler.importing import ImportCommand
from scrapers.models import Source
from scrapers.sources.services import FIELDS, SourceForm


class Command(ImportCommand):
    help = "Create or update sources (matched by name) from a JSON file written by export_sources; '-' reads stdin."
    model, form_class, fields = Source, SourceForm, FIELDS
    noun, exporter = "source", "export_sources"

    def outcome(self, form: "ModelForm[Source]", before: dict[str, Any] | None) -> str:
        # A source whose job was deleted (in the job admin) is saved again, which recreates the job.
        if before is not None and form.instance.job_id is None:
            return "updated"
        return super().outcome(form, before)
