import itertools
from datetime import timedelta

from django.utils import timezone

from scheduler import lease, services
from scheduler.models import Job

_names = itertools.count(1)


def make_job(**fields):
    """A saved job with its next_run_at computed the way every entry point does."""
    fields.setdefault("name", f"job-{next(_names)}")
    fields.setdefault("kind", "noop")
    fields.setdefault("schedule_type", "interval")
    if fields["schedule_type"] == "interval":
        fields.setdefault("interval_seconds", 60)
    if fields["schedule_type"] == "cron":
        fields.setdefault("timezone", "UTC")
    if fields["schedule_type"] == "once":
        fields.setdefault("run_at", timezone.now() + timedelta(minutes=5))
    next_run_at = fields.pop("next_run_at", None)
    job = services.save_job(Job(**fields))
    if next_run_at is not None:  # pretend the scheduler was away since then
        Job.objects.filter(pk=job.pk).update(next_run_at=next_run_at)
        job.refresh_from_db()
    return job


def lead(holder="test-leader", ttl=30):
    assert lease.try_acquire(holder, ttl)
    return holder


def job_form_data(admin=False, **overrides):
    """What the job form posts for a valid noop job, as the dashboard's page sends it, or the admin's
    (`admin=True`: its date-times split in two inputs, and its Save button). `overrides` replace fields."""
    data = {
        "name": "weekday report",
        "kind": "noop",
        "params": "{}",
        "schedule_type": "cron",
        "cron": "0 9 * * 1-5",
        "timezone": "America/Sao_Paulo",
        "interval_seconds": "",
        "max_occurrences": "",
        "enabled": "on",
        "queue": "default",
        "timeout_seconds": "300",
        "max_attempts": "1",
        "backoff_base_seconds": "10",
        "backoff_cap_seconds": "600",
        "backoff_jitter": "0.1",
        "overlap_policy": "forbid",
        "misfire_policy": "coalesce",
        "misfire_grace_seconds": "3600",
        "external_service": "",
        "external_key": "",
    }
    for name in ("run_at", "start_at", "end_at"):
        data.update({f"{name}_0": "", f"{name}_1": ""} if admin else {name: ""})
    if admin:
        data["_save"] = "Save"
    return {**data, **overrides}
