"""Errors a job kind raises. Like healthchecks' transports, each says whether retrying can help."""

from typing import Any


class JobError(Exception):
    """A run failed. Transient by default: the retry policy applies."""

    permanent = False

    def __init__(self, message: str, result: dict[str, Any] | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.retry_after = retry_after  # seconds the upstream asked us to wait (a floor for the backoff)


class TransientError(JobError):
    """Worth retrying: network errors, timeouts, 5xx, 429."""


class PermanentError(JobError):
    """Retrying cannot help: bad parameters, 4xx, a rejected request. Recorded and not retried."""

    permanent = True


class RateLimited(TransientError):
    """The upstream or provider asked us to slow down: retried, never sooner than `retry_after` (its
    Retry-After, else the caller's default)."""


class ChannelDown(PermanentError):
    """The channel itself cannot send (a WhatsApp session logged out or not connected, a token the provider
    does not know, a URL that does not lead to its API): every message would fail alike until an operator
    fixes it. The delivery fails at once, nothing is retried, and the channel is reported down."""


class RunTimeout(BaseException):
    """Raised inside a run when its timeout expires (BaseException so handlers cannot swallow it)."""


class RunCancelled(BaseException):
    """Raised inside a run when an operator cancels it."""


class JobDataError(PermanentError):
    """The job's own stored data cannot be used: its kind is not installed, its params (or the object it
    works on, such as a source's config) no longer pass validation. The run fails and the job is paused
    with this reason, so one bad row stops only itself."""
