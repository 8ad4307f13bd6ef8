"""Alerts: when a watched object's failures become a notice, when it is told again, and when it is well again.

A watched object is a *subject* string: `job:7`, `deadline:7` (job 7's dead man's switch), `source:12`,
`person:45`, `channel:3`, `system:no_leader`. Its family (the prefix, registered by the app that owns the
object) names its topic, its default policy and its three event types: the alert, the reminder and the
recovery. The policy and the state live in one `Watch` row per subject (channels_app.models), created at the
first failure or when an operator sets a policy.

- failed(): one more consecutive failure. At the policy's N (default per family: 1 for jobs and channels, 3
  for source and person checks), and once a family's sustain time has passed (the system watchdog), the
  alert is published, once: the state moves under a row lock and the event is keyed by the episode.
- succeeded(): the object works again. A recovery is published when an alert was (and the policy wants one).
- sweep() (the leader, every few seconds; `now` injectable): reminders while an alert stays open, and the dead
  man's switches (a job that must succeed every P + grace).
- acknowledge() stops the reminders of the open alert; silence() sends nothing about the object until a time.

The notices themselves are ordinary events on the object's topic, delivered through its subscriptions; alert
deliveries are held a few seconds to be sent grouped (channels_app.alert_notices).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_noop

from channels_app.links import absolute
from channels_app.models import Watch
from scheduler.shared import audit, recorded

log = logging.getLogger("vigia.alerts")
NO_SUCCESS = recorded.message(gettext_noop("No success since %(since)s (it must succeed every %(every)s)."))


@dataclass(frozen=True)
class Family:
    prefix: str
    alert: str  # the event types: the alert, the reminder, the recovery
    reminder: str
    recovered: str
    topic: Callable[[str], str]  # the object's id -> the topic its alerts go on
    alert_after: Callable[[], int] = lambda: 1  # the default N
    also: tuple[str, ...] = ()  # topics that also carry its alerts (`sources:broken`)
    name_key: str = "name"  # the payload key the built-in wording names it by (`source_name`)
    object_key: str = ""  # the payload key of the object's id (`source`), if any
    link: Callable[[str], str | None] = lambda ident: None  # its dashboard page
    urgent_recovery: bool = False  # a recovery that must not wait for the end of quiet hours
    skip_channel: bool = False  # a channel's alerts never go through that channel
    extra: dict[str, Any] = field(default_factory=dict)


FAMILIES: dict[str, Family] = {}
_types: dict[str, frozenset[str]] = {"alert": frozenset(), "later": frozenset()}  # read on every publish


def register(family: Family) -> Family:
    FAMILIES[family.prefix] = family
    known = FAMILIES.values()
    _types["alert"] = frozenset(t for f in known for t in (f.alert, f.reminder, f.recovered))
    _types["later"] = frozenset(t for f in known for t in (f.reminder, *(() if f.urgent_recovery else (f.recovered,))))
    return family


def split(subject: str) -> tuple[Family, str]:
    prefix, _, ident = subject.partition(":")
    return FAMILIES[prefix], ident


def alert_types() -> frozenset[str]:
    """Every alert, reminder and recovery type: the deliveries channels_app.alert_notices holds and groups."""
    return frozenset(t for f in FAMILIES.values() for t in (f.alert, f.reminder, f.recovered))


def reminder_types() -> frozenset[str]:
    """Notices that are not urgent: they wait for the end of a recipient's quiet hours."""
    return frozenset(t for f in FAMILIES.values() for t in (f.reminder, *(() if f.urgent_recovery else (f.recovered,))))


def threshold(watch: Watch) -> int:
    family, _ = split(watch.subject)
    return watch.alert_after or family.alert_after()


def failed(
    subject: str,
    error: str,
    *,
    name: str = "",
    now: datetime | None = None,
    count: int | None = None,
    extra: dict[str, Any] | None = None,
    sustain: timedelta | None = None,
    at_once: bool = False,
) -> Watch:
    """One more consecutive failure of `subject` (or `count` of them, when the object keeps its own count).
    Publishes the alert when the policy's N is reached (`at_once`: now, as a channel the provider says is down)
    and, with `sustain`, the failure has lasted that long. Returns the Watch as it is now."""
    now = now or timezone.now()
    with transaction.atomic():
        watch = _locked(subject, name)
        watch.failures = count if count is not None else watch.failures + 1
        watch.last_error = error[:5000]
        if name:
            watch.name = name[:300]
        if watch.state == Watch.State.OK:
            watch.state, watch.failing_since = Watch.State.FAILING, now
        lasted = sustain is None or watch.failing_since is None or now - watch.failing_since >= sustain
        if watch.state == Watch.State.FAILING and (at_once or watch.failures >= threshold(watch)) and lasted:
            watch.state, watch.alerted_at, watch.reminders_sent = Watch.State.ALERTING, now, 0
            watch.acknowledged_at, watch.acknowledged_by = None, ""
            watch.next_reminder_at = now + watch.remind_every if watch.remind_every else None
            _announce(watch, "alert", now, extra)
        watch.save()
    return watch


def succeeded(subject: str, *, now: datetime | None = None, extra: dict[str, Any] | None = None) -> bool:
    """`subject` works again: its failures are forgotten and, after an alert, the recovery is published.
    Returns whether it had been failing. One indexed look when it was not (the usual case)."""
    return bool(succeeded_any([subject], now=now, extra=extra))


def succeeded_any(
    subjects: list[str], *, now: datetime | None = None, extra: dict[str, Any] | None = None
) -> list[str]:
    """succeeded() for several subjects of one object (a job and its dead man's switch), with one look for
    all of them. Returns the subjects that had been failing."""
    failing = list(
        Watch.objects.filter(subject__in=subjects).exclude(state=Watch.State.OK).values_list("subject", flat=True)
    )
    return [subject for subject in failing if _recover(subject, now or timezone.now(), extra)]


def _recover(subject: str, now: datetime, extra: dict[str, Any] | None) -> bool:
    with transaction.atomic():
        watch = Watch.objects.select_for_update().filter(subject=subject).first()
        if watch is None or watch.state == Watch.State.OK:
            return False
        if watch.state == Watch.State.ALERTING and watch.notify_recovery:
            _announce(watch, "recovered", now, extra)
        watch.state, watch.failures, watch.failing_since, watch.alerted_at = Watch.State.OK, 0, None, None
        watch.next_reminder_at, watch.acknowledged_at, watch.acknowledged_by = None, None, ""
        watch.reminders_sent = 0
        watch.save()
    return True


def acknowledge(watch: Watch, who: str) -> None:
    """Someone is on it: no more reminders for this episode (a new failure after a recovery alerts again)."""
    Watch.objects.filter(pk=watch.pk).update(
        acknowledged_at=timezone.now(), acknowledged_by=who[:150], next_reminder_at=None
    )
    audit.record(watch, "acknowledge")


def silence(watch: Watch, until: datetime | None, who: str) -> None:
    """Nothing is sent about the object until `until` (None: unsilence). Its state still moves: an alert that
    opens meanwhile is shown on the pages, and reminders resume after the silence while it lasts."""
    Watch.objects.filter(pk=watch.pk).update(silenced_until=until, silenced_by=who[:150] if until else "")
    audit.record(watch, "silence" if until else "unsilence", {"silenced_until": [watch.silenced_until, until]})


def watch_for(subject: str, name: str = "") -> Watch:
    """The subject's Watch, created (state ok) when it has none: where its policy is set."""
    try:
        with transaction.atomic():
            return Watch.objects.get_or_create(subject=subject, defaults={"name": name[:300]})[0]
    except IntegrityError:  # created by someone else at the same moment
        return Watch.objects.get(subject=subject)


def forget(*subjects: str) -> None:
    """The object is gone: so are its policy and its open alert (the events sent stay in the history)."""
    Watch.objects.filter(subject__in=subjects).delete()


def states(subjects: list[str]) -> dict[str, Watch]:
    return {watch.subject: watch for watch in Watch.objects.filter(subject__in=subjects)}


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Reminders that are due and dead man's switches that ran out (the leader's periodic)."""
    now = now or timezone.now()
    return {"reminders": _remind(now), "late": _deadlines(now)}


def _remind(now: datetime) -> int:
    sent = 0
    due = Watch.objects.filter(state=Watch.State.ALERTING, next_reminder_at__lte=now, acknowledged_at__isnull=True)
    for pk in list(due.values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            watch = Watch.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if watch is None or watch.state != Watch.State.ALERTING or not watch.next_reminder_at:
                continue
            if watch.next_reminder_at > now or watch.acknowledged_at:
                continue
            if not watch.remind_every:
                watch.next_reminder_at = None
            else:
                watch.reminders_sent += 1
                if not _silenced(watch, now):
                    _announce(watch, "reminder", now, None)
                    sent += 1
                # The next one a period after this one was due; after a long stop, a period from now.
                step = watch.next_reminder_at + watch.remind_every
                watch.next_reminder_at = step if step > now else now + watch.remind_every
            watch.save(update_fields=["reminders_sent", "next_reminder_at", "updated_at"])
    return sent


def _deadlines(now: datetime) -> int:
    """Each job whose policy says it must succeed every P: no success (by any run, for any reason) for P + grace
    since its last success (or since the policy was set) is an alert on `deadline:<job>`."""
    from scheduler.models import Job, Run

    late = 0
    policies = Watch.objects.filter(subject__startswith="job:", expect_every__isnull=False)
    for policy in policies:
        job_id = policy.subject.partition(":")[2]
        if not job_id.isdigit():
            continue
        job = Job.objects.filter(pk=int(job_id)).only("pk", "name", "created_at").first()
        if job is None:
            continue
        last = Run.objects.filter(job_id=job.pk, status=Run.Status.SUCCEEDED).aggregate(at=Max("finished_at"))["at"]
        # Counted from the last success, or from when the switch was set (a job silent for months before it had
        # one is not late at once).
        since = max(at for at in (last, job.created_at, policy.policy_set_at) if at is not None)
        assert policy.expect_every is not None
        if now <= since + policy.expect_every + (policy.expect_grace or timedelta(0)):
            continue
        deadline = f"deadline:{job.pk}"
        if Watch.objects.filter(subject=deadline, state=Watch.State.ALERTING).exists():
            continue
        words = {"since": timezone.localtime(last).strftime("%Y-%m-%d %H:%M") if last else "—"}
        words["every"] = str(policy.expect_every)
        failed(deadline, NO_SUCCESS % words, name=job.name, now=now, count=1, extra={"job": job.pk})
        late += 1
    return late


def _silenced(watch: Watch, now: datetime) -> bool:
    return bool(watch.silenced_until and watch.silenced_until > now)


def _locked(subject: str, name: str) -> Watch:
    watch = Watch.objects.select_for_update().filter(subject=subject).first()
    if watch is not None:
        return watch
    try:
        with transaction.atomic():
            Watch.objects.create(subject=subject, name=name[:300])
    except IntegrityError:  # created by another process at the same moment: lock that one
        pass
    return Watch.objects.select_for_update().get(subject=subject)


def _announce(watch: Watch, what: str, now: datetime, extra: dict[str, Any] | None) -> None:
    """Publish the alert, reminder or recovery of the watch's current episode, keyed by it (published once)."""
    from channels_app.events import publish

    if _silenced(watch, now):
        log.info("alert silenced", extra={"subject": watch.subject, "what": what})
        return
    family, ident = split(watch.subject)
    event_type = {"alert": family.alert, "reminder": family.reminder, "recovered": family.recovered}[what]
    since = watch.failing_since or now
    payload: dict[str, Any] = {
        "type": event_type,
        "subject": watch.subject,
        family.name_key: watch.name,
        "name": watch.name,
        "error": watch.last_error[:1000] if what != "recovered" else "",
        "failures": watch.failures,
        "since": since.isoformat(),
        "link": family.link(ident) or "",
    }
    if family.object_key and ident.isdigit():
        payload[family.object_key] = int(ident)
    if what == "reminder":
        payload["reminder"] = watch.reminders_sent
        payload["minutes"] = int((now - since).total_seconds() // 60)
    payload.update(extra or {})
    key = f"{what}:{watch.subject}:{since.isoformat()}"
    if what == "reminder":
        key += f":{watch.reminders_sent}"
    skip = int(ident) if family.skip_channel and ident.isdigit() else None
    publish(family.topic(ident), payload, key=key, also=family.also, skip_channel=skip)
    log.warning("alert %s", what, extra={"subject": watch.subject, "type": event_type})


def _link(name: str, *args: Any) -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return absolute(reverse(name, args=args))
    except NoReverseMatch:
        return None


# The families this app knows: its own channels, the scheduler's jobs and the system watchdog. The scrapers
# register sources and people (scrapers.alerts).
register(
    Family(
        "job",
        "job.failed",
        "job.still_failing",
        "job.recovered",
        topic=lambda ident: f"job:{ident}:failed",
        name_key="job_name",
        object_key="job",
        link=lambda ident: _link("scheduler:job", int(ident)),
    )
)
register(
    Family(
        "deadline",
        "job.late",
        "job.still_late",
        "job.on_time",
        topic=lambda ident: f"job:{ident}:failed",
        name_key="job_name",
        object_key="job",
        link=lambda ident: _link("scheduler:job", int(ident)),
    )
)
register(
    Family(
        "channel",
        "channel.down",
        "channel.still_down",
        "channel.recovered",
        topic=lambda ident: f"channel:{ident}",
        alert_after=lambda: 3,
        also=("channels:down",),
        name_key="channel_name",
        object_key="channel",
        link=lambda ident: _link("channels_app:channel", int(ident)),
        skip_channel=True,
    )
)
register(
    Family(
        "system",
        "system.alert",
        "system.still_alerting",
        "system.recovered",
        topic=lambda ident: "system",
        link=lambda ident: _link("scheduler:queue"),
        urgent_recovery=True,
    )
)
