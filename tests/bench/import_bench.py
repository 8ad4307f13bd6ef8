"""`bench import`: CSV import speed of monitored people (people_csv.import_people, what `import_people`, the
dashboard and the admin run).

Generates a file of 10,000 and one of 100,000 people the way a law office's spreadsheet holds them (names with
accents, CPFs, numeric and alphanumeric CNPJs, some OAB numbers, tribunals, WhatsApp and e-mail recipients,
notes) and imports each into an empty people table (a WhatsApp and an e-mail channel exist, so recipients
are subscribed), every new person getting its job and its first check queued. Then the 10,000 again: every
row unchanged. Target: ≥ 2,000 rows/s for each new import. --quick: 2,000 and 10,000 rows.
JSON keys: rows_per_s_10k, rows_per_s_100k, seconds_10k, seconds_100k, rows_per_s_unchanged_10k,
peak_rss_mb (the bench process's peak resident memory: the larger file, its rows and the import),
machine_loop_s (this machine's speed at a fixed Python loop, to read the rates against) and the targets.
"""

import random
import resource
import time

from django.db import connection

from channels_app.models import Channel, Recipient, Subscription
from scheduler.models import Job, Run
from scrapers.models import MonitoredPerson
from scrapers.people import brazil
from scrapers.people import csv_io as people_csv
from tests.bench import figures, register
from tests.bench.dashboard_bench import FIRST, SURNAMES

TARGET_ROWS_PER_S = 2000
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TRIBUNAL_CHOICES = ["", "TJSP", "TJSP, TRT2", "TRF3", "STJ", "TJRJ | TRT1", "TJMG"]


def people_csv_text(count, seed=1):
    """A CSV of `count` distinct, valid people, with a header."""
    rng = random.Random(seed)
    first, surnames = FIRST.split(), SURNAMES.split()
    rows = [",".join(people_csv.COLUMNS)]
    for n in range(count):
        # Every name distinct: its number written as three surnames and a first name (40^4 combinations).
        name = " ".join([first[n % 40], surnames[n // 40 % 40], surnames[n // 1600 % 40], surnames[n // 64000 % 40]])
        kind = rng.random()
        if kind < 0.6:
            document = brazil.format_document(brazil.with_check_digits(f"{rng.randrange(10**9):09d}"))
        elif kind < 0.8:
            body = "".join(rng.choice(ALPHANUMERIC if kind < 0.7 else "0123456789") for _ in range(12))
            document = brazil.format_document(brazil.with_check_digits(body))
        else:
            document = ""
        oab, uf = (str(rng.randrange(1, 999999)), rng.choice(sorted(brazil.UFS))) if rng.random() < 0.1 else ("", "")
        recipients = ""
        if rng.random() < 0.3:
            recipients = f"55119{rng.randrange(10**8):08d}"
            if rng.random() < 0.3:
                recipients += f" | escritorio{n % 50}@example.com"
        until = f"20{rng.randrange(30, 99)}-12-31" if rng.random() < 0.2 else ""
        notes = '"Cliente desde 2020, pasta nº ' + str(n) + '"' if rng.random() < 0.3 else ""
        rows.append(
            ",".join(
                [name, document, oab, uf, f'"{rng.choice(TRIBUNAL_CHOICES)}"', until, f'"{recipients}"', notes, "sim"]
            )
        )
    return "\r\n".join(rows) + "\r\n"


def empty_people():
    """Back to an empty people table (and no jobs, runs or queued tasks of theirs)."""
    from django_q.models import OrmQ

    MonitoredPerson.objects.all().delete()
    Run.objects.filter(job__kind="check_person").delete()
    Job.objects.filter(kind="check_person").delete()
    Subscription.objects.all().delete()
    Recipient.objects.all().delete()
    OrmQ.objects.all().delete()


def timed_import(data, say, label):
    started = time.perf_counter()
    report = people_csv.import_people(data)
    seconds = time.perf_counter() - started
    rate = report.rows / seconds
    say(f"{label}: {report.summary()} in {seconds:.2f} s = {rate:,.0f} rows/s")
    if report.problems:
        raise RuntimeError(f"the generated file has problems: {report.problems[:3]}")
    return report, round(seconds, 2), round(rate)


@register("import")
def run(env, quick, say, log_dir):
    small, large = (2_000, 10_000) if quick else (10_000, 100_000)
    Channel.objects.create(name="whatsapp", kind="wuzapi", config={"url": "http://127.0.0.1:9"})
    Channel.objects.create(name="email", kind="email")
    say(f"import {small:,} and {large:,} new people on {connection.vendor}")
    small_data = people_csv_text(small).encode("utf-8")
    large_data = people_csv_text(large, seed=2).encode("utf-8")

    empty_people()
    report, seconds_small, rate_small = timed_import(small_data, say, f"{small:,} new")
    assert report.created == small
    _, _, rate_unchanged = timed_import(small_data, say, f"{small:,} again, unchanged")
    empty_people()
    report, seconds_large, rate_large = timed_import(large_data, say, f"{large:,} new")
    assert report.created == large == MonitoredPerson.objects.count() == Run.objects.count()
    return {
        "rows_per_s_10k": rate_small,
        "rows_per_s_100k": rate_large,
        "seconds_10k": seconds_small,
        "seconds_100k": seconds_large,
        "rows_per_s_unchanged_10k": rate_unchanged,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine_loop_s": figures.machine_loop_s(),  # same code: 10,000 rows took 4.4 s one day, 8-9 s the next
        "rows": [small, large],
        "database": connection.vendor,
        "quick": quick,
        "targets": {"rows_per_s_10k": TARGET_ROWS_PER_S, "rows_per_s_100k": TARGET_ROWS_PER_S},
    }
