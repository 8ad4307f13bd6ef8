"""Errors a job kind raises. Like healthchecks' transports, each says whether retrying can help."""


class JobError(Exception):
    """A run failed. Transient by default: the retry policy applies."""

    permanent = False

    def __init__(self, message, result=None, retry_after=None):
        super().__init__(message)
        self.result = result
        self.retry_after = retry_after  # seconds the upstream asked us to wait (a floor for the backoff)


class TransientError(JobError):
    """Worth retrying: network errors, timeouts, 5xx, 429."""


class PermanentError(JobError):
    """Retrying cannot help: bad parameters, 4xx, a rejected request. Recorded and not retried."""

    permanent = True


class RunTimeout(BaseException):
    """Raised inside a run when its timeout expires (BaseException so handlers cannot swallow it)."""


class RunCancelled(BaseException):
    """Raised inside a run when an operator cancels it."""
