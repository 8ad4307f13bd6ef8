"""A monitoring cycle on real processes: a scheduler, a django-q2 cluster and the loopback DJEN."""

import os
import signal
import time

import pytest
from django.db.models import Count
from django.utils import timezone

from channels_app.models import Event
from scheduler import services
from scheduler.models import Job, Run
from scrapers import ratelimit
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import services as people
from tests.bench.cycle_bench import make_people
from tests.loopback.djen import FakeDjen
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
FAST_REAPING = {"VIGIA_STALE_AFTER": 4, "VIGIA_HEARTBEAT_SECONDS": 1}


@pytest.fixture
def djen():
    with FakeDjen(latency=0.05) as server:
        ratelimit.set_rate(ratelimit.host_key(server.url), 1000)  # the workers run with production settings
        yield server


def cycle_runs(persons, since):
    return Run.objects.filter(job__person__in=persons, scheduled_for__gte=since)


def names_asked(djen):
    return [query["nomeParte"] for query in djen.queries()]


def test_two_concurrent_check_people_runs_check_every_person_once(processes, djen):
    persons = make_people(120, djen)
    [fan_out_job] = people.ensure_cycle_jobs()[:1]
    Job.objects.filter(pk=fan_out_job.pk).update(enabled=False, next_run_at=None)  # only our two runs
    processes.scheduler(**FAST_REAPING)
    processes.qcluster(VIGIA_WORKERS=2, VIGIA_DJEN_URL=djen.url, **FAST_REAPING)
    since = timezone.now()
    MonitoredPerson.objects.update(next_check_at=since)

    fan_outs = [services.run_now(fan_out_job), services.run_now(fan_out_job)]  # two at once, two workers

    wait_for(lambda: all(Run.objects.get(pk=r.pk).status == "succeeded" for r in fan_outs), 60, message="fan-outs")
    queued = [Run.objects.get(pk=r.pk).result["queued"] for r in fan_outs]
    assert sum(queued) == 120  # between them, each person once
    wait_for(lambda: not cycle_runs(persons, since).exclude(status__in=Run.FINAL).exists(), 60, message="checks")
    per_person = cycle_runs(persons, since).values("job").annotate(n=Count("id"))
    assert sorted(row["n"] for row in per_person) == [1] * 120
    assert sorted(names_asked(djen)) == sorted(person.name for person in persons)  # DJEN asked once each
    assert MonitoredPerson.objects.filter(last_success_at__gte=since).count() == 120
    assert Publication.objects.count() == 120


def test_check_all_people_now_runs_on_a_worker_and_checks_each_person_once(processes, djen):
    persons = make_people(60, djen)
    processes.qcluster(VIGIA_WORKERS=2, VIGIA_DJEN_URL=djen.url, VIGIA_PEOPLE_BATCH="25", **FAST_REAPING)
    since = timezone.now()

    sync = people.start_force_sync()  # the dashboard's button
    assert people.start_force_sync().pk == sync.pk  # pressed twice: one run

    wait_for(lambda: Run.objects.get(pk=sync.pk).status == "succeeded", 60, message="the sync run")
    assert Run.objects.get(pk=sync.pk).result == {"queued": 60}
    wait_for(lambda: not cycle_runs(persons, since).exclude(status__in=Run.FINAL).exists(), 60, message="checks")
    per_person = cycle_runs(persons, since).values("job").annotate(n=Count("id"))
    assert sorted(row["n"] for row in per_person) == [1] * 60
    assert sorted(names_asked(djen)) == sorted(person.name for person in persons)  # DJEN asked once each


def test_a_cycle_survives_three_worker_kills_without_losing_or_doubling(processes, djen):
    persons = make_people(300, djen)
    processes.scheduler(**FAST_REAPING)
    processes.qcluster(VIGIA_WORKERS=2, VIGIA_DJEN_URL=djen.url, **FAST_REAPING)
    since = timezone.now()
    MonitoredPerson.objects.update(next_check_at=since)
    assert people.fan_out() == 300

    killed = []
    for _ in range(3):
        time.sleep(1.5)
        pid = wait_for(lambda: _running_worker(persons, since, killed), 30, interval=0.02, message="a busy worker")
        os.kill(pid, signal.SIGKILL)  # the worker only: the cluster starts another one
        killed.append(pid)

    wait_for(
        lambda: not cycle_runs(persons, since).exclude(status__in=Run.FINAL).exists(),
        120,
        message="every check to end",
    )
    assert MonitoredPerson.objects.filter(last_success_at__gte=since).count() == 300  # every person checked
    assert cycle_runs(persons, since).filter(pickups__gt=1).exists()  # a killed run was delivered again
    assert Publication.objects.count() == 300  # none stored twice
    assert PublicationMatch.objects.count() == 300
    events = Event.objects.filter(type="publication.new")
    assert events.count() == 300  # none published twice for the same publication and person
    assert sorted(events.values_list("payload__person", flat=True)) == sorted(p.pk for p in persons)


def _running_worker(persons, since, killed):
    for worker in cycle_runs(persons, since).filter(status="running").values_list("worker", flat=True):
        pid = int(worker.rsplit(":", 1)[1])
        if pid not in killed:
            return pid
    return None
