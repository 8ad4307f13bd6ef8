"""`bench cycle`: a monitoring cycle over 1,000 people (--quick: 200), fanned out to real workers.

One scheduler and one django-q2 cluster of 4 workers on a throwaway database, against the loopback DJEN
stand-in answering each request after 200 ms. Every person is due; the fan-out (what the check_people job
does) queues one check_person run each, and the cycle ends when every run is final.
(a) DJEN limited to 15 requests/s (the shared per-host rate limit): the cycle against the ideal N / 15 s,
    and the most requests the server saw in any 1-second window. The rate is below what the workers can
    do (4 / 0.2 s = 20 requests/s), so the rate is what bounds the cycle: this measures how much of the
    allowed rate the limiter and the queue put to use. (Until issue 11 the rate was 20/s, exactly the
    workers' capacity, so (a) measured the per-check overhead again, as (b) does, with a stricter target.)
(b) no rate limit: the cycle against the concurrency bound N × 0.2 s / 4 workers.
"""

import time
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from scheduler import services
from scheduler.models import Job, Run
from scrapers import ratelimit
from scrapers.models import MonitoredPerson, Publication
from scrapers.people import services as people
from scrapers.people.brazil import normalize_name
from tests.bench import PHASE_TARGETS, PHASES, engine, register
from tests.bench.figures import among, percentile, seconds
from tests.loopback.djen import FakeDjen

LATENCY, RATE, WORKERS = 0.2, 15, 4
TARGETS = {"rate_bound_ratio": 1.05, "rate_max_per_s": RATE, "concurrency_bound_ratio": 1.10}
FIRST = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor", "Íris", "João"]
LAST = ["Silva", "Souza", "Oliveira", "Conceição", "Araújo", "Pereira", "Lima", "Gonçalves", "Ribeiro", "Melo"]


@register("cycle")
def run(env, quick, say, log_dir):
    count = 200 if quick else 1000
    with FakeDjen(latency=LATENCY) as djen:
        host = ratelimit.host_key(djen.url)
        persons = make_people(count, djen)
        Job.objects.exclude(kind="check_person").update(enabled=False, next_run_at=None)  # only what we measure
        with engine({**env, "VIGIA_DJEN_URL": djen.url}, log_dir, workers=WORKERS):
            time.sleep(3)  # the cluster's workers up
            ratelimit.set_rate(host, RATE)
            say(f"(a) {count} people, DJEN limited to {RATE} requests/s, {WORKERS} workers, {LATENCY * 1000:.0f} ms")
            rate_s, rate_max = _cycle(persons, djen, count / RATE, say)
            ratelimit.set_rate(host, 100_000)
            say(f"(b) {count} people, no rate limit")
            concurrency_s, _ = _cycle(persons, djen, count * LATENCY / WORKERS, say)
        stored = Publication.objects.count()
    rate_bound, concurrency_bound = count / RATE, count * LATENCY / WORKERS
    return {
        "people": count,
        "rate_bound_s": round(rate_s, 2),
        "rate_ideal_s": rate_bound,
        "rate_bound_ratio": round(rate_s / rate_bound, 3),
        "rate_max_per_s": rate_max,
        "concurrency_bound_s": round(concurrency_s, 2),
        "concurrency_ideal_s": concurrency_bound,
        "concurrency_bound_ratio": round(concurrency_s / concurrency_bound, 3),
        "publications_stored": stored,
        "publications_expected": count,
        "workers": WORKERS,
        "latency_s": LATENCY,
        "quick": quick,
        "targets": TARGETS,
    }


def make_people(count, djen):
    """`count` monitored people (written in bulk, each with its job), one publication naming each."""
    now = timezone.now()
    rows = []
    for i in range(count):
        name = f"{FIRST[i % 10]} {LAST[i // 10 % 10]} {LAST[i // 100 % 10]} Bench{i:04d}"
        djen.add(recipients=[name.upper()], tribunal="TJSP")
        rows.append(
            MonitoredPerson(
                name=name,
                normalized_name=normalize_name(name),
                last_success_at=now - timedelta(hours=1),  # an incremental check: one request each
                next_check_at=now + timedelta(hours=1),
                first_check=MonitoredPerson.FirstCheck.DONE,
            )
        )
    created = MonitoredPerson.objects.bulk_create(rows, batch_size=500)
    for person in created:
        people.sync_job(person)
    return created


def _cycle(persons, djen, ideal, say):
    """Make everyone due, fan out, wait for every run to be final. Returns (seconds, max requests/s)."""
    ids = [person.pk for person in persons]
    MonitoredPerson.objects.filter(pk__in=ids).update(next_check_at=timezone.now())
    seen = len(djen.requests)
    started_at = timezone.now()
    began = time.monotonic()
    queued = people.fan_out()
    runs = Run.objects.filter(among("job__person__pk", ids), scheduled_for__gte=started_at)
    deadline = began + max(ideal * 4, 60)
    while time.monotonic() < deadline:
        if runs.exclude(status__in=Run.FINAL).count() == 0 and runs.count() >= queued:
            break
        time.sleep(0.25)
    else:
        raise TimeoutError(f"the cycle did not finish within {deadline - began:.0f} s")
    failed = runs.exclude(status=Run.Status.SUCCEEDED).filter(attempt=1).count()
    finished = runs.aggregate(at=Max("finished_at"))["at"]
    elapsed = (finished - started_at).total_seconds()
    say(f"    {queued} queued, {failed} not succeeded at first; {elapsed:.2f} s (ideal {ideal:.1f} s)")
    say(f"    where a worker's time went beyond DJEN's {LATENCY * 1000:.0f} ms (p50 / p90, ms): {_overheads(runs)}")
    return elapsed, djen.max_per_second(since=seen)


def _overheads(runs):
    """Where time went besides DJEN: the gap from the latest run's end to each next start (the queue's
    handoff, when every slot a cycle may hold is busy) and each run's own time beyond DJEN's latency
    (claim, rate-limit slot, storing, ending)."""
    spans = sorted(runs.values_list("started_at", "finished_at"))
    ends = sorted(finished for _, finished in spans)
    gaps, own, at = [], [], 0
    for started, finished in spans:
        own.append(seconds(finished - started) - LATENCY)
        while at < len(ends) and ends[at] <= started:
            at += 1
        if at:
            gaps.append(seconds(started - ends[at - 1]))

    def ms(values):
        return f"{percentile(values, 0.5) * 1000:.1f} / {percentile(values, 0.9) * 1000:.1f}" if values else "-"

    return f"handoff {ms(gaps)}, in run {ms(own)}"


UNDER_CYCLE_PEOPLE, UNDER_CYCLE_RATE = 100, 1.0


def high_under_cycle(env, quick, say, log_dir):
    """`bench scheduler`'s phase: a DJEN cycle of 100 people limited to 1 request/s (100 s of waiting for
    four workers) runs beside a `high` job every 2 s; how late the high job's runs start."""
    window = 30 if quick else 60
    with FakeDjen(latency=LATENCY) as djen:
        persons = make_people(UNDER_CYCLE_PEOPLE, djen)
        Job.objects.exclude(kind="check_person").update(enabled=False, next_run_at=None)
        host = ratelimit.host_key(djen.url)
        ratelimit.set_rate(host, UNDER_CYCLE_RATE)
        with engine({**env, "VIGIA_DJEN_URL": djen.url}, log_dir, workers=WORKERS):
            time.sleep(3)  # the cluster's workers up
            MonitoredPerson.objects.filter(pk__in=[p.pk for p in persons]).update(next_check_at=timezone.now())
            queued = people.fan_out()
            start = timezone.now() + timedelta(seconds=1)
            high = services.save_job(
                Job(
                    name="bench high every 2 s",
                    kind="noop",
                    queue=Job.Queue.HIGH,
                    schedule_type="interval",
                    interval_seconds=2,
                    start_at=start,
                    end_at=start + timedelta(seconds=window),
                )
            )
            say(f"    {queued} DJEN checks at {UNDER_CYCLE_RATE:g}/s beside a high job every 2 s for {window} s")
            time.sleep(window + 3)
            runs = list(Run.objects.filter(job=high, started_at__isnull=False))
            checked = Run.objects.filter(job__kind="check_person", status=Run.Status.SUCCEEDED).count()
            services.pause([high])
    lags = [seconds(run.started_at - run.scheduled_for) for run in runs]
    return {
        "high_start_lag_under_cycle_p50_s": percentile(lags, 0.5),
        "high_start_lag_under_cycle_p99_s": percentile(lags, 0.99),
        "high_runs_under_cycle": len(lags),
        "cycle_checks_done_meanwhile": checked,
    }


PHASES["high_under_cycle"] = high_under_cycle
PHASE_TARGETS["high_start_lag_under_cycle_p99_s"] = 0.5
