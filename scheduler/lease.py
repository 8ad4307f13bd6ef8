"""Leader election: one database row per role, held by whoever renewed it last and not yet expired.

Renewal happens inside every dispatch transaction too (`fence`), so a leader that stalled past its
lease cannot dispatch: its transaction finds the lease gone and rolls back.
"""

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.utils import timezone

from scheduler.models import Lease
from scheduler.shared import rawsql

SCHEDULER = "scheduler"


class LostLease(Exception):
    pass


def identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def try_acquire(holder: str, ttl: float, name: str = SCHEDULER) -> bool:
    """Take or renew the lease; True when `holder` is the leader for the next `ttl` seconds."""
    now = timezone.now()
    expires = now + timedelta(seconds=ttl)
    if _renew(holder, name, now, expires):
        return True  # renewed (even if it had lapsed: nobody else took it)
    _ensure(name)
    # Take it over only once it has expired; concurrent standbys race on this one UPDATE.
    return bool(
        Lease.objects.filter(name=name)
        .filter(Q(expires_at__lt=now) | Q(expires_at__isnull=True))
        .update(holder=holder, expires_at=expires, renewed_at=now, acquired_at=now)
    )


def fence(holder: str, ttl: float, name: str = SCHEDULER) -> None:
    """Inside a transaction: renew the lease or raise LostLease. Locks the lease row until commit."""
    sql, params = fence_statement(holder, ttl, name)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fenced(cursor.rowcount, holder, name)


def fence_statement(holder: str, ttl: float, name: str = SCHEDULER) -> tuple[str, list[Any]]:
    """(sql, params) of fence(), for a caller that runs it together with its own statements; pass the
    rowcount to fenced()."""
    now = timezone.now()
    sql = rawsql.statement("lease", _Statements)
    adapt = sql.conn.ops.adapt_datetimefield_value
    return sql.fence, [adapt(now + timedelta(seconds=ttl)), adapt(now), name, holder, adapt(now)]


def fenced(rowcount: int, holder: str, name: str = SCHEDULER) -> None:
    if not rowcount:
        raise LostLease(f"{holder} no longer holds the {name} lease")


def _renew(holder: str, name: str, now: datetime, expires: datetime) -> int:
    """Lease.objects.filter(name=name, holder=holder).update(expires_at=expires, renewed_at=now), as one
    prepared statement (the leader runs it every few seconds)."""
    sql = rawsql.statement("lease", _Statements)
    adapt = sql.conn.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql.renew, [adapt(expires), adapt(now), name, holder])
        return cursor.rowcount


class _Statements:
    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        self.conn = conn
        table = rawsql.quoted(conn, Lease._meta.db_table)
        column = {f.name: rawsql.quoted(conn, f.column) for f in Lease._meta.concrete_fields}
        self.renew = (
            f"UPDATE {table} SET {column['expires_at']} = %s, {column['renewed_at']} = %s "
            f"WHERE {column['name']} = %s AND {column['holder']} = %s"
        )
        self.fence = f"{self.renew} AND {column['expires_at']} > %s"


def release(holder: str, name: str = SCHEDULER) -> None:
    Lease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now(), holder="")


def current(name: str = SCHEDULER) -> Lease | None:
    return Lease.objects.filter(name=name).first()


def _ensure(name: str) -> None:
    if not Lease.objects.filter(name=name).exists():
        try:
            with transaction.atomic():
                Lease.objects.create(name=name)
        except IntegrityError:
            pass  # another replica created it first
