from typing import Any

from django.utils.translation import gettext_lazy

from scheduler.job_kinds import JobKind, RunContext, register


@register
class Noop(JobKind):
    """Does nothing: handy to check the pipeline end to end, and what the scheduler benchmark runs."""

    name = "noop"
    label = gettext_lazy("No-op")

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        return {"ok": True}
