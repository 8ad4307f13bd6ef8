"""Upstreams that try to hold a worker: a slow loris and a 1 GB response, against a real cluster.

Each check runs as a check_source run on a django-q2 worker; the test reads the worker's memory from
/proc while the upstream misbehaves, and then gives the same cluster an ordinary check to do.
"""

import pytest
from django.conf import settings

from scheduler import services
from scheduler.models import Job, Run
from scrapers import ratelimit
from scrapers.models import Source
from tests.faults.support import AbusiveUpstream, memory_kb, reset_peak
from tests.loopback.organizer import make_source
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.fault, pytest.mark.django_db(transaction=True)]
RUN_TIMEOUT = 12  # the run's own timeout (the job's), enforced by the worker's watchdog
FETCH_TIMEOUT = 2  # the source's per-request timeout: 3 attempts (VIGIA_FETCH_RETRIES=2) fit in the run's
MARGIN = 3  # seconds for recording the outcome
MEMORY_MARGIN_KB = 32 * 1024  # the interpreter's own churn while it reads and fails


@pytest.fixture
def upstream():
    with AbusiveUpstream() as server:
        ratelimit.set_rate(ratelimit.host_key(server.url), 1000)  # the workers run with production settings
        yield server


def check(upstream, path):
    """One check_source run of `path` on the cluster; returns the finished run."""
    url = upstream.url + path
    source = Source.objects.filter(url=url).first() or make_source(url, name=path, timeout_seconds=FETCH_TIMEOUT)
    Job.objects.filter(pk=source.job_id).update(timeout_seconds=RUN_TIMEOUT)
    run = services.run_now(Job.objects.get(pk=source.job_id))
    wait_for(lambda: Run.objects.get(pk=run.pk).status in Run.FINAL, 60, message=f"the check of {path} to end")
    run.refresh_from_db()
    print(f"{path}: {run.status} after {held_for(run):.1f} s: {run.error}")  # measured, for the record (-s)
    return run


def held_for(run):
    return (run.finished_at - run.started_at).total_seconds()


def worker_pid(run):
    return int(run.worker.rsplit(":", 1)[1])


def test_a_slow_loris_holds_a_worker_no_longer_than_the_run_timeout(processes, upstream):
    processes.qcluster(VIGIA_WORKERS=1, VIGIA_RESERVED_WORKERS="")  # exactly one worker
    assert check(upstream, "/ok").status == "succeeded"

    for path in ("/slow-headers", "/slow-body"):
        run = check(upstream, path)
        assert run.status in ("failed", "timed_out"), (path, run.status, run.error)
        assert "timed out" in run.error.lower(), (path, run.error)
        assert held_for(run) <= RUN_TIMEOUT + MARGIN, (path, held_for(run), run.error)
        # The fetch gives up by itself, so the source's page shows why (a run ended by the watchdog
        # leaves the source's health untouched).
        source = Source.objects.get(url=upstream.url + path)
        assert source.consecutive_failures == 1 and "timed out" in source.last_error, (path, source.last_error)

    served = check(upstream, "/ok")  # the one worker is free again
    assert served.status == "succeeded", served.error


def test_a_1_gb_response_is_cut_at_the_size_cap_without_the_worker_growing(processes, upstream):
    processes.qcluster(VIGIA_WORKERS=1, VIGIA_RESERVED_WORKERS="")  # exactly one worker
    warm = check(upstream, "/ok")  # the worker has imported and used everything a check needs
    assert warm.status == "succeeded", warm.error
    pid = worker_pid(warm)
    cap_kb = settings.VIGIA_FETCH_MAX_BYTES // 1024

    for path in ("/huge", "/huge-gzip"):
        reset_peak(pid)
        before = memory_kb(pid)
        run = check(upstream, path)
        grew = memory_kb(pid, "VmHWM") - before
        print(f"{path}: worker peak +{grew} KB over {before} KB; upstream sent {upstream.sent[path]} bytes")
        assert run.status == "failed", (path, run.status, run.error)
        assert "larger than" in run.error, (path, run.error)
        assert worker_pid(run) == pid  # the same worker: it failed the run, it was not killed
        assert held_for(run) < RUN_TIMEOUT, (path, held_for(run))
        assert grew <= cap_kb + MEMORY_MARGIN_KB, f"{path}: the worker's peak grew by {grew} KB (cap {cap_kb} KB)"
        assert upstream.sent[path] < 64 << 20, f"{path}: {upstream.sent[path]} bytes sent: the worker kept reading"

    served = check(upstream, "/ok")
    assert served.status == "succeeded", served.error
