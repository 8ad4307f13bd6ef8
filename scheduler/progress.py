"""A long run's progress, written on its Run row while it works, for the pages that follow it.

The handler runs in autocommit, so each write is its own short transaction that a page sees at once
(PostgreSQL, and SQLite in WAL mode). The run's final result replaces it when the run ends.
"""

import time

from scheduler.models import Run

EVERY_SECONDS = 1.0  # a page polls every second or two; more writes would only cost the database


class Throttled:
    """`progress(done, total, **figures)` that writes (`write`) at most every `every` seconds, and always at
    the end. RunProgress writes on a Run; scrapers.people.transfers.Progress on a PeopleTransfer."""

    def __init__(self, every: float = EVERY_SECONDS) -> None:
        self.last: float | None
        self.every, self.last = every, None

    def __call__(self, done: int, total: int, **figures: object) -> None:
        now = time.monotonic()
        if done < total and self.last is not None and now - self.last < self.every:
            return
        self.last = now
        self.write(done, total, **figures)

    def write(self, done: int, total: int, **figures: object) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RunProgress(Throttled):
    """A run's own progress, as its result while it works."""

    def __init__(self, run_id: int | None, every: float = EVERY_SECONDS) -> None:
        super().__init__(every)
        self.run_id = run_id

    def write(self, done: int, total: int, **figures: object) -> None:
        if self.run_id is not None:  # run_job in the foreground has no Run row
            result = {"done": done, "total": total, **figures}
            Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING).update(result=result)


def of(run: Run) -> tuple[int, int, int] | None:
    """(done, total, percent) of a run still working, from what RunProgress wrote; None when it wrote nothing."""
    result = run.result if isinstance(run.result, dict) else {}
    done, total = result.get("done"), result.get("total")
    if run.is_final or not isinstance(done, int) or not isinstance(total, int) or total <= 0:
        return None
    return done, total, min(100, done * 100 // total)
