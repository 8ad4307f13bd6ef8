"""How the scheduler leader sleeps: until its next due time, a stop signal, or a change to what is due.

On PostgreSQL the leader LISTENs on CHANNEL. Triggers (migration 0005) NOTIFY it when a job becomes due
sooner than before (created, enabled, its next_run_at moved earlier, by any path: the ORM, bulk_create,
update(), the admin, raw SQL) and when a retry starts waiting. So an idle leader wakes only for its next
due time, its lease renewal and its chores, instead of looking at the tables every POLL seconds, and still
notices a new or edited job at once. A notification carries no data: it only says "look again" (one
query, scheduler.dispatch.next_wakes). Notifications sent by the dispatcher's own transactions are not
needed (its advances only move due times later) and the triggers leave them out.

Elsewhere (SQLite) nothing can tell the leader, so it looks again every POLL seconds, as before.

A stop signal wakes the sleep at once through a pipe (`poke`, safe to call from a signal handler).
"""

import logging
import os
import select
from typing import TYPE_CHECKING, Any

from django.db import connection

if TYPE_CHECKING:
    from psycopg import Connection, Notify

log = logging.getLogger("vigia.scheduler")

CHANNEL = "vigia_dispatch"
QUEUE_CHANNEL = "vigia_queue"  # a task was queued, or put back: a cluster's pusher looks (scheduler.djq)
POLL = 0.25  # without notifications, new or edited jobs are noticed within this


class Waker:
    def __init__(self, channel: str = CHANNEL) -> None:
        self.channel = channel
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._listening_on: Connection[Any] | None = None  # the DB-API (psycopg) connection this process LISTENs on
        self._announced = False  # a notification arrived since the last changed()

    def close(self) -> None:
        self.stop_listening()
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass

    def poke(self) -> None:
        """Wake the sleep now (from a signal handler, or another thread)."""
        try:
            os.write(self._write, b"!")
        except OSError:  # the pipe is full: a wake-up is already waiting
            pass

    @property
    def listening(self) -> bool:
        """True while changes are announced (PostgreSQL): the leader need not poll."""
        raw = self._listening_on
        return raw is not None and raw is connection.connection and not raw.closed

    def changed(self) -> bool:
        """Make sure this process LISTENs on its current connection; True when what is due may have changed
        since the last call (a notification arrived, the connection is new, or there is no way to know).

        Notifications reach `_heard` whenever psycopg reads from the connection (during any query, or in
        sleep()), so this costs no round trip and no system call."""
        if self.listening:
            announced, self._announced = self._announced, False
            return announced
        if connection.vendor != "postgresql":
            return True
        connection.ensure_connection()
        raw = connection.connection
        if not hasattr(raw, "add_notify_handler"):  # not psycopg 3: poll
            return True
        self._forget()
        raw.add_notify_handler(self._heard)
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {self.channel}")
        self._listening_on, self._announced = raw, False
        return True  # what happened before we listened was not announced: look

    def stop_listening(self) -> None:
        """No longer the leader: notifications would only pile up."""
        raw = self._listening_on
        if raw is not None and raw is connection.connection and not raw.closed:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"UNLISTEN {self.channel}")
            except Exception:  # noqa: BLE001 - a broken connection listens to nothing anyway
                log.warning("could not UNLISTEN", exc_info=True)
        self._forget()

    def _forget(self) -> None:
        raw, self._listening_on = self._listening_on, None
        if raw is not None:
            try:
                raw.remove_notify_handler(self._heard)
            except ValueError:
                pass

    def _heard(self, notify: "Notify") -> None:
        self._announced = True

    def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`; wake early on a poke or (when listening) on data from the database."""
        raw = self._listening_on if self.listening else None
        socket = None if raw is None else raw.fileno()
        ready, _, _ = select.select([self._read] if socket is None else [self._read, socket], [], [], max(0.0, seconds))
        if self._read in ready:
            try:
                while os.read(self._read, 512):
                    pass
            except OSError:  # drained (BlockingIOError) or closed
                pass
        if socket is not None and socket in ready:
            # Read what the server sent while we slept: a notification (or a notice, or news that the
            # connection broke, which raises here and is handled as any database error).
            assert raw is not None  # the socket is its
            pgconn = raw.pgconn
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                self._announced = True
