"""The channels' job kind (`send_message`), the leader's delivery and callback sweeps, the job-failure alerts and
the runs' callbacks."""

import logging
from typing import Any

from django import forms
from django.apps import AppConfig
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate
from django.dispatch import receiver
from django.utils.translation import gettext_lazy, gettext_noop

from channels_app import alerts, callbacks, scheduled, sending
from channels_app.models import Channel
from scheduler import periodic, services, system_jobs, views_runs
from scheduler.errors import PermanentError
from scheduler.job_kinds import JobKind, RunContext, register
from scheduler.models import Job, Run
from scheduler.shared import retention
from scheduler.signals import run_finished

log = logging.getLogger("vigia.callbacks")
# The name of the job that sends a message scheduled through the API (channels_app.scheduled), shown in the
# reader's language.
system_jobs.made_name(gettext_noop("API message #%(id)s: %(name)s"))
SYSTEM_JOBS = [
    retention.PRUNE_JOB,  # daily "Prune history" (every app's history, by the VIGIA_RETAIN_* settings)
]
# System jobs of earlier versions, now leader-side housekeeping: removed on migrate.
RETIRED_SYSTEM_JOBS = ["deliver_due"]

# Every 5 s on the scheduler leader, outside the run history: retries that are due, and lost sending tasks.
periodic.register("requeue_deliveries", 5, lambda: {"queued": sending.requeue_due()})
# Alert reminders and dead man's switches (channels_app.alerts).
periodic.register("alert_reminders", 5, alerts.sweep)
# Likewise for callbacks (a run's or message's final status, told to its callback URL).
periodic.register("requeue_callbacks", 5, lambda: {"queued": callbacks.requeue_due()})
# The run's page shows its callback (the scheduler does not import this app).
views_runs.add_run_facts(callbacks.run_facts)


@register
class SendMessage(JobKind):
    name = "send_message"
    label = gettext_lazy("Send a message scheduled through the API")

    class Params(forms.Form):
        message_id = forms.IntegerField(label=gettext_lazy("Message"), min_value=1)

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        from channels_app.models import Message

        message = Message.objects.filter(pk=params["message_id"]).first()
        if message is None:
            raise PermanentError(f"Message {params['message_id']} no longer exists.")
        return scheduled.dispatch(message)


@receiver(run_finished)
def _alert_job_failure(sender: type[Run], run: Run, **kwargs: Any) -> None:
    """A run that failed for good (no retry left) is one more failure of its job (channels_app.alerts: the job's
    policy says after how many in a row `job.failed` is published on `job:<id>:failed`, with reminders and a
    recovery); a success ends the failing, and resets its dead man's switch."""
    job = run.job
    if job.kind in ("check_source", "check_person"):
        return  # sources and people have their own alerts (scrapers.alerts)
    if run.status == Run.Status.SUCCEEDED:
        alerts.succeeded_any([f"job:{job.pk}", f"deadline:{job.pk}"], extra={"job_name": job.name, "run": run.pk})
        return
    if run.status not in (Run.Status.FAILED, Run.Status.TIMED_OUT) or _retry_follows(run):
        return
    alerts.failed(
        f"job:{job.pk}",
        run.error,
        name=job.name,
        extra={"job_name": job.name, "run": run.pk, "status": run.status, "attempt": run.attempt},
    )


@receiver(run_finished)
def _tell_run_callback(sender: type[Run], run: Run, **kwargs: Any) -> None:
    """A run of a job with a callback URL that reached its final status (no retry follows) is told there, once:
    succeeded, failed or timed out for good, cancelled, skipped."""
    job = run.job
    if not job.callback_url or run.status not in Run.FINAL:
        return
    try:  # its own savepoint: a problem here must not undo the failure alert sent with the same ending
        with transaction.atomic():
            if run.status in (Run.Status.FAILED, Run.Status.TIMED_OUT) and _retry_follows(run):
                return
            callbacks.schedule(f"run:{run.pk}", job.callback_url, callbacks.run_document(run), job.api_caller)
    except Exception:  # noqa: BLE001 - logged; the run's ending stands
        log.exception("the run's callback could not be scheduled", extra={"run": run.pk, "job": job.pk})


@receiver(post_delete, sender=Job)
def _forget_job_alerts(sender: type[Job], instance: Job, **kwargs: Any) -> None:
    alerts.forget(f"job:{instance.pk}", f"deadline:{instance.pk}")


@receiver(post_delete, sender=Channel)
def _forget_channel_alerts(sender: type[Channel], instance: Channel, **kwargs: Any) -> None:
    alerts.forget(f"channel:{instance.pk}")


def _retry_follows(run: Run) -> bool:
    return Run.objects.filter(job_id=run.job_id, scheduled_for=run.scheduled_for, attempt__gt=run.attempt).exists()


def ensure_system_jobs() -> list[Job]:
    Job.objects.filter(external_service="vigia", external_key__in=RETIRED_SYSTEM_JOBS).delete()
    return services.ensure_jobs(SYSTEM_JOBS)


@receiver(post_migrate)
def _ensure_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    if sender.name == "channels_app" and settings.VIGIA_SYSTEM_JOBS:
        ensure_system_jobs()
