"""Job kinds used only by tests. Worker processes started by tests load them via VIGIA_EXTRA_JOB_KINDS."""

import time

from django import forms

from scheduler.errors import PermanentError, TransientError
from scheduler.job_kinds import JobKind, register
from scheduler.models import Run


@register
class Sleep(JobKind):
    name = "test_sleep"

    class Params(forms.Form):
        seconds = forms.FloatField(min_value=0)
        marker = forms.CharField(required=False)

    def run(self, params, context):
        time.sleep(params["seconds"])
        return {"slept": params["seconds"]}


@register
class Fail(JobKind):
    """Fails the first `failures` attempts (transient or permanent), then succeeds."""

    name = "test_fail"

    class Params(forms.Form):
        failures = forms.IntegerField(min_value=0)
        permanent = forms.BooleanField(required=False)

    def run(self, params, context):
        if context.attempt <= params["failures"]:
            error = PermanentError if params.get("permanent") else TransientError
            raise error(f"planned failure {context.attempt}", result={"attempt": context.attempt})
        return {"attempt": context.attempt}


@register
class Crash(JobKind):
    name = "test_crash"

    def run(self, params, context):
        raise ZeroDivisionError("a bug in the kind")


@register
class Busy(JobKind):
    """Sleeps in small steps and records how far it got (to observe a kill or a cancel)."""

    name = "test_busy"

    class Params(forms.Form):
        seconds = forms.FloatField(min_value=0)

    def run(self, params, context):
        end = time.monotonic() + params["seconds"]
        while time.monotonic() < end:
            time.sleep(0.05)
        Run.objects.filter(id=context.run_id).exists()  # touches the DB like real kinds do
        return {"busy": params["seconds"]}


@register
class KeyErrorBug(JobKind):
    """A bug inside a kind's own code that happens to raise KeyError (the first `failures` attempts)."""

    name = "test_keyerror"

    class Params(forms.Form):
        failures = forms.IntegerField(min_value=0)

    def run(self, params, context):
        if context.attempt <= params["failures"]:
            return {}["missing"]
        return {"attempt": context.attempt}


@register
class KillsItsWorker(JobKind):
    """A poison pill: every attempt kills the worker process running it (as an OOM kill would)."""

    name = "test_suicide"

    def run(self, params, context):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@register
class UsesABudget(JobKind):
    """Waits for a slot on a named budget (as a fetch waits for its host's), then records when it went."""

    name = "test_budget"

    class Params(forms.Form):
        budget = forms.CharField()
        per_second = forms.FloatField(min_value=0.001)

    def run(self, params, context):
        from scheduler.shared import budgets

        waited = budgets.wait_for(params["budget"], params["per_second"])
        return {"waited": round(waited, 3), "went_at": time.time()}


@register
class FailRuns(JobKind):
    """Fails its job's first `runs` runs for good (one attempt each), then succeeds: a job that breaks and
    recovers, run after run."""

    name = "test_fail_runs"

    class Params(forms.Form):
        runs = forms.IntegerField(min_value=0)

    def run(self, params, context):
        failed = Run.objects.filter(job_id=context.job_id, status__in=["failed", "timed_out"]).count()
        if failed < params["runs"]:
            raise PermanentError(f"planned failure {failed + 1}")
        return {"failed_before": failed}
