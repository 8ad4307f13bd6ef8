"""The sources' job kind: the scheduler's way into scrapers.sources.checks."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy, gettext_noop

from scheduler import system_jobs
from scheduler.errors import PermanentError
from scheduler.job_kinds import JobKind, RunContext, deadline, register
from scheduler.shared.logs import log_context
from scrapers.sources import checks
from scrapers.sources.models import Source

# The name scrapers.sources.services.sync_job gives a source's job, shown in the reader's language.
system_jobs.made_name(gettext_noop("Source #%(id)s: %(name)s"))


@register
class CheckSource(JobKind):
    name = "check_source"
    label = gettext_lazy("Check a source")

    class Params(forms.Form):
        source_id = forms.IntegerField(label=gettext_lazy("Source"), min_value=1)

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        source = Source.objects.filter(pk=params["source_id"]).first()
        if source is None:
            raise PermanentError(f"Source {params['source_id']} no longer exists.")
        with log_context(source=source.pk):
            return checks.check_source(source, deadline=deadline(context)).summary()
