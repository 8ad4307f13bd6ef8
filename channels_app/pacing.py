"""A channel's pace (messages per minute) shared by every worker on every host: the next free slot lives on
the Channel row. reserve() takes it and moves it one spacing on in a short locked transaction; the wait
happens outside, so waiting never holds a lock (as scrapers.ratelimit does for hosts)."""

import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from channels_app.models import Channel

# Slots 8 % wider than 60/pace: a send leaves its slot a few milliseconds late, by varying amounts, and two
# neighbours can land closer than their slots; the margin keeps pace + 1 out of any 1-second window.
MARGIN = 1.08


def reserve(channel, max_wait=None):
    """Wait for the channel's next slot and take it (at once for an unpaced channel). Returns None when
    sent in time; when the slot is more than `max_wait` seconds away, takes nothing and returns that time."""
    if not channel.pace_per_minute:
        return None  # no lock to take: unpaced channels send as fast as the workers go
    with transaction.atomic():
        channel = Channel.objects.select_for_update().only("pace_per_minute", "next_send_at").get(pk=channel.pk)
        if not channel.pace_per_minute:
            return None
        now = timezone.now()
        slot = max(now, channel.next_send_at)
        wait = (slot - now).total_seconds()
        if max_wait is not None and wait > max_wait:
            return slot
        channel.next_send_at = slot + timedelta(seconds=MARGIN * 60 / channel.pace_per_minute)
        channel.save(update_fields=["next_send_at"])
    if wait > 0:
        time.sleep(wait)
    return None
