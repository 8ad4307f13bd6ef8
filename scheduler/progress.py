"""A long run's progress, written on its Run row while it works, for the pages that follow it.

The handler runs in autocommit, so each write is its own short transaction that a page sees at once
(PostgreSQL, and SQLite in WAL mode). The run's final result replaces it when the run ends.
"""

import time

from scheduler.models import Run

EVERY_SECONDS = 1.0  # a page polls every second or two; more writes would only cost the database


class RunProgress:
    """`progress(done, total, **figures)`: written at most every `every` seconds, and always at the end."""

    def __init__(self, run_id, every=EVERY_SECONDS):
        self.run_id, self.every, self.last = run_id, every, None

    def __call__(self, done, total, **figures):
        now = time.monotonic()
        if done < total and self.last is not None and now - self.last < self.every:
            return
        self.last = now
        if self.run_id is not None:  # run_job in the foreground has no Run row
            result = {"done": done, "total": total, **figures}
            Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING).update(result=result)


def of(run):
    """(done, total, percent) of a run still working, from what RunProgress wrote; None when it wrote nothing."""
    result = run.result if isinstance(run.result, dict) else {}
    done, total = result.get("done"), result.get("total")
    if run.is_final or not isinstance(done, int) or not isinstance(total, int) or total <= 0:
        return None
    return done, total, min(100, done * 100 // total)
