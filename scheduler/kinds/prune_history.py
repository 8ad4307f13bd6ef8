"""The daily maintenance job: every registered pruner (scheduler.shared.retention), with its own age setting."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from scheduler.errors import TransientError
from scheduler.job_kinds import JobKind, RunContext, register
from scheduler.shared import retention


@register
class PruneHistory(JobKind):
    name = "prune_history"
    label = gettext_lazy("Prune history")
    description = gettext_lazy(
        "Deletes runs, queue task records, deliveries and item revisions older than their VIGIA_RETAIN_* "
        "settings, in batches. Active runs, unsent deliveries and each item's latest revision are kept."
    )

    class Params(forms.Form):
        batch_size = forms.IntegerField(
            label=gettext_lazy("Batch size"),
            min_value=1,
            max_value=50_000,
            required=False,
            help_text=gettext_lazy("Empty: VIGIA_RETENTION_BATCH."),
        )
        pause_ms = forms.IntegerField(
            label=gettext_lazy("Pause between batches (ms)"),
            min_value=0,
            max_value=5000,
            required=False,
            initial=50,
            help_text=gettext_lazy("Pause between batches."),
        )

        def clean_pause_ms(self) -> int:
            value = self.cleaned_data["pause_ms"]
            return 50 if value is None else value

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        result, failed = retention.prune_all(
            batch_size=params.get("batch_size"), pause=params.get("pause_ms", 50) / 1000
        )
        if failed:
            raise TransientError(f"Pruning failed for: {', '.join(failed)}", result=result)
        return result
