"""The per-host rate limit: a budget per host (scheduler.shared.budgets) named "host:<host_key>", shared by every
worker process on every machine.

Its default rate is VIGIA_HOST_RATE requests per second; an operator sets a host's own in the admin's
*Host budgets* (the row's rate overrides the default). acquire() takes the host's next slot on the
database's clock and sleeps until it outside any transaction, so waiting never holds a lock: call it
outside atomic blocks.
"""

from django.conf import settings

from scheduler.shared import budgets
from scheduler.shared.budgets import host_key  # noqa: F401 - re-exported: channels_app's attachments share it

PREFIX = "host:"

# Slots are spaced 3 % wider than 1/rate. Requests leave a little after their slot (sleep overshoot,
# scheduling, connection setup) and by varying amounts, so two neighbouring requests can land closer than
# their slots were; with exact spacing, rate + 1 requests could then fall in one 1-second window. The
# margin absorbs up to 30 ms of such jitter per second at a cost of 3 % of the throughput.
MARGIN = 1.03


def budget_name(host: str) -> str:
    """The budget of a host key: "host:example.org"."""
    return PREFIX + host.lower()


def acquire(host: str, max_wait: float | None = None) -> float:
    """Wait for the host's next request slot; return the seconds waited.

    Raises budgets.SlotTooFar (a TransientError whose retry_after is the wait), reserving nothing, when the
    slot is more than `max_wait` seconds away.
    """
    return budgets.wait_for(budget_name(host), settings.VIGIA_HOST_RATE, max_wait=max_wait, margin=MARGIN)


def hold(host: str, seconds: float) -> None:
    """Keep every worker away from the host for `seconds` (it answered 429 or 503 with a wait): one
    worker's slow-down then applies to all, instead of each finding out with a request of its own."""
    budgets.hold(budget_name(host), seconds)


def set_rate(host: str, per_second: float | None) -> None:
    """Set a host's requests per second (None: back to VIGIA_HOST_RATE)."""
    budgets.set_rate(budget_name(host), per_second)
