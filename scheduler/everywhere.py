"""Hooks every live Vigia process runs, not only the scheduler leader (scheduler.periodic has the leader's).

The system watchdog must speak up when the scheduler is the part that died, so its tick runs in every process
that is alive: each scheduler replica, leader or standby (its loop, scheduler/management/commands/scheduler.py),
each worker cluster's main process (the guard's stat hook in scheduler.djq, every guard cycle) and each web
process (a daemon thread, `start_thread()`, started by config.wsgi / config.asgi).

An app registers a hook from its AppConfig.ready(): `everywhere.register("watchdog", 15, tick)`. `func()` must
be quick, must tolerate running in several processes at once (they all run it), and should not raise: an
exception is logged and the hook runs again at its next time. `every_seconds` may be a callable, read at
each run (a setting the tests change).
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("vigia.scheduler")


@dataclass
class Hook:
    name: str
    every: Callable[[], float]
    func: Callable[[], object]
    due: float = 0.0  # monotonic time of the next run in this process
    running: bool = False


_hooks: dict[str, Hook] = {}
_lock = threading.Lock()
_thread_pid: int | None = None  # the process whose hook thread runs (a forked child starts its own)


def register(name: str, every_seconds: float | Callable[[], float], func: Callable[[], object]) -> None:
    """Run `func` every `every_seconds` in every live process."""
    every = every_seconds if callable(every_seconds) else (lambda seconds=float(every_seconds): seconds)
    _hooks[name] = Hook(name, every, func)


def hooks() -> list[Hook]:
    return list(_hooks.values())


def next_due() -> float | None:
    """The monotonic time at which the next hook is due (None: no hooks)."""
    return min((hook.due for hook in _hooks.values()), default=None)


def run_due(now_mono: float | None = None) -> dict[str, object]:
    """Run every hook whose time has come; returns {name: result}. Never raises. A hook still running in
    another thread of this process is not started again."""
    now_mono = time.monotonic() if now_mono is None else now_mono
    done: dict[str, object] = {}
    for hook in list(_hooks.values()):
        with _lock:
            if hook.running or now_mono < hook.due:
                continue
            hook.running = True
        try:
            hook.due = now_mono + max(0.1, float(hook.every()))
            done[hook.name] = hook.func()
        except Exception:  # noqa: BLE001 - a hook never stops the loop that runs it
            log.exception("hook failed", extra={"hook": hook.name})
        finally:
            hook.running = False
    return done


def start_thread() -> bool:
    """Run the hooks in a daemon thread of this process, for processes without a loop of their own (the web
    server's). Once per process; False when it already runs here or there is nothing to run."""
    global _thread_pid
    with _lock:
        if _thread_pid == os.getpid() or not _hooks:
            return False
        _thread_pid = os.getpid()
    threading.Thread(target=_loop, name="vigia-everywhere", daemon=True).start()
    return True


def _loop() -> None:
    from django.db import close_old_connections

    while True:
        close_old_connections()  # as around a request: an errored or too old connection is replaced
        run_due()
        close_old_connections()
        due = next_due()
        time.sleep(min(5.0, max(0.2, (due - time.monotonic()) if due is not None else 5.0)))
