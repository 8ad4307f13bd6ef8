"""`python manage.py scheduler`: a dispatcher replica. Run as many as you like; one leads at a time."""

import logging
import signal
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connection
from django.utils import timezone

from scheduler import dispatch, everywhere, lease, periodic, reaper, wakeups

log = logging.getLogger("vigia.scheduler")
POLL = wakeups.POLL  # without notifications (SQLite), new or edited jobs are noticed within this (the issue asks 0.5 s)
REAP_EVERY = 5.0

periodic.register("reap_lost_runs", REAP_EVERY, lambda: dict(zip(("requeued", "failed"), reaper.reap(), strict=True)))


class _Stop:
    """A stop flag that also wakes the leader's sleep (set from a signal handler)."""

    def __init__(self, waker: wakeups.Waker) -> None:
        self.waker = waker
        self.flag = False

    def set(self) -> None:
        self.flag = True
        self.waker.poke()

    def is_set(self) -> bool:
        return self.flag

    def wait(self, seconds: float) -> None:
        if not self.flag:
            self.waker.sleep(seconds)


class Command(BaseCommand):
    help = "Run the scheduler: elect a leader, dispatch due runs on the second, reap lost runs."
    # The web server and `manage.py check` (CI) run the system checks; here they would only load the URL
    # configuration, the API and every view into a process that serves none of them (~10 MB, kept).
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Dispatch what is due now and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        me = lease.identity()
        if options["once"]:
            if lease.try_acquire(me, settings.VIGIA_LEASE_TTL):
                self.stdout.write(f"dispatched {dispatch.dispatch_due(me)} run(s)")
                lease.release(me)
            else:
                self.stderr.write("another scheduler holds the lease")
            return
        waker = wakeups.Waker()
        stop = _Stop(waker)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        log.info("scheduler starting", extra={"holder": me})
        try:
            self.serve(me, stop, waker)
        finally:
            waker.close()
        lease.release(me)
        log.info("scheduler stopped", extra={"holder": me})

    def serve(self, me: str, stop: _Stop, waker: wakeups.Waker) -> None:
        ttl = settings.VIGIA_LEASE_TTL
        renew_every = ttl / 5
        leading, last_renew = False, 0.0
        # (earliest job due time, earliest retry due time) from the last look; None: look again. While the
        # leader LISTENs, nothing can make something due sooner without a notification, so a wake-up at the
        # due time goes straight to dispatching; a look every `ttl` seconds anyway, whatever was announced.
        known: dispatch.Wakes | None
        known, looked_at = None, 0.0
        while not stop.is_set():
            everywhere.run_due()  # every replica, leading or not, and while the database is away (never raises)
            try:
                now_mono = time.monotonic()
                if not leading or now_mono - last_renew >= renew_every:
                    was_leading, leading = leading, lease.try_acquire(me, ttl)
                    last_renew = now_mono
                    if leading != was_leading:
                        log.info("leadership " + ("acquired" if leading else "lost"), extra={"holder": me})
                if not leading:
                    known = None
                    waker.stop_listening()
                    stop.wait(min(0.5, ttl / 10))
                    continue
                if waker.changed() or known is None or now_mono - looked_at >= ttl:
                    known, looked_at = dispatch.next_wakes(), now_mono
                jobs_at, retries_at = known
                now = timezone.now()
                jobs_due = jobs_at is not None and jobs_at <= now
                retries_due = retries_at is not None and retries_at <= now
                if jobs_due or retries_due:
                    done = dispatch.dispatch_and_look(me, known_due=True, jobs=jobs_due, retries=retries_due)
                    if done.committed:
                        last_renew = now_mono  # its fence renewed the lease
                    known, looked_at = done.wakes, now_mono
                    if done.queued:
                        continue  # what the batch left (or what fell due meanwhile) is looked at at once
                    soonest = _soonest(known)
                    if known is None or (soonest is not None and soonest <= timezone.now()):
                        known = None  # due but nothing dispatched (rows locked elsewhere): no busy loop
                periodic.run_due()
                stop.wait(self._sleep_for(known, last_renew + renew_every, waker.listening))
                if not waker.listening:
                    known = None  # nothing announces changes: look again after every sleep
            except lease.LostLease:
                leading, known = False, None
                log.warning("lease lost while dispatching", extra={"holder": me})
            except Exception:  # the database may be restarting: keep trying, never die
                log.exception("scheduler loop error")
                leading, known = False, None
                close_old_connections()
                connection.close()
                stop.wait(1.0)

    @staticmethod
    def _sleep_for(known: dispatch.Wakes | None, renew_at: float, listening: bool) -> float:
        """Seconds until the next thing to do: the next due time, the lease renewal, a chore. At most POLL
        without notifications, or when the next due time is not known."""
        now_mono = time.monotonic()
        limits = [renew_at - now_mono]
        if known is None or not listening:
            limits.append(POLL)
        for chore_at in (periodic.next_due(), everywhere.next_due()):
            if chore_at is not None:
                limits.append(chore_at - now_mono)
        soonest = _soonest(known)
        if soonest is not None:
            limits.append((soonest - timezone.now()).total_seconds())
        return max(0.0, min(limits))


def _soonest(known: dispatch.Wakes | None) -> datetime | None:
    """The earlier of the known due times (None: nothing known, or nothing scheduled)."""
    return min((moment for moment in known if moment is not None), default=None) if known else None
