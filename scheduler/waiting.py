"""Why a run has not started yet, in one sentence the run page shows under "updating…".

A queued run can only wait for four things: its start time (a retry's backoff, a rate-limit slot), a worker
cluster that serves its queue, the tasks ahead of it on that queue, or a free worker. Each is read from what
the Queue page reads (presence rows, django-q2's queue, the runs ended lately), so the two never disagree.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from scheduler import liveness
from scheduler.liveness import short_age
from scheduler.models import ClusterPresence, Run

PATIENCE = timedelta(seconds=10)  # a run queued for less is just being picked up: nothing to explain


def why_waiting(run: Run, now: datetime | None = None) -> str:
    """The reason `run` (queued or retrying) has not started, or "" when it has or is about to."""
    now = now or timezone.now()
    if run.status == Run.Status.RETRYING or (run.status == Run.Status.QUEUED and run.due_at > now):
        at = formats.date_format(timezone.localtime(run.due_at), "DATETIME_FORMAT")
        if run.status == Run.Status.RETRYING:
            return _("An attempt failed; the next one starts at %(at)s.") % {"at": at}
        return _("Waits for its start time (its rate limit or a retry's pause): %(at)s.") % {"at": at}
    if run.status != Run.Status.QUEUED:
        return ""
    state = liveness.queue_state(now, limit=1)
    name = state.queue_of.get(run.pk, run.job.queue)  # a check forced onto "high" waits there, not on its job's
    load = next((q for q in state.queues if q.name == name), None)
    served = [row.split(",") if row else [] for row in _alive_clusters(now)]
    if not served:
        return _(
            "No worker cluster is running, so nothing can start it. Start one: python manage.py qcluster "
            "(make up starts one)."
        )
    if not any(not queues or name in queues for queues in served):
        others = [queue for queue in settings.VIGIA_QUEUES if any(queue in queues for queues in served)]
        return _("No running worker cluster serves the “%(queue)s” queue (they serve: %(served)s).") % {
            "queue": name,
            "served": ", ".join(others),
        }
    since = run.queued_at or run.due_at
    if now - since < PATIENCE:
        return ""
    ahead = max((load.waiting if load else 0) - 1, 0)
    if not ahead:
        running = load.running if load else 0
        return ngettext(
            "Waiting %(age)s for a free worker: %(n)d run of the “%(queue)s” queue is running.",
            "Waiting %(age)s for a free worker: %(n)d runs of the “%(queue)s” queue are running.",
            running,
        ) % {"age": short_age(now - since), "n": running, "queue": name}
    per_minute = load.rate_5 if load else 0.0
    text = ngettext(
        "%(n)d task is waiting ahead of it on the “%(queue)s” queue.",
        "%(n)d tasks are waiting ahead of it on the “%(queue)s” queue.",
        ahead,
    ) % {"n": ahead, "queue": name}
    if per_minute:
        eta = short_age(timedelta(minutes=ahead / per_minute))
        text += " " + _("At the pace of the last 5 minutes (%(rate)s a minute) it starts in about %(eta)s.") % {
            "rate": formats.number_format(per_minute, 1),
            "eta": eta,
        }
    return text


def _alive_clusters(now: datetime) -> list[str]:
    """The queues each live cluster serves ("" for all), from the presence rows clusters renew."""
    return list(ClusterPresence.objects.filter(expires_at__gt=now).values_list("queues", flat=True))
