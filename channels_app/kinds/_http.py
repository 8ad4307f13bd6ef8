"""One POST for the HTTP kinds, with the transient/permanent verdict of healthchecks' transports."""

import functools
import os

import httpx
from django.views.decorators.debug import sensitive_variables

from scheduler import outbound
from scheduler.errors import PermanentError, TransientError

TIMEOUT = 15.0


@functools.cache
def _client(pid):
    # One client per process (keyed by pid: a forked worker must not share its parent's connections), so
    # sends reuse their connections.
    # The outbound guard's transport: loopback, private and link-local addresses are refused (Refused, permanent).
    return httpx.Client(timeout=TIMEOUT, transport=outbound.transport())


@sensitive_variables("headers")  # tokens (Wuzapi's Token header)
def post(url, *, json=None, content=None, headers=None, who="the server"):
    """POST and return the response; raise TransientError for what may pass, PermanentError otherwise."""
    try:
        with outbound.deadline(TIMEOUT):  # the whole exchange: a receiver answering a byte a second ends too
            response = _client(os.getpid()).post(url, json=json, content=content, headers=headers)
    except httpx.TimeoutException:
        raise TransientError(f"{who} did not answer within {TIMEOUT:g} s") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError):
        raise PermanentError(f"invalid request to {who} (check the URL)") from None
    except httpx.RequestError as exc:
        raise TransientError(f"{who} unreachable: {type(exc).__name__}") from None
    status = response.status_code
    if status == 429 or status == 408 or status >= 500:
        raise TransientError(f"{who} answered HTTP {status}{_detail(response)}", retry_after=_retry_after(response))
    if status >= 400:
        raise PermanentError(f"{who} refused the message: HTTP {status}{_detail(response)}")
    return response


def _retry_after(response):
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _detail(response):
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        detail = body.get("error") or body.get("message") or body.get("detail")
        if isinstance(detail, str) and detail:
            return f" ({detail[:200]})"
    return ""
