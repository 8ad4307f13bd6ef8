"""A per-host request rate shared by every worker process on every machine, kept in the database.

Each host has a HostBudget row holding the earliest moment the next request may go. acquire() reserves
that slot and pushes the row's moment one spacing further in a short locked transaction (on PostgreSQL, a
single UPDATE … RETURNING), then sleeps until its slot outside the transaction, so waiting never holds a
lock. Call it outside any atomic block: inside one, the row stays locked until the outer transaction ends.
"""

import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from scheduler.errors import TransientError
from scrapers.models import HostBudget

# Slots are spaced 3 % wider than 1/rate. Requests leave a little after their slot (sleep overshoot,
# scheduling, connection setup) and by varying amounts, so two neighbouring requests can land closer than
# their slots were; with exact spacing, rate + 1 requests could then fall in one 1-second window. The
# margin absorbs up to 30 ms of such jitter per second at a cost of 3 % of the throughput.
MARGIN = 1.03


def host_key(url):
    """The budget's key for a URL: the lower-case host, plus :port when it is not the scheme's default."""
    url = url if isinstance(url, httpx.URL) else httpx.URL(str(url))
    host = url.host.lower()
    if ":" in host:  # IPv6 literal: brackets keep the port distinguishable
        host = f"[{host}]"
    return f"{host}:{url.port}" if url.port else host  # httpx leaves port None for 80/443


def acquire(host, max_wait=None):
    """Wait for the host's next request slot; return the seconds waited.

    Raises TransientError, reserving nothing, when the slot is more than `max_wait` seconds away.
    """
    host = host.lower()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        wait = _reserve_in_one_statement(host, max_wait)
        if wait is not None:
            if wait > 0:
                time.sleep(wait)
            return max(wait, 0.0)
    with transaction.atomic():
        # get_or_create inserts in a savepoint and, when another process inserted the row first
        # (IntegrityError), reads that row instead. select_for_update() locks it on PostgreSQL; SQLite
        # ignores it, but its IMMEDIATE transactions already serialize writers.
        budget, _ = HostBudget.objects.select_for_update().get_or_create(host=host)
        now = _now()
        slot = max(now, budget.next_slot_at)
        wait = (slot - now).total_seconds()
        if max_wait is not None and wait > max_wait:
            raise TransientError(f"rate limit for {host}: next slot in {wait:.1f} s", retry_after=wait)
        rate = budget.rate_per_second or settings.VIGIA_HOST_RATE
        budget.next_slot_at = slot + timedelta(seconds=MARGIN / rate)
        budget.save(update_fields=["next_slot_at"])
    if wait > 0:
        time.sleep(wait)
    return wait


# PostgreSQL: the whole reservation in one statement on the database's clock (no transaction of its own,
# the row locked only while the statement runs). It reserves nothing and returns no row when the host has
# no row yet or its slot is beyond max_wait; the general path below then creates the row or says why.
RESERVE = """
UPDATE scrapers_hostbudget
SET next_slot_at = GREATEST(next_slot_at, clock_timestamp())
    + make_interval(secs => %(margin)s / COALESCE(rate_per_second, %(rate)s))
WHERE host = %(host)s
  AND (%(max_wait)s::float8 IS NULL
       OR GREATEST(next_slot_at, clock_timestamp()) <= clock_timestamp() + make_interval(secs => %(max_wait)s::float8))
RETURNING EXTRACT(EPOCH FROM next_slot_at - make_interval(secs => %(margin)s / COALESCE(rate_per_second, %(rate)s))
                             - clock_timestamp())
"""


def _reserve_in_one_statement(host, max_wait):
    """Seconds until the reserved slot, or None when the general path must decide."""
    with connection.cursor() as cursor:
        cursor.execute(
            RESERVE, {"margin": MARGIN, "rate": settings.VIGIA_HOST_RATE, "host": host, "max_wait": max_wait}
        )
        row = cursor.fetchone()
    return None if row is None else float(row[0])


def hold(host, seconds):
    """Keep every worker away from the host for `seconds` (it answered 429 or 503 with a wait): one
    worker's slow-down then applies to all, instead of each finding out with a request of its own."""
    host = host.lower()
    with transaction.atomic():
        budget, _ = HostBudget.objects.select_for_update().get_or_create(host=host)
        until = _now() + timedelta(seconds=seconds)
        if until > budget.next_slot_at:
            budget.next_slot_at = until
            budget.save(update_fields=["next_slot_at"])


def set_rate(host, per_second):
    """Set a host's requests per second (None: back to VIGIA_HOST_RATE)."""
    if per_second is not None and per_second <= 0:
        raise ValueError("The rate must be positive.")
    HostBudget.objects.update_or_create(host=host.lower(), defaults={"rate_per_second": per_second})


def _now():
    """The database server's clock where it has one, so workers on machines whose clocks disagree still
    agree on the slots (the sleep is relative, so only this one reading matters)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()
