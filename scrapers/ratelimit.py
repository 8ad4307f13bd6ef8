"""The per-host rate limit: a budget per host (scheduler.shared.budgets) named "host:<host_key>", shared by every
worker process on every machine.

Its default rate is VIGIA_HOST_RATE requests per second; an operator sets a host's own in the admin's
*Host budgets* (the row's rate overrides the default). acquire() takes the host's next slot on the
database's clock and sleeps until it outside any transaction, so waiting never holds a lock: call it
outside atomic blocks.
"""

from scheduler.shared import budgets
from scheduler.shared.budgets import host_key  # noqa: F401 - re-exported: channels_app's attachments share it

PREFIX = budgets.HOST_PREFIX
budget_name = budgets.host_budget


def acquire(host: str, max_wait: float | None = None) -> float:
    """Wait for the host's next request slot; return the seconds waited.

    Raises budgets.SlotTooFar (a TransientError whose retry_after is the wait), reserving nothing, when the
    slot is more than `max_wait` seconds away.
    """
    return budgets.wait_for_host(host, max_wait=max_wait)


def hold(host: str, seconds: float) -> None:
    """Keep every worker away from the host for `seconds` (it answered 429 or 503 with a wait): one
    worker's slow-down then applies to all, instead of each finding out with a request of its own."""
    budgets.hold(budget_name(host), seconds)


def set_rate(host: str, per_second: float | None) -> None:
    """Set a host's requests per second (None: back to VIGIA_HOST_RATE)."""
    budgets.set_rate(budget_name(host), per_second)
