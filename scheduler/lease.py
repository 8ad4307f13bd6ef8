"""Leader election: one database row per role, held by whoever renewed it last and not yet expired.

Renewal happens inside every dispatch transaction too (`fence`), so a leader that stalled past its
lease cannot dispatch: its transaction finds the lease gone and rolls back.
"""

import os
import socket
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from scheduler.models import Lease

SCHEDULER = "scheduler"


class LostLease(Exception):
    pass


def identity():
    return f"{socket.gethostname()}:{os.getpid()}"


def try_acquire(holder, ttl, name=SCHEDULER):
    """Take or renew the lease; True when `holder` is the leader for the next `ttl` seconds."""
    now = timezone.now()
    _ensure(name)
    expires = now + timedelta(seconds=ttl)
    if Lease.objects.filter(name=name, holder=holder).update(expires_at=expires, renewed_at=now):
        return True  # renewed (even if it had lapsed: nobody else took it)
    # Take it over only once it has expired; concurrent standbys race on this one UPDATE.
    return bool(
        Lease.objects.filter(name=name)
        .filter(Q(expires_at__lt=now) | Q(expires_at__isnull=True))
        .update(holder=holder, expires_at=expires, renewed_at=now, acquired_at=now)
    )


def fence(holder, ttl, name=SCHEDULER):
    """Inside a transaction: renew the lease or raise LostLease. Locks the lease row until commit."""
    now = timezone.now()
    renewed = Lease.objects.filter(name=name, holder=holder, expires_at__gt=now).update(
        expires_at=now + timedelta(seconds=ttl), renewed_at=now
    )
    if not renewed:
        raise LostLease(f"{holder} no longer holds the {name} lease")


def release(holder, name=SCHEDULER):
    Lease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now(), holder="")


def current(name=SCHEDULER):
    return Lease.objects.filter(name=name).first()


def _ensure(name):
    if not Lease.objects.filter(name=name).exists():
        try:
            with transaction.atomic():
                Lease.objects.create(name=name)
        except IntegrityError:
            pass  # another replica created it first
