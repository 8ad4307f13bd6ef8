"""The system watchdog (channels_app.watchdog): each condition alerts on `system` once it has lasted
VIGIA_WATCHDOG_AFTER_SECONDS, recovers once; several processes ticking at once give one alert; the database
outage is told by webhook while it lasts and through the alerts once it is over; and, on real processes, the
worker cluster tells that the scheduler died."""

import signal
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from channels_app import watchdog
from channels_app.models import Channel, Delivery, Event, Watch
from scheduler import djq, everywhere, lease, liveness
from scheduler.models import Lease
from scrapers.models import MonitoredPerson, Source
from tests.channels_app.support import process_env, recipient
from tests.loopback.server import LoopbackServer
from tests.support.factories import lead, make_job
from tests.support.processes import wait_for

AFTER = 120  # the default VIGIA_WATCHDOG_AFTER_SECONDS


def alerts_of(subject, kind="system.alert"):
    return list(Event.objects.filter(topic="system", type=kind, payload__subject=subject))


def state(subject):
    watch = Watch.objects.filter(subject=subject).first()
    return watch.state if watch else None


def sustained(subject, start, step=30):
    """Tick from `start` until just before the sustain time: failing, not alerted; then at it: one alert."""
    for seconds in range(0, AFTER, step):
        watchdog.tick(start + timedelta(seconds=seconds))
    watchdog.tick(start + timedelta(seconds=AFTER - 1))
    assert state(subject) == Watch.State.FAILING and alerts_of(subject) == []
    watchdog.tick(start + timedelta(seconds=AFTER))
    watchdog.tick(start + timedelta(seconds=AFTER + 15))  # still failing: no second alert
    [alert] = alerts_of(subject)
    assert state(subject) == Watch.State.ALERTING
    return alert


def recovered_once(subject, now):
    watchdog.tick(now)
    watchdog.tick(now + timedelta(seconds=15))
    assert state(subject) == Watch.State.OK
    assert len(alerts_of(subject, "system.recovered")) == 1


@pytest.fixture
def outbox():
    return Channel.objects.create(name="avisos", kind="outbox")


@pytest.fixture(autouse=True)
def _fresh_outage():
    watchdog._outage.since, watchdog._outage.told = None, False
    yield
    watchdog._outage.since, watchdog._outage.told = None, False


# --- each condition -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_scheduler_leader_alerts_after_the_sustain_time_and_recovers_once(outbox):
    recipient(outbox, "ops", topics=("system",))
    start = timezone.now()
    alert = sustained(watchdog.NO_LEADER, start)
    assert alert.payload["name"] == "No scheduler leader"
    assert alert.payload["error"] == "No scheduler has ever held the leader lease."
    assert Delivery.objects.filter(event=alert).count() == 1
    assert not alerts_of(watchdog.DISPATCH)  # not judged without a leader

    lead()
    recovered_once(watchdog.NO_LEADER, timezone.now())


@pytest.mark.django_db
def test_a_stale_leader_lease_is_no_leader(settings):
    lead()
    Lease.objects.update(renewed_at=timezone.now() - timedelta(seconds=45))
    assert [f.failing for f in watchdog.conditions(timezone.now()) if f.subject == watchdog.NO_LEADER] == [True]
    settings.VIGIA_HEALTH_MAX_HEARTBEAT_AGE = 60
    assert [f.failing for f in watchdog.conditions(timezone.now()) if f.subject == watchdog.NO_LEADER] == [False]


@pytest.mark.django_db
def test_dispatch_overdue_alerts_with_a_leader_that_does_not_dispatch(settings):
    settings.VIGIA_HEALTH_MAX_HEARTBEAT_AGE = 10_000  # the injected clock runs ahead of the lease's
    lead()
    job = make_job(next_run_at=timezone.now() - timedelta(seconds=90))
    alert = sustained(watchdog.DISPATCH, timezone.now())
    assert alert.payload["name"] == "Dispatch overdue"
    assert f"Job {job.pk} is" in alert.payload["error"]

    job.delete()
    recovered_once(watchdog.DISPATCH, timezone.now())


@pytest.mark.django_db
def test_no_live_cluster_for_a_queue_with_work(settings):
    settings.VIGIA_STALE_AFTER = 600  # a cluster's beat keeps it alive across the injected times
    djq.bulk_enqueue([djq.make_task("tests.nothing", [], "high", 10)])
    now = timezone.now()
    liveness.beat("c1", "host:1", "default,low", now=now)  # alive, but not serving `high`
    subject = watchdog.NO_CLUSTER + "high"
    for seconds in (0, 60, AFTER - 1):
        liveness.beat("c1", "host:1", "default,low", now=now + timedelta(seconds=seconds))
        watchdog.tick(now + timedelta(seconds=seconds))
    assert state(subject) == Watch.State.FAILING and not alerts_of(subject)
    watchdog.tick(now + timedelta(seconds=AFTER))
    [alert] = alerts_of(subject)
    assert alert.payload["name"] == "No worker cluster for the high queue"
    assert "1 task(s) wait on the high queue" in alert.payload["error"]
    assert state(watchdog.NO_CLUSTER + "default") is None  # nothing waits there

    later = now + timedelta(seconds=AFTER + 30)
    liveness.beat("c2", "host:2", "high", now=later)
    recovered_once(subject, later)


@pytest.mark.django_db
def test_the_oldest_waiting_task_older_than_the_limit(settings):
    settings.VIGIA_WATCHDOG_QUEUE_AGE_SECONDS = 300
    settings.VIGIA_STALE_AFTER = 600
    now = timezone.now()
    liveness.beat("c1", "host:1", "high,default,low", now=now)
    djq.bulk_enqueue([djq.make_task("tests.nothing", [], "default", 10, not_before=now - timedelta(seconds=200))])
    watchdog.tick(now)  # 200 s: under the limit
    assert state(watchdog.QUEUE_AGE) is None
    start = now + timedelta(seconds=101)  # 301 s
    for seconds in (0, 60, AFTER):
        liveness.beat("c1", "host:1", "high,default,low", now=start + timedelta(seconds=seconds))
        watchdog.tick(start + timedelta(seconds=seconds))
    [alert] = alerts_of(watchdog.QUEUE_AGE)
    assert alert.payload["name"] == "Tasks waiting too long"
    assert "on the default queue has waited 421 s" in alert.payload["error"]

    djq.OrmQ.objects.all().delete()
    liveness.beat("c1", "host:1", "high,default,low", now=start + timedelta(seconds=AFTER + 10))
    recovered_once(watchdog.QUEUE_AGE, start + timedelta(seconds=AFTER + 10))


@pytest.mark.django_db
def test_djen_failing_for_every_person_check():
    from scrapers import watchdog as scrapers_watchdog

    now = timezone.now()
    people = [MonitoredPerson.objects.create(name=f"Pessoa {n}") for n in range(3)]
    for person in people:
        MonitoredPerson.objects.filter(pk=person.pk).update(
            last_checked_at=now - timedelta(minutes=2), last_error="DJEN answered HTTP 503"
        )
    alert = sustained(scrapers_watchdog.DJEN, now)
    assert alert.payload["name"] == "DJEN failing for every request"
    assert "None of the 3 person checks" in alert.payload["error"] and "HTTP 503" in alert.payload["error"]

    later = now + timedelta(seconds=AFTER + 30)
    MonitoredPerson.objects.filter(pk=people[0].pk).update(last_checked_at=later, last_success_at=later, last_error="")
    recovered_once(scrapers_watchdog.DJEN, later)


@pytest.mark.django_db
def test_one_failing_person_is_not_djen_failing():
    from scrapers import watchdog as scrapers_watchdog

    now = timezone.now()
    person = MonitoredPerson.objects.create(name="Pessoa só")
    MonitoredPerson.objects.filter(pk=person.pk).update(last_checked_at=now, last_error="DJEN answered HTTP 503")
    assert [f.failing for f in watchdog.conditions(now) if f.subject == scrapers_watchdog.DJEN] == [False]


@pytest.mark.django_db
def test_a_source_host_failing_for_every_request():
    from scrapers import watchdog as scrapers_watchdog

    now = timezone.now()
    for n in range(2):
        Source.objects.create(
            name=f"Agenda {n}",
            kind="html",
            url=f"https://Prefeitura.example.org/{n}",
            last_checked_at=now - timedelta(minutes=1),
            last_error="HTTP 502",
            consecutive_failures=2,
        )
    Source.objects.create(name="Other", kind="html", url="https://ok.example.org/", last_checked_at=now)
    subject = scrapers_watchdog.HOST + "prefeitura.example.org"
    alert = sustained(subject, now)
    assert alert.payload["name"] == "Source host failing for every request: prefeitura.example.org"
    assert not Watch.objects.filter(subject=scrapers_watchdog.HOST + "ok.example.org").exists()

    # Its sources are no longer checked (deleted, paused): the host's alert closes.
    Source.objects.filter(name__startswith="Agenda").delete()
    recovered_once(subject, now + timedelta(seconds=AFTER + 30))


# --- the database -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_unreachable_is_posted_once_then_told_through_the_alerts(monkeypatch, settings, outbox):
    recipient(outbox, "ops", topics=("system",))
    with LoopbackServer() as hook:
        hook.respond("/hook", 500)  # the first POST is refused: tried again at the next tick
        hook.respond("/hook", 200)
        settings.VIGIA_WATCHDOG_WEBHOOK_URL = hook.url + "/hook"
        real_probe = watchdog._probe

        def down():
            raise OperationalError("connection refused")

        monkeypatch.setattr(watchdog, "_probe", down)
        start = timezone.now() - timedelta(seconds=300)
        for seconds in (0, 30, AFTER - 1):
            watchdog.tick(start + timedelta(seconds=seconds))
        assert hook.requests == []  # not sustained yet
        for seconds in (AFTER, AFTER + 15, AFTER + 30, AFTER + 45):
            watchdog.tick(start + timedelta(seconds=seconds))
        assert [r.path for r in hook.requests] == ["/hook", "/hook"]  # refused, then accepted: no more
        body = hook.requests[1].json()
        assert body["subject"] == "system:database" and body["name"] == "Database unreachable"
        assert body["since"] == start.isoformat(timespec="seconds")
        assert hook.requests[0].header("Idempotency-Key") == hook.requests[1].header("Idempotency-Key")
        assert start.isoformat(timespec="seconds") in hook.requests[1].header("Idempotency-Key")

        monkeypatch.setattr(watchdog, "_probe", real_probe)
        watchdog.tick()  # back: the alert and its recovery, at once
    [alert] = alerts_of(watchdog.DATABASE)
    assert alert.payload["name"] == "Database unreachable"
    assert "could not reach the database for 3" in alert.payload["error"]  # ~300 s
    assert len(alerts_of(watchdog.DATABASE, "system.recovered")) == 1
    assert Delivery.objects.filter(recipient__address="ops").count() == 2

    # Another process saw the same outage: it finds it told already.
    watchdog._outage.since = start + timedelta(seconds=10)
    watchdog.tick()
    assert len(alerts_of(watchdog.DATABASE)) == 1
    assert state(watchdog.DATABASE) == Watch.State.OK


@pytest.mark.django_db
def test_a_short_outage_is_not_told(monkeypatch):
    def down():
        raise OperationalError("connection refused")

    real_probe = watchdog._probe
    monkeypatch.setattr(watchdog, "_probe", down)
    start = timezone.now()
    watchdog.tick(start)
    monkeypatch.setattr(watchdog, "_probe", real_probe)
    watchdog.tick(start + timedelta(seconds=20))
    assert not alerts_of(watchdog.DATABASE) and watchdog.outage().since is None


# --- robustness -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_tick_never_raises_and_a_broken_condition_leaves_the_others(monkeypatch):
    def broken(now):
        raise RuntimeError("bug")

    monkeypatch.setitem(watchdog._conditions, "broken", (broken, ""))
    findings = watchdog.conditions(timezone.now())
    assert watchdog.NO_LEADER in {f.subject for f in findings}
    monkeypatch.setattr(watchdog.alerts, "failed", lambda *a, **k: 1 / 0)
    assert watchdog.tick() == {"failing": 0, "recovered": 0}


@pytest.mark.django_db
def test_disabled_does_nothing(settings):
    settings.VIGIA_WATCHDOG_ENABLED = False
    watchdog.tick()
    assert not Watch.objects.exists()


def test_the_hooks_every_process_runs_keep_their_interval_and_survive_errors(monkeypatch):
    calls = []
    monkeypatch.setattr(everywhere, "_hooks", {})
    everywhere.register("ok", 10, lambda: calls.append("ok"))
    everywhere.register("bad", 10, lambda: 1 / 0)
    everywhere.run_due(100.0)
    everywhere.run_due(105.0)
    everywhere.run_due(110.0)
    assert calls == ["ok", "ok"]
    assert everywhere.next_due() == 120.0


def test_the_watchdog_is_registered_to_run_everywhere():
    assert "watchdog" in {hook.name for hook in everywhere.hooks()}


# --- several processes at once ---------------------------------------------------------------------------------


def _in_threads(count, func):
    barrier = threading.Barrier(count)
    errors = []

    def run():
        try:
            barrier.wait()
            func()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors


@pytest.mark.django_db(transaction=True)
def test_processes_ticking_at_once_give_one_alert_and_one_recovery_per_recipient():
    outbox = Channel.objects.create(name="avisos", kind="outbox")
    ops = [recipient(outbox, name, topics=("system",)) for name in ("ops", "oncall")]
    start = timezone.now() - timedelta(seconds=AFTER + 5)
    watchdog.tick(start)  # the failure is first seen

    _in_threads(4, lambda: watchdog.tick(start + timedelta(seconds=AFTER)))
    [alert] = alerts_of(watchdog.NO_LEADER)
    assert sorted(Delivery.objects.filter(event=alert).values_list("recipient", flat=True)) == [r.pk for r in ops]

    lead()
    _in_threads(4, watchdog.tick)
    [back] = alerts_of(watchdog.NO_LEADER, "system.recovered")
    assert Delivery.objects.filter(event=back).count() == 2
    assert len(alerts_of(watchdog.NO_LEADER)) == 1


# --- real processes --------------------------------------------------------------------------------------------

FAST = {
    "VIGIA_WATCHDOG_ENABLED": 1,
    "VIGIA_WATCHDOG_AFTER_SECONDS": 2,
    "VIGIA_WATCHDOG_INTERVAL_SECONDS": 0.5,
    "VIGIA_HEALTH_MAX_HEARTBEAT_AGE": 3,
    "VIGIA_LEASE_TTL": 2,
    "VIGIA_ALERT_GROUP_SECONDS": 1,  # held, then released by the cluster's tick while no leader sweeps
}


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_three_clusters_tell_that_the_scheduler_died_once_and_that_it_is_back_once(processes):
    outbox = Channel.objects.create(name="avisos", kind="outbox")
    ops = recipient(outbox, "ops", topics=("system",))
    scheduler = processes.scheduler(**process_env(**FAST))

    def logs():
        return "".join(f"\n--- {p.name}\n{p.output()[-3000:]}" for p in processes.started)

    try:
        # The leader first: a cluster started alone would rightly see no leader (and alert after 2 s).
        wait_for(lambda: (current := lease.current()) and current.holder, 20, message="a leader")
        # Three clusters, each able to raise the alert: exactly one of them sends it.
        clusters = [processes.qcluster(f"qcluster-{n}", VIGIA_WORKERS=1, **process_env(**FAST)) for n in range(3)]
        alive = lambda: [found for found in liveness.clusters() if found.alive]  # noqa: E731
        wait_for(lambda: len(alive()) == 3, 30, message="the three clusters")
        assert not alerts_of(watchdog.NO_LEADER)

        scheduler.kill(signal.SIGKILL)
        scheduler.popen.wait(5)
        wait_for(lambda: alerts_of(watchdog.NO_LEADER), 25, message="the no-leader alert")
        sent = Delivery.objects.filter(recipient=ops, event__type="system.alert", status=Delivery.Status.SENT)
        wait_for(sent.exists, 15, message="its notice sent by the cluster")

        processes.scheduler("scheduler-again", **process_env(**FAST))
        wait_for(lambda: alerts_of(watchdog.NO_LEADER, "system.recovered"), 25, message="the recovery")
        back = Delivery.objects.filter(recipient=ops, event__type="system.recovered", status=Delivery.Status.SENT)
        wait_for(back.exists, 15, message="its notice sent")
    except AssertionError as exc:
        raise AssertionError(f"{exc}{logs()}") from None
    assert all(cluster.alive() for cluster in clusters)
    assert len(alerts_of(watchdog.NO_LEADER)) == 1
    assert len(alerts_of(watchdog.NO_LEADER, "system.recovered")) == 1
    assert Delivery.objects.filter(recipient=ops).count() == 2
