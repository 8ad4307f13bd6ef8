"""`bench scheduler`: how late runs are dispatched and started, and how fast a burst drains.

Real processes on a throwaway database: one scheduler and one django-q2 cluster of 4 workers.
Phase 1: one-off jobs due at random instants (200 across 60 s; --quick: 50 across 20 s).
Phase 2: a burst of no-op occurrences due in the same second (5,000; --quick: 1,000).
Phase 3: the same timely jobs among 100,000 enabled jobs (--quick: 10,000; a mix of cron, interval and
         once, most not due): how late they are dispatched, and the scheduler's CPU per occurrence.
Then every phase other apps register (tests.bench.PHASES) runs on the same processes.
"""

import random
import subprocess
import time
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from scheduler import lease, services
from scheduler.models import Job, Run
from tests.bench import PHASE_TARGETS, PHASES, engine, register
from tests.bench.figures import among, percentile, seconds

TARGETS = {
    "start_lag_p99_s": 0.1,
    "dispatch_lag_p99_s": 0.1,
    "burst_5000_dispatch_s": 5.0,
    "burst_5000_complete_s": 15.0,
    "large_dispatch_lag_p99_s": 0.1,
    "scheduler_cpu_ms_per_occurrence": 1.0,
}
CRONS = ["0 3 * * *", "30 9 * * 1-5", "0 0 1 * *", "15 */6 * * *", "0 12 * * 0"]


@register("scheduler")
def run(env, quick, say, log_dir):
    spread, timely, burst, large = (20, 50, 1000, 10_000) if quick else (60, 200, 5000, 100_000)
    extra = {}
    with engine(env, log_dir) as (scheduler, _cluster):
        _warm_up(say)
        say(f"phase 1: {timely} one-off jobs due at random instants across {spread} s")
        start = timezone.now() + timedelta(seconds=3)
        moments = [start + timedelta(seconds=random.uniform(0, spread)) for _ in range(timely)]
        jobs = _one_off_jobs("timely", moments)
        runs = _wait_final(jobs, timeout=spread + 120, say=say)
        dispatch_lags = [seconds(r.queued_at - r.scheduled_for) for r in runs]
        start_lags = [seconds(r.started_at - r.scheduled_for) for r in runs]

        say(f"phase 2: a burst of {burst} no-op occurrences due in the same second")
        due = timezone.now().replace(microsecond=0) + timedelta(seconds=4)
        jobs = _one_off_jobs("burst", [due] * burst)
        of_burst = _of(jobs)
        _wait(lambda: Run.objects.filter(of_burst).count() == burst, 120, "the burst to be dispatched")
        dispatched = Run.objects.filter(of_burst).aggregate(at=Max("queued_at"))["at"]
        _wait_final(jobs, timeout=600, say=say)
        finished = Run.objects.filter(of_burst).aggregate(at=Max("finished_at"))["at"]
        statuses = set(Run.objects.filter(job__name__startswith="bench ").values_list("status", flat=True))

        say(f"phase 3: {timely} one-off jobs across {spread} s among {large:,} enabled jobs")
        _many_jobs(large)
        time.sleep(2)
        cpu_before = process_cpu_seconds(scheduler.pid)
        start = timezone.now() + timedelta(seconds=3)
        jobs = _one_off_jobs("large", [start + timedelta(seconds=random.uniform(0, spread)) for _ in range(timely)])
        runs = _wait_final(jobs, timeout=spread + 120, say=say)
        cpu_used = process_cpu_seconds(scheduler.pid) - cpu_before
        occurrences = Run.objects.filter(scheduled_for__gte=start - timedelta(seconds=1)).count()
        large_lags = [seconds(r.queued_at - r.scheduled_for) for r in runs]
        extra.update(
            large_dispatch_lag_p50_s=percentile(large_lags, 0.5),
            large_dispatch_lag_p99_s=percentile(large_lags, 0.99),
            large_jobs=large,
            scheduler_cpu_ms_per_occurrence=round(cpu_used * 1000 / max(occurrences, 1), 3),
        )
    for name, phase in PHASES.items():  # each on processes of its own (its own settings, such as DJEN's URL)
        say(f"phase {name}")
        extra.update(phase(env, quick, say, log_dir))
    complete_s = seconds(finished - due)
    return {
        "start_lag_p50_s": percentile(start_lags, 0.5),
        "start_lag_p99_s": percentile(start_lags, 0.99),
        "start_lag_max_s": max(start_lags),
        "dispatch_lag_p50_s": percentile(dispatch_lags, 0.5),
        "dispatch_lag_p99_s": percentile(dispatch_lags, 0.99),
        "dispatch_lag_max_s": max(dispatch_lags),
        f"burst_{burst}_dispatch_s": seconds(dispatched - due),
        f"burst_{burst}_complete_s": complete_s,
        "burst_runs_per_s": round(burst / complete_s, 1),
        "timely_jobs": timely,
        "burst_jobs": burst,
        "workers": 4,
        "all_succeeded": statuses == {"succeeded"},
        **extra,
        "quick": quick,
        "targets": {**TARGETS, **PHASE_TARGETS},
    }


def _warm_up(say):
    _wait(lambda: lease.current() and lease.current().expires_at > timezone.now(), 30, "a scheduler leader")
    probe = services.save_job(Job(name="bench warm-up", kind="noop", schedule_type="interval", interval_seconds=3600))
    run = services.run_now(probe)
    _wait(lambda: Run.objects.get(pk=run.pk).status == "succeeded", 60, "the cluster to start")
    say("scheduler leader and cluster are up")


def _one_off_jobs(label, moments):
    stamp = time.time_ns()
    jobs = [
        Job(
            name=f"bench {label} {stamp} {i}",
            kind="noop",
            schedule_type="once",
            run_at=moment,
            next_run_at=moment,
            overlap_policy="allow",
        )
        for i, moment in enumerate(moments)
    ]
    return Job.objects.bulk_create(jobs, batch_size=1000)


def _many_jobs(count):
    """`count` enabled jobs, none due during the benchmark: a third cron, a third interval, a third once."""
    now, rows = timezone.now(), []
    for i in range(count):
        later = now + timedelta(seconds=random.uniform(3600, 30 * 86400))
        fields = {"name": f"bench large {i}", "kind": "noop", "next_run_at": later}
        if i % 3 == 0:
            fields.update(schedule_type="cron", cron=CRONS[i % len(CRONS)], timezone="America/Sao_Paulo")
        elif i % 3 == 1:
            fields.update(schedule_type="interval", interval_seconds=random.choice([3600, 7200, 86400]))
        else:
            fields.update(schedule_type="once", run_at=later)
        rows.append(Job(**fields))
    Job.objects.bulk_create(rows, batch_size=5000)


def process_cpu_seconds(pid):
    """User + system CPU seconds a process has used (Linux /proc)."""
    import os
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_final(jobs, timeout, say):
    scope = _of(jobs)
    _wait(
        lambda: Run.objects.filter(scope, status__in=Run.FINAL).count() >= len(jobs),
        timeout,
        f"{len(jobs)} runs to finish",
    )
    return list(Run.objects.filter(scope))


def _of(jobs):
    return among("job_id", [job.pk for job in jobs])


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise subprocess.TimeoutExpired(what, timeout)
