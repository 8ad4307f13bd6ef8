"""The check_source job kind: the scheduler's way into scrapers.checks."""

import time

from django import forms

from scheduler.errors import PermanentError
from scheduler.registry import JobKind, register
from scrapers import checks
from scrapers.models import Source


@register
class CheckSource(JobKind):
    name = "check_source"
    label = "Check a source"

    class Params(forms.Form):
        source_id = forms.IntegerField(min_value=1)

    def run(self, params, context):
        source = Source.objects.filter(pk=params["source_id"]).first()
        if source is None:
            raise PermanentError(f"Source {params['source_id']} no longer exists.")
        # Leave a margin inside the run's timeout for recording the outcome.
        deadline = time.monotonic() + context.timeout_seconds * 0.9
        return checks.check_source(source, deadline=deadline).summary()
