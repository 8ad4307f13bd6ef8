"""SIGKILL at random moments under a steady load: the scheduler leader, busy workers, once a whole cluster.

Two scheduler replicas and two django-q2 clusters serve jobs firing every one to five seconds for
VIGIA_FAULT_SECONDS (the issue's two minutes by default; 30 is enough to try a change). A killed
scheduler is replaced by a fresh replica, a killed worker by django-q2, the killed cluster by a new one.
Afterwards every occurrence of every job must have been dispatched once, and every run have ended.

The kills are drawn from a seeded generator: VIGIA_FAULT_SEED pins one seed (CI runs the default one, so a
failure can be replayed); VIGIA_FAULT_SEEDS=1-20 sweeps many (the slow tier, see the README). A worker is
never killed twice under the same run: a run whose worker dies alone again and again is, by definition, a
poison pill and is given up (tests/scheduler/test_isolation_processes.py); here the runs are innocent.
"""

import os
import random
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from scheduler import lease
from scheduler.models import Job, Run
from tests.support.factories import make_job
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.fault, pytest.mark.django_db(transaction=True)]
DURATION = float(os.environ.get("VIGIA_FAULT_SECONDS", 120))
FAST = {"VIGIA_STALE_AFTER": 4, "VIGIA_HEARTBEAT_SECONDS": 1, "VIGIA_LEASE_TTL": 3}
SCHEDULES = [("interval", 1), ("interval", 2), ("interval", 3), ("cron", 2), ("cron", 5)]  # (type, seconds)
PINNED_SEED = 20261206


def seeds():
    """The seeds to run: VIGIA_FAULT_SEEDS ("1-20" or "3,5,8"), else VIGIA_FAULT_SEED, else the pinned one."""
    sweep = os.environ.get("VIGIA_FAULT_SEEDS", "")
    if "-" in sweep:
        low, high = (int(part) for part in sweep.split("-", 1))
        return list(range(low, high + 1))
    if sweep:
        return [int(part) for part in sweep.split(",")]
    return [int(os.environ.get("VIGIA_FAULT_SEED", PINNED_SEED))]


def leader_pid():
    current = lease.current()
    if current and current.holder and current.expires_at > timezone.now():
        return int(current.holder.rsplit(":", 1)[1])
    return None


def expected_moments(kind, seconds, start, end):
    if kind == "interval":  # anchored at start_at
        count = int((end - start).total_seconds() // seconds) + 1
        return [start + timedelta(seconds=seconds * i) for i in range(count)]
    moments, moment = [], start
    while moment <= end:
        if moment.second % seconds == 0:
            moments.append(moment)
        moment += timedelta(seconds=1)
    return moments


class Chaos:
    """The processes, and the kills: each replaces what it killed, so the load never stops."""

    def __init__(self, processes, rng):
        self.processes, self.rng, self.kills, self.spawned = processes, rng, Counter(), 0
        self.struck = set()  # runs whose worker was killed once already
        self.schedulers = [self._scheduler() for _ in range(2)]
        self.clusters = [self._cluster() for _ in range(2)]

    def _scheduler(self):
        self.spawned += 1
        return self.processes.scheduler(f"scheduler-{self.spawned}", **FAST)

    def _cluster(self):
        self.spawned += 1
        return self.processes.qcluster(f"qcluster-{self.spawned}", VIGIA_WORKERS=2, **FAST)

    def kill_leader(self):
        pid = leader_pid()
        victim = next((p for p in self.schedulers if p.pid == pid and p.alive()), None)
        if victim is None:
            return False  # between leaders right now
        victim.kill(signal.SIGKILL)
        self.schedulers[self.schedulers.index(victim)] = self._scheduler()
        return True

    def kill_worker(self):
        """A worker in the middle of a run (only ours: its process group is one of our clusters), never
        twice under the same run."""
        ours = {cluster.pid for cluster in self.clusters}
        busy = []
        for run_id, worker in Run.objects.filter(status="running").order_by("id").values_list("id", "worker"):
            pid = int(worker.rsplit(":", 1)[1])
            try:
                if os.getpgid(pid) in ours and run_id not in self.struck:
                    busy.append((run_id, pid))
            except ProcessLookupError:
                continue
        if not busy:
            return False
        run_id, pid = self.rng.choice(busy)
        self.struck.add(run_id)
        os.kill(pid, signal.SIGKILL)  # django-q2 starts another worker
        return True

    def kill_cluster(self):
        index = self.rng.randrange(len(self.clusters))
        self.clusters[index].kill(signal.SIGKILL)  # the group: sentinel, pusher, monitor, workers
        self.clusters[index] = self._cluster()
        return True

    def unleash(self, until):
        """Kill something every 1.5-5 s until `until`: a busy worker mostly, the leader about a quarter of
        the time (once early on), the cluster once half-way. An attempt that finds nothing to kill (no
        run in progress, between two leaders) is tried again 0.3 s later."""
        events = max(4, int(DURATION / 3.25))
        plan = ["leader"] * (events // 4 - 1) + ["worker"] * (events - events // 4 - 1)
        self.rng.shuffle(plan)
        plan.insert(1, "leader")
        plan.insert(len(plan) // 2, "cluster")
        delay = self.rng.uniform(1.5, 5.0)
        while plan and timezone.now() < until:
            time.sleep(delay)
            killed = getattr(self, f"kill_{plan[0]}")()
            if killed:
                self.kills[plan.pop(0)] += 1
            delay = self.rng.uniform(1.5, 5.0) if killed else 0.3


@pytest.mark.parametrize("seed", seeds())
def test_kills_of_the_leader_and_of_workers_lose_and_double_no_occurrence(processes, seed):
    print(f"chaos seed {seed} (VIGIA_FAULT_SEED), {DURATION:g} s (VIGIA_FAULT_SECONDS)")
    chaos = Chaos(processes, random.Random(seed))
    wait_for(leader_pid, 30, message="a leader")

    start = timezone.now().replace(microsecond=0) + timedelta(seconds=5)  # the clusters are up by then
    end = start + timedelta(seconds=DURATION)
    jobs = {}
    for kind, seconds in SCHEDULES:
        fields = {"interval_seconds": seconds} if kind == "interval" else {"cron": f"*/{seconds} * * * * *"}
        job = make_job(
            name=f"{kind} every {seconds}s",
            kind="test_busy",
            params={"seconds": 0.3},
            schedule_type=kind,
            start_at=start,
            end_at=end,
            overlap_policy="allow",
            timeout_seconds=30,
            **fields,
        )
        jobs[job.pk] = expected_moments(kind, seconds, start, end)

    time.sleep(max(0.0, (start - timezone.now()).total_seconds()))
    began = time.monotonic()
    chaos.unleash(end)
    print(f"kills: {dict(chaos.kills)} in {time.monotonic() - began:.0f} s")
    wait_for(lambda: not Job.objects.filter(pk__in=jobs, completed_at=None).exists(), 60, message="the schedules end")
    wait_for(lambda: not Run.objects.exclude(status__in=Run.FINAL).exists(), 90, message="every run to end")
    print(f"all runs final {time.monotonic() - began - DURATION:.0f} s after the chaos")

    assert chaos.kills["cluster"] == 1 and chaos.kills["leader"] >= 1 and chaos.kills["worker"] >= 1, chaos.kills
    for job_id, expected in jobs.items():
        moments = list(Run.objects.filter(job_id=job_id, attempt=1).values_list("scheduled_for", flat=True))
        name = Job.objects.get(pk=job_id).name
        assert len(moments) == len(set(moments)), f"{name}: an occurrence dispatched twice"
        missing = sorted(set(expected) - set(moments))
        extra = sorted(set(moments) - set(expected))
        assert not missing and not extra, f"{name}: missing {missing[:5]}, unexpected {extra[:5]}"
    statuses = Counter(Run.objects.filter(job_id__in=jobs).values_list("status", flat=True))
    assert set(statuses) == {"succeeded"}, statuses  # a run hit by a kill is delivered again and succeeds
    assert Run.objects.filter(job_id__in=jobs, pickups__gt=1).exists(), "no kill hit a run: nothing was tested"
    for process in chaos.schedulers + chaos.clusters:
        assert process.alive(), f"{process.name} died:\n{process.output()[-3000:]}"
