"""The one classification of what upstreams and providers answer, for every outbound caller: fetch (sources),
the DJEN client, the http_request job kind and each channel kind.

Four outcomes, each an error class from scheduler.errors that says what happens next (as healthchecks'
transports do):

- transient (TransientError): it may pass: network trouble, timeouts, 408, 425, 5xx. Retried with backoff.
- rate-limited (RateLimited): slow down: 429, and a 503 that names a Retry-After. Retried, never sooner than
  the wait the answer names (Retry-After in seconds or as a date), else the caller's default.
- permanent (PermanentError): retrying cannot help: any other 4xx, a malformed request, a forbidden
  destination (outbound.Refused), too many redirects. Recorded, not retried.
- channel down (ChannelDown): the channel itself cannot send until an operator acts. Only a provider's own
  answers say so (a logged-out WhatsApp session, a token it does not know): each channel kind maps its
  provider's vocabulary onto these outcomes, and the HTTP-level part (statuses, network errors) is here.

A Verdict is the outcome plus a short reason ("HTTP 503", "timed out after 15 s", "connection refused") and
the wait; callers phrase the message (which host, which provider) and raise `verdict.error(message)`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from scheduler.errors import ChannelDown, JobError, PermanentError, RateLimited, TransientError

TRANSIENT_STATUSES = frozenset({408, 425})  # and every 5xx
RETRY_AFTER_STATUSES = frozenset({429, 503})  # where a Retry-After is read
OUTCOMES = {  # most specific first
    ChannelDown: "channel down",
    PermanentError: "permanent",
    RateLimited: "rate-limited",
    TransientError: "transient",
}


@dataclass(frozen=True)
class Verdict:
    kind: type[JobError]  # TransientError, RateLimited, PermanentError or ChannelDown
    reason: str  # short, for messages: "HTTP 503", "timed out after 15 s", "connection refused"
    wait: float | None = None  # seconds the answer asked us to wait (a floor for the retry)

    @property
    def outcome(self) -> str:
        return outcome(self.kind)

    @property
    def retried(self) -> bool:
        return not self.kind.permanent

    def error(self, message: str | None = None, result: dict[str, Any] | None = None) -> JobError:
        """The exception to raise: `message` (default: the reason), the verdict's class and wait."""
        return self.kind(message or self.reason, result=result, retry_after=self.wait)


def outcome(error: BaseException | type[BaseException]) -> str:
    """'transient', 'rate-limited', 'permanent' or 'channel down' for an error (instance or class)."""
    cls = error if isinstance(error, type) else type(error)
    return next((name for kind, name in OUTCOMES.items() if issubclass(cls, kind)), "transient")


def of_status(status: int, headers: Mapping[str, str] | None = None, default_wait: float | None = None) -> Verdict:
    """The verdict on an HTTP answer its caller did not accept (callers decide what success is: 2xx, 304,
    the statuses a job expects)."""
    reason = f"HTTP {status}"
    wait = retry_after(headers) if status in RETRY_AFTER_STATUSES else None
    if status == 429:
        return Verdict(RateLimited, reason, default_wait if wait is None else wait)
    if status == 503 and wait is not None:
        return Verdict(RateLimited, reason, wait)
    if status >= 500 or status in TRANSIENT_STATUSES:
        return Verdict(TransientError, reason)
    return Verdict(PermanentError, reason)


def of_exception(exc: BaseException, timeout: float | None = None) -> Verdict:
    """The verdict on an httpx error raised while asking (outbound.Refused is already a PermanentError and
    is raised as it is). The reason never quotes the request: an invalid header's message may hold a value."""
    if isinstance(exc, httpx.TimeoutException | TimeoutError):  # TimeoutError: outbound.read_capped's deadline
        return Verdict(TransientError, f"timed out after {timeout:g} s" if timeout else "timed out")
    if isinstance(exc, httpx.TooManyRedirects):
        return Verdict(PermanentError, "too many redirects")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL):
        return Verdict(PermanentError, "invalid request")  # our own request is unusable
    return Verdict(TransientError, reason(exc))  # refused, reset, DNS, TLS, a garbled or cut answer


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date; a date in the past is 0), or None."""
    value = ((headers or {}).get("retry-after") or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def reason(exc: BaseException) -> str:
    """A short cause: 'connection refused' rather than '[Errno 111] Connection refused'."""
    text = str(exc) or type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text.splitlines()[0])
    return text[:1].lower() + text[1:200]
