"""`python manage.py import_jobs FILE`: create or update jobs from JSON (as written by export_jobs).

All or nothing, matched by name (see scheduler.importing): every entry is validated with JobForm first.
"""

from scheduler.forms import FIELDS, JobForm
from scheduler.importing import ImportCommand
from scheduler.models import Job


class Command(ImportCommand):
    help = "Create or update jobs (matched by name) from a JSON file written by export_jobs; '-' reads stdin."
    model, form_class, fields = Job, JobForm, FIELDS
    unique = [("name",), ("external_service", "external_key")]
    noun, exporter = "job", "export_jobs"
