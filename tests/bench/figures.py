import time

from django.db.models import Q

CALIBRATION_LOOP = 10_000_000


def machine_loop_s():
    """CPU seconds this machine takes for a fixed pure-Python loop (the median of 3): a figure to set beside a
    speed target, since the machines these benches run on differ up to 2x from one day to the next (bench
    import's 10,000 rows, same code: 4.4 s one day, 8-9 s the next)."""
    spent = []
    for _ in range(3):
        started = time.process_time()
        total = 0
        for n in range(CALIBRATION_LOOP):
            total += n
        spent.append(time.process_time() - started)
    return round(sorted(spent)[1], 2)


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def seconds(delta):
    return round(delta.total_seconds(), 4)


def among(field, ids):
    """A filter for rows whose `field` is one of `ids`, as cheaply as the database can test it. Benchmarks
    poll their runs every fraction of a second while the engine works on the same 2 cores: a filter listing
    5,000 ids cost the benchmark's process 34-47 ms of CPU per look, about a fifth of a core taken from
    what it measures. Rows created in bulk have consecutive ids, and a range says the same for ~1 ms."""
    ids = sorted(ids)
    if ids and ids[-1] - ids[0] + 1 == len(ids):
        return Q(**{f"{field}__gte": ids[0], f"{field}__lte": ids[-1]})
    return Q(**{f"{field}__in": ids})
