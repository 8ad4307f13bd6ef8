"""The system watchdog: Vigia watching itself, from every live process, alerting on the topic `system`.

Conditions (each a `system:<condition>` alert subject, channels_app.alerts' "system" family), read from the
figures /healthz reads (scheduler.health), so the two never disagree:

- `system:no_leader` "No scheduler leader": the scheduler lease was not renewed within
  VIGIA_HEALTH_MAX_HEARTBEAT_AGE (or no scheduler ever ran).
- `system:dispatch_overdue` "Dispatch overdue": an enabled job overdue by more than VIGIA_HEALTH_MAX_OVERDUE.
  Not judged while there is no leader (that alert says it already).
- `system:no_cluster:<queue>` "No worker cluster for the <queue> queue": tasks wait on a queue that no live
  cluster serves.
- `system:queue_age` "Tasks waiting too long": on a queue a live cluster serves, the oldest waiting task is
  older than VIGIA_WATCHDOG_QUEUE_AGE_SECONDS (workers exist but do not keep up).
- `system:database` "Database unreachable": see below.
- Registered by other apps (`register_condition`): scrapers.watchdog adds DJEN and source hosts failing for
  every request.

A condition true at a tick counts a failure (alerts.failed with `sustain`); the alert is published once it has
lasted VIGIA_WATCHDOG_AFTER_SECONDS since the first tick that saw it. A condition false closes it
(alerts.succeeded: the recovery, once). `tick()` runs in every live process (scheduler.everywhere) at most every
VIGIA_WATCHDOG_INTERVAL_SECONDS: each scheduler replica, each worker cluster, each web process. They may all
tick at once: the Watch row lock in alerts.failed/succeeded and the episode's event key make one alert and one
recovery per episode, whoever sends it. A tick is a handful of indexed queries and never raises.

While there is no scheduler leader, a tick also runs the leader's delivery sweep and alert reminders
(sending.requeue_due, alerts.sweep; both safe to run anywhere), so held alert notices still go out when the
scheduler is the part that died.

The database: a process that cannot reach it cannot publish (the channels live there). So each process
remembers when its own probe (`SELECT 1`) began to fail; once that has lasted VIGIA_WATCHDOG_AFTER_SECONDS and
VIGIA_WATCHDOG_WEBHOOK_URL is set, it POSTs a small JSON alert there directly (scheduler.shared.outbound, a
5 s deadline), until one POST is accepted: one per outage per process, with an Idempotency-Key naming the
process and the outage's start (several live processes each send theirs). When the database answers again
after such an outage, `system:database` is raised through the alerts (the alert, with the outage's length in
its error, then the recovery) so the subscribers of `system` learn it happened, once for all processes. If
every process is down, nothing here can tell anyone: point an external monitor at /healthz (README).
"""

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from channels_app import alerts
from channels_app.models import Watch
from scheduler import everywhere, health, lease
from scheduler.shared import outbound, recorded

log = logging.getLogger("vigia.watchdog")

NO_LEADER = "system:no_leader"
DISPATCH = "system:dispatch_overdue"
NO_CLUSTER = "system:no_cluster:"  # + the queue's name
QUEUE_AGE = "system:queue_age"
DATABASE = "system:database"
WEBHOOK_TIMEOUT = 5.0

# Alert names (the title of the notice) and errors: stored in English, shown translated (scheduler.shared.recorded).
NO_LEADER_NAME = recorded.message(gettext_noop("No scheduler leader"))
NO_LEADER_NEVER = recorded.message(gettext_noop("No scheduler has ever held the leader lease."))
NO_LEADER_ERROR = recorded.message(
    gettext_noop("The scheduler leader last renewed its lease %(seconds)s s ago (the limit is %(limit)s s).")
)
DISPATCH_NAME = recorded.message(gettext_noop("Dispatch overdue"))
DISPATCH_ERROR = recorded.message(
    gettext_noop("Job %(job)s is %(seconds)s s overdue (the limit is %(limit)s s): dispatch does not advance.")
)
NO_CLUSTER_NAME = recorded.message(gettext_noop("No worker cluster for the %(queue)s queue"))
NO_CLUSTER_ERROR = recorded.message(
    gettext_noop("%(waiting)s task(s) wait on the %(queue)s queue and no live worker cluster serves it.")
)
QUEUE_AGE_NAME = recorded.message(gettext_noop("Tasks waiting too long"))
QUEUE_AGE_ERROR = recorded.message(
    gettext_noop("The oldest task on the %(queue)s queue has waited %(seconds)s s (the limit is %(limit)s s).")
)
DATABASE_NAME = recorded.message(gettext_noop("Database unreachable"))
DATABASE_ERROR = recorded.message(
    gettext_noop("%(process)s could not reach the database for %(seconds)s s, from %(since)s (%(error)s).")
)


@dataclass(frozen=True)
class Finding:
    subject: str  # system:<condition>
    name: str  # the alert's title, a stable English sentence
    error: str  # what is wrong, in English ("" when it is not)
    failing: bool


# A condition: now -> findings. With a prefix, its subjects vary (`system:host:<host>`) and it lists the failing
# ones only; every open alert under the prefix it does not list is clear.
Condition = Callable[[datetime], Iterable[Finding]]
_conditions: dict[str, tuple[Condition, str]] = {}


def register_condition(name: str, condition: Condition, prefix: str = "") -> None:
    """Add a condition the watchdog judges at every tick (the apps above this one: scrapers.watchdog)."""
    _conditions[name] = (condition, prefix)


def _whole(seconds: float) -> int:
    return int(max(0.0, seconds))


def _engine(now: datetime) -> list[Finding]:
    """The scheduler leader, dispatch, the clusters and the queues (scheduler.health)."""
    found = []
    leader = health.check_scheduler(now)
    if leader["heartbeat_age_s"] is None:
        error = NO_LEADER_NEVER
    else:
        limit = settings.VIGIA_HEALTH_MAX_HEARTBEAT_AGE
        error = NO_LEADER_ERROR % {"seconds": _whole(leader["heartbeat_age_s"]), "limit": _whole(limit)}
    found.append(Finding(NO_LEADER, NO_LEADER_NAME, "" if leader["ok"] else error, not leader["ok"]))
    if leader["ok"]:  # without a leader nothing is dispatched: that alert says it already
        late = health.check_dispatch(now)
        words = {
            "job": late["most_overdue_job"],
            "seconds": _whole(late["most_overdue_s"] or 0),
            "limit": _whole(settings.VIGIA_HEALTH_MAX_OVERDUE),
        }
        found.append(Finding(DISPATCH, DISPATCH_NAME, "" if late["ok"] else DISPATCH_ERROR % words, not late["ok"]))
    oldest: tuple[float, str] = (0.0, "")
    for queue in health.queues(now):
        uncovered = queue.waiting > 0 and not queue.served
        words = {"queue": queue.name, "waiting": queue.waiting}
        name = NO_CLUSTER_NAME % words
        found.append(Finding(NO_CLUSTER + queue.name, name, NO_CLUSTER_ERROR % words if uncovered else "", uncovered))
        if queue.served and queue.oldest_seconds(now) > oldest[0]:
            oldest = (queue.oldest_seconds(now), queue.name)
    limit = settings.VIGIA_WATCHDOG_QUEUE_AGE_SECONDS
    slow = oldest[0] > limit
    words = {"queue": oldest[1], "seconds": _whole(oldest[0]), "limit": _whole(limit)}
    found.append(Finding(QUEUE_AGE, QUEUE_AGE_NAME, QUEUE_AGE_ERROR % words if slow else "", slow))
    return found


register_condition("engine", _engine, prefix=NO_CLUSTER)  # a queue no longer named: its alert closes


def _open_subjects() -> dict[str, str]:
    """{subject: name} of the system alerts failing or alerting now (one indexed look)."""
    rows = Watch.objects.filter(subject__startswith="system:").exclude(state=Watch.State.OK)
    return dict(rows.values_list("subject", "name"))


def conditions(now: datetime, open_subjects: dict[str, str] | None = None) -> list[Finding]:
    """Every condition's findings at `now`. A condition that fails to be judged (its query raised) is left
    out, so its alert neither opens nor closes on a guess."""
    opened = _open_subjects() if open_subjects is None else open_subjects
    found: list[Finding] = []
    for name, (condition, prefix) in list(_conditions.items()):
        try:
            mine = list(condition(now))
        except (OperationalError, InterfaceError):
            raise  # the database went away: the tick's concern
        except Exception:  # noqa: BLE001 - one broken condition must not silence the others
            log.exception("watchdog condition failed", extra={"condition": name})
            continue
        found += mine
        if prefix:
            listed = {finding.subject for finding in mine}
            found += [
                Finding(subject, title, "", False)
                for subject, title in opened.items()
                if subject.startswith(prefix) and subject not in listed
            ]
    return found


def tick(now: datetime | None = None) -> dict[str, int]:
    """Judge every condition once and move the alerts (see the module's text). Never raises; returns counts
    ({"failing": n, "recovered": m}) for the logs and the tests."""
    done = {"failing": 0, "recovered": 0}
    if not settings.VIGIA_WATCHDOG_ENABLED:
        return done
    try:
        now = now or timezone.now()
        if not _reachable(now):
            return done
        _after_outage(now)
        opened = _open_subjects()
        sustain = timedelta(seconds=settings.VIGIA_WATCHDOG_AFTER_SECONDS)
        no_leader = False
        for finding in conditions(now, opened):
            if finding.failing:
                alerts.failed(finding.subject, finding.error, name=finding.name, now=now, sustain=sustain)
                done["failing"] += 1
                no_leader |= finding.subject == NO_LEADER
            elif finding.subject in opened and alerts.succeeded(finding.subject, now=now):
                done["recovered"] += 1
        if no_leader:
            _leader_chores()
    except (OperationalError, InterfaceError):
        _lost_connection()
        log.warning("watchdog: a database error during the tick", exc_info=True)
    except Exception:  # noqa: BLE001 - the watchdog never takes its process down
        log.exception("watchdog tick failed")
    return done


def _leader_chores() -> None:
    """The leader's delivery sweep and alert reminders, run here while no leader runs them (each is safe to
    run in several processes at once), so that held alert notices still go out."""
    from channels_app import sending

    for chore in (sending.requeue_due, alerts.sweep):
        try:
            chore()
        except Exception:  # noqa: BLE001 - reported, the tick goes on
            log.exception("watchdog: leader chore failed", extra={"chore": chore.__name__})


# --- the database, as this process sees it -----------------------------------------------------------------


@dataclass
class Outage:
    since: datetime | None = None  # when this process's probe first failed
    error: str = ""
    told: bool = False  # the webhook accepted this outage's POST


_outage = Outage()
_outage_lock = threading.Lock()


def outage() -> Outage:
    return _outage


def _probe() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _lost_connection() -> None:
    if not connection.in_atomic_block:  # a caller's transaction (a test's) is not ours to end
        connection.close()


def _reachable(now: datetime) -> bool:
    try:
        _probe()
        return True
    except (OperationalError, InterfaceError) as exc:
        _lost_connection()
        with _outage_lock:
            if _outage.since is None:
                _outage.since, _outage.error, _outage.told = now, type(exc).__name__, False
                log.error("watchdog: the database is unreachable", extra={"error": _outage.error})
            due = now - _outage.since >= timedelta(seconds=settings.VIGIA_WATCHDOG_AFTER_SECONDS)
            tell = due and not _outage.told and bool(settings.VIGIA_WATCHDOG_WEBHOOK_URL)
        if tell:
            _outage.told = _post_webhook(now)
        return False


def _outage_words(now: datetime, since: datetime) -> dict[str, Any]:
    return {
        "process": lease.identity(),
        "seconds": _whole((now - since).total_seconds()),
        "since": since.isoformat(timespec="seconds"),
        "error": _outage.error,
    }


def _post_webhook(now: datetime) -> bool:
    """POST the outage to VIGIA_WATCHDOG_WEBHOOK_URL; True when it was accepted (2xx)."""
    words = _outage_words(now, _outage.since or now)
    body = {
        "type": "system.alert",
        "subject": DATABASE,
        "name": DATABASE_NAME,
        "error": DATABASE_ERROR % words,
        "since": words["since"],
        "process": words["process"],
    }
    key = f"vigia:{DATABASE}:{words['process']}:{words['since']}"
    try:
        with outbound.deadline(WEBHOOK_TIMEOUT):
            response = outbound.client().post(
                settings.VIGIA_WATCHDOG_WEBHOOK_URL,
                json=body,
                headers={"Idempotency-Key": key},
                timeout=WEBHOOK_TIMEOUT,
            )
        accepted = 200 <= response.status_code < 300
        log.warning("watchdog: database outage sent to the webhook", extra={"status": response.status_code})
        return accepted
    except Exception:  # noqa: BLE001 - the webhook is a last resort; tried again at the next tick
        log.warning("watchdog: could not reach the webhook", exc_info=True)
        return False


def _after_outage(now: datetime) -> None:
    """The database answers again: after an outage that lasted VIGIA_WATCHDOG_AFTER_SECONDS, publish the
    `system:database` alert and its recovery, unless another process already did for this outage (the Watch
    changed after this process's outage began)."""
    with _outage_lock:
        since, _outage.since = _outage.since, None
    if since is None:
        return
    if now - since < timedelta(seconds=settings.VIGIA_WATCHDOG_AFTER_SECONDS):
        log.warning("watchdog: the database is back", extra={"seconds": (now - since).total_seconds()})
        return
    try:
        _tell_outage(since, now)
    except Exception:
        with _outage_lock:  # told at the next tick instead
            _outage.since = _outage.since or since
        raise


def _tell_outage(since: datetime, now: datetime) -> None:
    error = DATABASE_ERROR % _outage_words(now, since)
    created = _created(DATABASE, DATABASE_NAME)  # a row to lock, so only one process tells this outage
    with transaction.atomic():
        watch = Watch.objects.select_for_update().get(subject=DATABASE)
        if not created and watch.state == Watch.State.OK and watch.updated_at >= since:
            return  # told by another process since this outage began (its recovery saved the row)
        alerts.failed(DATABASE, error, name=DATABASE_NAME, now=now, at_once=True)
        alerts.succeeded(DATABASE, now=now)
    log.warning("watchdog: database outage told", extra={"seconds": (now - since).total_seconds()})


def _created(subject: str, name: str) -> bool:
    """Make the subject's Watch row if it has none; True when this call made it."""
    try:
        with transaction.atomic():
            return Watch.objects.get_or_create(subject=subject, defaults={"name": name})[1]
    except IntegrityError:  # made by another process at the same moment
        return False


def register() -> None:
    """Tick in every live process (channels_app.apps)."""
    everywhere.register("watchdog", lambda: settings.VIGIA_WATCHDOG_INTERVAL_SECONDS, tick)
