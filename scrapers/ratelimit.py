"""A per-host request rate shared by every worker process on every machine, kept in the database.

Each host has a HostBudget row holding the earliest moment the next request may go. acquire() reserves
that slot and pushes the row's moment one spacing further in a short locked transaction, then sleeps
until its slot outside the transaction, so waiting never holds a lock. Call it outside any atomic block:
inside one, the row stays locked until the outer transaction ends.
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
    with transaction.atomic():
        # get_or_create inserts in a savepoint and, when another process inserted the row first
        # (IntegrityError), reads that row instead. select_for_update() locks it on PostgreSQL; SQLite
        # ignores it, but its IMMEDIATE transactions already serialize writers.
        budget, _ = HostBudget.objects.select_for_update().get_or_create(host=host)
        now = _now()
        slot = max(now, budget.next_slot_at)
        wait = (slot - now).total_seconds()
        if max_wait is not None and wait > max_wait:
            raise TransientError(f"rate limit for {host}: next slot in {wait:.1f} s")
        rate = budget.rate_per_second or settings.VIGIA_HOST_RATE
        budget.next_slot_at = slot + timedelta(seconds=MARGIN / rate)
        budget.save(update_fields=["next_slot_at"])
    if wait > 0:
        time.sleep(wait)
    return wait


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
