"""One POST for the HTTP channel kinds (webhook, wuzapi), through the process's one outbound client, judged by
scheduler.shared.answers as every outbound answer is.

`post()` returns the answer, whatever its status (a provider's own vocabulary is read by its kind, as
wuzapi.py does), and raises only when no answer came: timeouts and network trouble are transient, a
refused destination (outbound.Refused) or an unusable URL permanent. `check()` is the verdict on a plain
HTTP receiver's answer (the webhook's): 2xx is delivered, 429 rate-limited, 408/425/5xx transient, any
other status permanent.
"""

import json as jsonlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import httpx
from django.views.decorators.debug import sensitive_variables

from scheduler.errors import ChannelDown
from scheduler.shared import answers, outbound

TIMEOUT = 15.0  # the whole exchange, connection included
MAX_ANSWER_BYTES = 64 * 1024  # what is read of an answer: a provider's JSON, never a flood


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool = False
    _json: object = field(default=None, repr=False)

    def json(self) -> object:
        """The body as JSON, or None when it is not JSON."""
        if self._json is None:
            try:
                self._json = jsonlib.loads(self.body)
            except ValueError:
                self._json = ValueError  # remembered: not JSON
        return None if self._json is ValueError else self._json

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@sensitive_variables("headers")  # tokens (Wuzapi's Token header)
def post(
    url: str,
    *,
    json: object = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    who: str = "the server",
    timeout: float | None = None,
) -> Answer:
    """POST and return the Answer (status, headers, the first MAX_ANSWER_BYTES of the body) within `timeout`
    seconds (None: TIMEOUT)."""
    timeout = TIMEOUT if timeout is None else timeout
    headers = httpx.Headers(headers or {})
    headers.setdefault("Accept-Encoding", "identity")  # the cap stays a real bound: nothing inflates
    try:
        with (
            outbound.deadline(timeout),  # the whole exchange: a receiver answering a byte a second ends too
            outbound.client().stream(
                "POST", url, json=json, content=content, headers=headers, timeout=timeout
            ) as response,
        ):
            body, truncated = outbound.read_capped(response, MAX_ANSWER_BYTES, deadline=None)
    except (httpx.RequestError, TimeoutError) as exc:
        verdict = answers.of_exception(exc, timeout)
        if verdict.reason.startswith("timed out"):
            raise verdict.error(f"{who} did not answer within {timeout:g} s") from None
        if not verdict.retried:
            raise verdict.error(f"invalid request to {who} (check the URL)") from None
        raise verdict.error(f"{who} unreachable: {type(exc).__name__}") from None
    return Answer(response.status_code, response.headers, body, truncated)


def check(answer: Answer, who: str = "the server", down: Collection[int] = ()) -> Answer:
    """Return the answer when it is a 2xx; raise the verdict of scheduler.shared.answers otherwise. `down`: statuses
    that say the channel itself is misconfigured (every message would be refused alike): ChannelDown."""
    if answer.ok:
        return answer
    verdict = answers.of_status(answer.status, answer.headers)
    if answer.status in down:
        raise ChannelDown(f"{who} refuses every message: HTTP {answer.status}{detail(answer)}")
    if verdict.retried:
        raise verdict.error(f"{who} answered HTTP {answer.status}{detail(answer)}")
    raise verdict.error(f"{who} refused the message: HTTP {answer.status}{detail(answer)}")


def detail(answer: Answer) -> str:
    """' (the error text)' from a JSON answer's error, message or detail, else ''."""
    body = answer.json()
    if isinstance(body, dict):
        text = body.get("error") or body.get("message") or body.get("detail")
        if isinstance(text, str) and text:
            return f" ({text[:200]})"
    return ""
