"""The per-host rate limit (scrapers.ratelimit, on scheduler.shared.budgets): spacing in one process, and one shared
limit across real processes."""

import math
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection

from scheduler.errors import TransientError
from scheduler.models import Budget
from scheduler.shared.budgets import SlotTooFar
from scrapers import ratelimit
from tests.loopback.server import LoopbackServer
from tests.support.processes import django_env

pytestmark = pytest.mark.alone  # sub-second spacing: run alone, after the parallel run (Makefile)


@pytest.mark.parametrize(
    "url, key",
    [
        ("http://Example.ORG/x?y=1", "example.org"),
        ("https://example.org:443/", "example.org"),
        ("http://example.org:8080/", "example.org:8080"),
        ("https://127.0.0.1:8443", "127.0.0.1:8443"),
        ("http://[::1]:8000/", "[::1]:8000"),
    ],
)
def test_host_key(url, key):
    assert ratelimit.host_key(url) == key


@pytest.mark.django_db(transaction=True)  # outside a transaction: PostgreSQL's one-statement path
def test_acquires_are_spaced_by_the_rate():
    ratelimit.set_rate("spaced.test", 5)
    moments = []
    for _ in range(6):
        ratelimit.acquire("spaced.test")
        moments.append(time.monotonic())
    gaps = [later - earlier for earlier, later in zip(moments, moments[1:], strict=False)]
    assert moments[-1] - moments[0] >= 1.0
    assert min(gaps) >= 0.2


@pytest.mark.django_db(transaction=True)  # outside a transaction: PostgreSQL's one-statement path
def test_the_row_is_created_on_first_use_with_the_default_rate(settings):
    settings.VIGIA_HOST_RATE = 4
    assert ratelimit.acquire("new.test") == 0
    waited = ratelimit.acquire("NEW.test")  # same host, whatever the case
    assert 0.2 < waited <= 0.26
    assert Budget.objects.get(pk="host:new.test").per_second is None


@pytest.mark.django_db(transaction=True)  # outside a transaction: PostgreSQL's one-statement path
def test_a_wait_beyond_max_wait_raises_without_reserving():
    ratelimit.set_rate("slow.test", 1)
    ratelimit.acquire("slow.test")
    reserved = Budget.objects.get(pk="host:slow.test").next_slot_at
    with pytest.raises(TransientError, match=r"rate limit for host:slow.test: next slot in 1\.0 s") as caught:
        ratelimit.acquire("slow.test", max_wait=0.5)
    assert isinstance(caught.value, SlotTooFar) and 0.9 < caught.value.retry_after <= 1.03  # with the margin
    assert Budget.objects.get(pk="host:slow.test").next_slot_at == reserved


@pytest.mark.django_db
def test_per_host_rates_override_the_default(settings):
    settings.VIGIA_HOST_RATE = 1
    ratelimit.set_rate("fast.test", 20)
    started = time.monotonic()
    for host in ["fast.test"] * 4 + ["other.test"]:
        ratelimit.acquire(host)
    assert time.monotonic() - started < 0.5  # 3 × 1/20 s, and other.test's first slot is free
    with pytest.raises(TransientError):
        ratelimit.acquire("other.test", max_wait=0.5)  # the default 1/s applies there

    ratelimit.set_rate("fast.test", None)  # back to the default
    ratelimit.acquire("fast.test", max_wait=0.5)
    with pytest.raises(TransientError):
        ratelimit.acquire("fast.test", max_wait=0.5)
    with pytest.raises(ValueError):
        ratelimit.set_rate("fast.test", 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_uses_create_one_row_and_take_distinct_slots(settings):
    settings.VIGIA_HOST_RATE = 10  # set here: override_settings inside threads would race itself
    barrier, moments, errors = threading.Barrier(4), [], []

    def first_use():
        try:
            barrier.wait(5)
            ratelimit.acquire("race.test")
            moments.append(time.monotonic())
        except Exception as exc:  # reported below: an IntegrityError here is the race this test is about
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and len(moments) == 4
    assert Budget.objects.filter(pk="host:race.test").count() == 1
    moments.sort()
    assert min(later - earlier for earlier, later in zip(moments, moments[1:], strict=False)) > 0.08  # 1/10 s


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_limit(tmp_path):
    arrivals = []

    def record(request):
        arrivals.append(time.time())
        return "ok"

    with LoopbackServer() as server:
        server.respond("/page", handler=record)
        ratelimit.set_rate(ratelimit.host_key(server.url), 5)
        start = time.time() + 3  # both processes set up (django.setup) before the hammering starts
        end = start + 3
        args = [sys.executable, "-m", "tests.support.hammer", server.url + "/page", str(start), str(end)]
        hammers = [
            subprocess.Popen(
                args,
                cwd=settings.BASE_DIR,
                env=django_env(DJANGO_SETTINGS_MODULE="config.settings"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            for _ in range(2)
        ]
        try:
            outputs = [hammer.communicate(timeout=end - time.time() + 20)[0] for hammer in hammers]
        finally:
            for hammer in hammers:
                if hammer.poll() is None:
                    hammer.kill()
                    hammer.wait(5)

    assert [hammer.returncode for hammer in hammers] == [0, 0], outputs
    counts = [int(output.split()[-1]) for output in outputs]
    assert all(count >= 1 for count in counts), counts  # both processes took part
    assert sum(counts) == len(arrivals)
    windows = Counter(math.floor(moment) for moment in arrivals)
    assert max(windows.values()) <= 5, sorted(windows.items())
    # The limit still lets its rate through: judged on the span actually hammered, since on a loaded
    # machine a process may start after the agreed moment.
    arrivals.sort()
    assert len(arrivals) >= 6, arrivals
    assert (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) >= 4, arrivals
