"""A channel's pace (messages per minute) shared by every worker on every host: a budget per channel
(scheduler.shared.budgets) named "channel:<pk>", at pace_per_minute / 60 messages per second, its slots taken on
the database's clock. The wait happens outside any transaction, so waiting never holds a lock."""

from datetime import datetime
from typing import TYPE_CHECKING

from scheduler.shared import budgets

if TYPE_CHECKING:
    from channels_app.models import Channel

# Slots 8 % wider than 60/pace: a send leaves its slot a few milliseconds late, by varying amounts, and two
# neighbours can land closer than their slots; the margin keeps pace + 1 out of any 1-second window.
MARGIN = 1.08


def budget_name(channel: "Channel") -> str:
    """The budget of a channel: "channel:7"."""
    return f"channel:{channel.pk}"


def reserve(channel: "Channel", max_wait: float | None = None) -> datetime | None:
    """Wait for the channel's next slot and take it (at once for an unpaced channel). Returns None when
    sent in time; when the slot is more than `max_wait` seconds away, takes nothing and returns when it
    will be free (a datetime on this process's clock)."""
    if not channel.pace_per_minute:
        return None  # nothing to take: unpaced channels send as fast as the workers go
    try:
        budgets.wait_for(budget_name(channel), channel.pace_per_minute / 60, max_wait=max_wait, margin=MARGIN)
    except budgets.SlotTooFar as far:
        return far.not_before
    return None
