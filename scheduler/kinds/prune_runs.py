"""Delete old run history, a batch at a time.

Small batches, each its own short transaction with a pause between, keep the run table writable for the
dispatcher and workers while a large backlog is pruned (one big DELETE would hold locks for its whole
duration and, on SQLite, block every writer).
"""

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy

from scheduler.job_kinds import JobKind, RunContext, register
from scheduler.models import Run
from scheduler.shared import retention


@register
class PruneRuns(JobKind):
    name = "prune_runs"
    label = gettext_lazy("Prune run history")
    description = gettext_lazy(
        "Deletes finished runs scheduled more than `days` ago. Active and retrying runs are kept."
    )

    class Params(forms.Form):
        days = forms.IntegerField(
            label=gettext_lazy("Days"), min_value=1, help_text=gettext_lazy("Keep this many days of history.")
        )
        batch_size = forms.IntegerField(
            label=gettext_lazy("Batch size"), min_value=100, max_value=10000, required=False, initial=1000
        )
        pause_ms = forms.IntegerField(
            label=gettext_lazy("Pause between batches (ms)"),
            min_value=0,
            max_value=5000,
            required=False,
            initial=50,
            help_text=gettext_lazy("Pause between batches."),
        )

        def clean_batch_size(self) -> int:
            value = self.cleaned_data["batch_size"]
            return 1000 if value is None else value

        def clean_pause_ms(self) -> int:
            value = self.cleaned_data["pause_ms"]
            return 50 if value is None else value

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        batch_size = params.get("batch_size", 1000)
        pause = params.get("pause_ms", 50) / 1000
        cutoff = timezone.now() - timedelta(days=params["days"])
        # Conditions repeated in the DELETE itself, so a run that changed status since the SELECT is kept.
        prunable = Run.objects.filter(scheduled_for__lt=cutoff, status__in=Run.FINAL)
        deleted, batches = retention.delete_in_batches(prunable, batch_size, pause)
        return {"deleted": deleted, "batches": batches, "cutoff": cutoff.isoformat()}
