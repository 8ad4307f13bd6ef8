"""The channels' job kind (`send_message`), the leader's delivery sweep, and the job-failure alerts."""

from typing import Any

from django import forms
from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from channels_app import scheduled, sending
from scheduler import periodic, services
from scheduler.errors import PermanentError
from scheduler.job_kinds import JobKind, RunContext, register
from scheduler.models import Job, Run
from scheduler.shared import retention
from scheduler.signals import run_finished

SYSTEM_JOBS = [
    retention.PRUNE_JOB,  # daily "Prune history" (every app's history, by the VIGIA_RETAIN_* settings)
]
# System jobs of earlier versions, now leader-side housekeeping: removed on migrate.
RETIRED_SYSTEM_JOBS = ["deliver_due"]

# Every 5 s on the scheduler leader, outside the run history: retries that are due, and lost sending tasks.
periodic.register("requeue_deliveries", 5, lambda: {"queued": sending.requeue_due()})


@register
class SendMessage(JobKind):
    name = "send_message"
    label = "Send a message scheduled through the API"

    class Params(forms.Form):
        message_id = forms.IntegerField(min_value=1)

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        from channels_app.models import Message

        message = Message.objects.filter(pk=params["message_id"]).first()
        if message is None:
            raise PermanentError(f"Message {params['message_id']} no longer exists.")
        return scheduled.dispatch(message)


@receiver(run_finished)
def _alert_job_failure(sender: type[Run], run: Run, **kwargs: Any) -> None:
    """A run that failed for good (no retry left) is published on `job:<id>:failed`."""
    if run.status not in (Run.Status.FAILED, Run.Status.TIMED_OUT):
        return
    job = run.job
    if Run.objects.filter(job=job, scheduled_for=run.scheduled_for, attempt__gt=run.attempt).exists():
        return  # a retry follows
    if job.kind == "check_source":
        return  # sources have their own broken/recovered events
    from channels_app.events import publish

    publish(
        f"job:{job.pk}:failed",
        {
            "type": "job.failed",
            "job": job.pk,
            "job_name": job.name,
            "run": run.pk,
            "status": run.status,
            "attempt": run.attempt,
            "error": run.error[:1000],
        },
        key=f"job.failed:{run.pk}",
    )


def ensure_system_jobs() -> list[Job]:
    Job.objects.filter(external_service="vigia", external_key__in=RETIRED_SYSTEM_JOBS).delete()
    return services.ensure_jobs(SYSTEM_JOBS)


@receiver(post_migrate)
def _ensure_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    if sender.name == "channels_app" and settings.VIGIA_SYSTEM_JOBS:
        ensure_system_jobs()
