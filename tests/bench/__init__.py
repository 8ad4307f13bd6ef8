"""Benchmarks: `python manage.py bench NAME [--quick]`. Each registers a function that returns its figures.

They live under tests/ with the loopback stand-ins they drive (tests/loopback): production code never
imports them, and an image built without tests/ has no `bench` command (config/settings.py installs this
app only where it exists)."""

import gc
from contextlib import contextmanager

from scheduler.processes import spawn, stop

BENCHMARKS = {}
# Extra phases of `bench scheduler` that other apps add (`bench scheduler` runs on a scheduler and a cluster
# already up): name -> function(env, quick, say, log_dir) returning figures; their targets beside them.
PHASES = {}
PHASE_TARGETS = {}


def register(name):
    def decorator(function):
        BENCHMARKS[name] = function
        return function

    return decorator


def discover():
    """Import every benchmark module, so each registers itself."""
    from tests.bench import (  # noqa: F401
        api_bench,
        cycle_bench,
        dashboard_bench,
        deliveries_bench,
        e2e_bench,
        fuzz_bench,
        idle_bench,
        import_bench,
        scheduler_bench,
        scrape_bench,
        soak_bench,
    )


@contextmanager
def engine(env, log_dir, workers=4):
    """One scheduler and one django-q2 cluster of `workers` on the bench database, logging to `log_dir`;
    both stopped (process groups and all) when the block ends, however it ends."""
    env = {**env, "VIGIA_WORKERS": str(workers), "VIGIA_LOG_LEVEL": "WARNING"}
    # This process also hosts the loopback stand-ins (DJEN, Wuzapi, webhooks) whose clocks several figures
    # are read from. A full collection over the setup's objects stopped every thread here for 65-75 ms (bench
    # cycle, 1,000 people): a request arriving meanwhile was stamped that late, and the next one close
    # behind it, so the stand-in saw 16 requests in a second of a 15/s limit the requests themselves kept.
    # Frozen, the setup is left out of every collection.
    gc.collect()
    gc.freeze()
    logs = {name: open(log_dir / f"bench-{name}.log", "wb") for name in ("scheduler", "qcluster")}  # noqa: SIM115
    children = [spawn([name], env=env, stdout=logs[name]) for name in ("scheduler", "qcluster")]
    try:
        yield children
    finally:
        for child in children:
            stop(child)
        for handle in logs.values():
            handle.close()
        gc.unfreeze()
