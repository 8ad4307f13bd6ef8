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
