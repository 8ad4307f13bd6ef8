"""Log lines: one per event, carrying the ids of what it is about; JSON objects when VIGIA_LOG_FORMAT=json.

- The ids passed in `extra` (run, job, source, person, delivery...) become `key=value` pairs in text and
  fields in JSON; `log_context(run=..., job=...)` adds ids to every line logged inside it (the console
  handler's LogContextFilter), so a kind's own lines name the run they belong to.
- A JSON line is always one line: the traceback is its `exception` field.
- RedactSecretsFilter masks secret-looking values (Authorization and token headers, `token=` and
  `password=` parameters, passwords in URLs, and the values handed to `remember_secrets`) in the message,
  the extras and the traceback, before any formatter sees them.
"""

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, overload

# Attributes every LogRecord has; anything else was passed in `extra` (run, job, source ids...).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_PLAIN = (str, int, float, bool, type(None))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


def _shown(value: object) -> object:
    """An extra as a line shows it: plain values as they are, objects (a request...) as redacted text."""
    return value if isinstance(value, _PLAIN) else redact(str(value))


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...`: the ids passed in `extra` stay on the line."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        pairs = " ".join(f"{key}={_shown(value)}" for key, value in _extras(record).items())
        if pairs:  # on the event's own line, above any traceback
            line = f"{line} {pairs}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=_shown)


# --- ids of the work under way -----------------------------------------------------------------

_context: ContextVar[dict[str, object] | None] = ContextVar("vigia_log_context", default=None)  # a dict of ids once set


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Every line logged inside (in this thread or task) carries these ids, unless it names its own."""
    token = _context.set({**(_context.get() or {}), **ids})
    try:
        yield
    finally:
        _context.reset(token)


class LogContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# --- secrets -----------------------------------------------------------------------------------

MASK = "***"
_SECRET_NAME = r"[\w-]*(?:token|password|passwd|secret|api[-_]?key|apikey|signature|credential)[\w-]*"
_PATTERNS = [
    # Authorization: Bearer abc / 'Authorization': 'Basic abc' / authorization=abc
    re.compile(
        r"(?i)(\b(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|token|digest)\s+)?)[^'\"\s,;&}]+"
    ),
    # token=abc (query strings, forms), Token: abc (headers), 'password': 'abc' (dict reprs), "api_key": "abc"
    re.compile(rf"(?i)(\b{_SECRET_NAME}['\"]?\s*[:=]\s*['\"]?)[^'\"\s,;&}}]+"),
    # scheme://user:password@host (database URLs, SMTP and Apprise URLs)
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)[^/\s@'\"]+(?=@)"),
]
_SECRET_KEY = re.compile(rf"(?i)^{_SECRET_NAME}$|^authorization$")
# Exact secret values (channel tokens...) registered by the code that decrypts them, oldest first. Bounded: a
# source's login session is decrypted on each check and a site may renew its cookies on every answer, so the
# values would pile up for the life of the worker (and every log line is checked against each). The newest
# MAX_KNOWN stay: what the process decrypted lately is what it may log.
_known: dict[str, None] = {}
_known_lock = threading.Lock()
MAX_KNOWN = 4096
MIN_KNOWN_LENGTH = 6  # shorter values would mask ordinary words


def remember_secrets(values: Iterable[object]) -> None:
    """Mask these exact values wherever they appear in a log line from now on (this process)."""
    fresh = [str(v) for v in values if v and len(str(v)) >= MIN_KNOWN_LENGTH]
    with _known_lock:
        for value in fresh:
            _known.pop(value, None)  # to the newest end
            _known[value] = None
        while len(_known) > MAX_KNOWN:
            del _known[next(iter(_known))]


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
def redact(text: str | None) -> str | None:
    if not text:
        return text
    for value in tuple(_known):  # a snapshot: another thread may be adding
        if value in text:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record in place (message rendered with its arguments, string extras, traceback text),
    so every formatter and handler after it sees the masked text only."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call is logging's own error to report
            return True
        record.msg, record.args = redact(message), None
        for key, value in _extras(record).items():
            if _SECRET_KEY.match(key) and value not in (None, ""):
                setattr(record, key, MASK)
            elif isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(record.exc_text)
        record.stack_info = redact(record.stack_info)
        return True
