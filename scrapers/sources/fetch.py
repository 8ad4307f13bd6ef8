"""Fetching a page for a scraper: every kind's HTTP goes through fetch().

Each request (every retry, every redirect hop) first takes a slot from the shared per-host rate limit.
The body is streamed under a hard size cap and decoded to text: the Content-Type charset, else the
document's own declaration, else detection. Requests go through the process's one outbound client
(scheduler.shared.outbound: kept-alive connections, every connection vetted) and answers are judged by
scheduler.shared.answers: transient and rate-limited ones are retried here a few times, then raised as such (a
later check may succeed); permanent ones are raised at once. Messages name the host, never the path, query
or header values: they may hold tokens.
"""

import codecs
import random
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from django.conf import settings

from scheduler.errors import PermanentError, TransientError
from scheduler.shared import answers, outbound
from scrapers import ratelimit

BACKOFF_BASE = 0.5  # seconds before the first retry; doubled for each further one, plus jitter
MAX_WAIT = 60.0  # without a deadline, a longer wait before a retry fails instead; the next check retries
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
REDIRECTS = {301, 302, 303, 307, 308}
CREDENTIALS = ("authorization", "proxy-authorization", "cookie")  # not sent on to another origin
SNIFF_BYTES = 4096  # where a document's own charset declaration is looked for
META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""", re.I)
HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.I)
# As browsers do (WHATWG Encoding): pages labelled Latin-1 or ASCII are really Windows-1252.
BROWSER_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252"}


@dataclass
class FetchResult:
    url: str  # after redirects, without user:password
    status: int
    headers: dict[str, str]  # lower-case names
    text: str
    encoding: str  # the codec used, e.g. "utf-8", "cp1252"; "" for a 304
    not_modified: bool
    elapsed_ms: int  # the whole fetch: rate-limit waits, retries and redirects included
    size: int  # body bytes after content decoding
    etag: str
    last_modified: str
    # Cookies the starting origin set along the way (every hop), name → value; None: the cookie was deleted.
    cookies: dict[str, str | None] = field(default_factory=dict)


def fetch(
    url: str | httpx.URL,
    *,
    method: str = "GET",
    headers: Mapping[str, object] | None = None,
    timeout: float = 15.0,
    user_agent: str | None = None,
    etag: str = "",
    last_modified: str = "",
    max_bytes: int | None = None,  # None: the VIGIA_FETCH_* setting (read per call, so tests can override it)
    max_redirects: int | None = None,
    retries: int | None = None,
    deadline: float | None = None,  # a time.monotonic() value no wait (rate limit, backoff, Retry-After) may pass
    retry_after_default: float | None = None,  # seconds to wait after a 429 that names no Retry-After (None: backoff)
    data: Mapping[str, str] | None = None,  # form fields, sent url-encoded (a login form's POST)
    # A cookie jar for the starting origin (a login session): sent with the request, and the cookies that host
    # sets on a redirect hop are sent on the next ones, as a browser does. None: no jar (cookies only reported).
    cookies: Mapping[str, str] | None = None,
) -> FetchResult:
    max_bytes = settings.VIGIA_FETCH_MAX_BYTES if max_bytes is None else max_bytes
    max_redirects = settings.VIGIA_FETCH_MAX_REDIRECTS if max_redirects is None else max_redirects
    retries = settings.VIGIA_FETCH_RETRIES if retries is None else retries
    started = time.monotonic()
    current, method = _checked_url(url, None), method.upper()
    request_headers = _request_headers(headers, user_agent, etag, last_modified)
    home, jar, collected = _origin(current), dict(cookies) if cookies is not None else None, {}
    if jar:
        request_headers = _with_cookies(request_headers, jar)
    failures = hops = 0
    # Redirects are followed here, not by httpx, so each hop takes its rate-limit slot and is checked.
    http = outbound.client()
    while True:
        where = ratelimit.host_key(current)
        ratelimit.acquire(where, max_wait=None if deadline is None else max(0.0, deadline - time.monotonic()))
        try:
            response, body = _attempt(http, method, current, request_headers, timeout, max_bytes, where, data)
            if _origin(current) == home:
                collected.update(_set_cookies(response))
            status = response.status_code
            if 200 <= status < 300 or status == 304:
                break
            if status in REDIRECTS and "location" in response.headers:
                hops += 1
                if hops > max_redirects:
                    raise PermanentError(f"too many redirects (more than {max_redirects})")
                was = method
                current, method, request_headers = _redirect(response, current, method, request_headers, where)
                data = data if method == was else None  # a POST turned GET drops its body
                if jar is not None and _origin(current) == home:
                    request_headers = _with_cookies(request_headers, {**jar, **collected})
                continue
            verdict = answers.of_status(status, response.headers, default_wait=retry_after_default)
            if not verdict.retried:
                raise verdict.error(f"{verdict.reason} from {where}", result={"http_status": status})
            raise _Retry(f"{verdict.reason} from {where}", verdict)
        except _Retry as problem:
            failures += 1
            if problem.wait:  # the server asked for a pause: every worker keeps it, not just this one
                ratelimit.hold(where, problem.wait)
            if failures > retries:
                raise problem.verdict.error(problem.message + _after_attempts(problem.message, failures))
            wait = problem.wait if problem.wait is not None else _backoff(failures)
            _pause(wait, deadline, problem)

    found = {name.lower(): value for name, value in response.headers.items()}
    result = FetchResult(
        url=str(current.copy_with(userinfo=b"") if current.userinfo else current),
        status=status,
        headers=found,
        text="",
        encoding="",
        not_modified=status == 304,
        elapsed_ms=0,
        size=len(body),
        # A 304 need not repeat the validators: keep the ones that were sent.
        etag=found.get("etag", etag if status == 304 else ""),
        last_modified=found.get("last-modified", last_modified if status == 304 else ""),
        cookies=collected,
    )
    if status != 304:
        result.text, result.encoding = decode(body, found.get("content-type", ""))
    result.elapsed_ms = int((time.monotonic() - started) * 1000)
    return result


class _Retry(Exception):
    """Something another attempt may fix: a transient or rate-limited verdict. `wait` is what the server
    asked for (Retry-After, or the caller's default after a 429), if anything."""

    def __init__(self, message: str, verdict: answers.Verdict) -> None:
        super().__init__(message)
        self.message, self.verdict, self.wait = message, verdict, verdict.wait


TIMED_OUT = answers.Verdict(TransientError, "timed out")


def _attempt(
    http: httpx.Client,
    method: str,
    url: httpx.URL,
    headers: httpx.Headers,
    timeout: float,
    max_bytes: int,
    where: str,
    data: Mapping[str, str] | None = None,
) -> tuple[httpx.Response, bytes]:
    """One request. Returns (response, body): the body is read for 2xx only, and the response is closed."""
    began = time.monotonic()
    try:
        with outbound.deadline(timeout):  # the whole attempt, headers trickling in included
            request = http.build_request(method, url, headers=headers, data=data, timeout=httpx.Timeout(timeout))
            response = http.send(request, stream=True)
            try:
                ok = 200 <= response.status_code < 300 and method != "HEAD"
                body = _read(response, max_bytes, where, began + timeout, timeout) if ok else b""
            finally:
                response.close()  # unread bodies (errors, redirects, an overflow) are dropped with the connection
    except httpx.RequestError as exc:  # refused, reset, DNS, TLS, a garbled response, a timeout, our own request
        verdict = answers.of_exception(exc, timeout)
        if not verdict.retried:  # our request is malformed (a line break in a header): no detail, it may quote one
            raise verdict.error(f"invalid request to {where} (check the URL and headers)") from None
        raise _Retry(f"{verdict.reason} ({where})", verdict) from None
    return response, body


def _read(response: httpx.Response, max_bytes: int, where: str, deadline: float, timeout: float) -> bytes:
    """The body, decoded from gzip/deflate as it streams, aborting as soon as it passes `max_bytes`."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        raise PermanentError(f"response larger than {outbound.size_text(max_bytes)} cap")
    decoder = _Decoder(response.headers.get("content-encoding", ""), where)
    body = bytearray()  # grows to the cap at most: one byte more and we stop
    try:
        for raw in response.iter_raw():
            body += decoder.decode(raw, max_bytes - len(body) + 1)
            if len(body) > max_bytes:
                raise PermanentError(f"response larger than {outbound.size_text(max_bytes)} cap")
            if time.monotonic() > deadline:  # httpx bounds each read, not a body that trickles in
                raise _Retry(f"timed out after {timeout:g} s ({where})", TIMED_OUT)
        body += decoder.flush(max_bytes - len(body) + 1)
    except zlib.error:
        raise _Retry(f"corrupt compressed response from {where}", answers.Verdict(TransientError, "corrupt"))
    if len(body) > max_bytes:
        raise PermanentError(f"response larger than {outbound.size_text(max_bytes)} cap")
    return bytes(body)


class _Decoder:
    """Undoes gzip or deflate a piece at a time, never inflating more than asked for, so a small
    compressed body cannot expand past the cap in memory (httpx's own decoder inflates whole chunks)."""

    def __init__(self, content_encoding: str, where: str) -> None:
        coding = content_encoding.strip().lower()
        self._sniff = coding == "deflate"  # zlib-wrapped by the spec; some servers send it raw
        self._zlib: zlib._Decompress | None
        if coding in ("", "identity"):
            self._zlib = None
        elif coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        else:  # we only ask for gzip and deflate
            raise PermanentError(f"response from {where} uses an unsupported content encoding")

    def decode(self, data: bytes, limit: int) -> bytes:
        if self._zlib is None:
            return data
        try:
            return self._zlib.decompress(data, limit)  # stops at `limit` bytes out; enough to see the overflow
        except zlib.error:
            if not self._sniff:
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._zlib.decompress(data, limit)
        finally:
            self._sniff = False

    def flush(self, limit: int) -> bytes:
        return self._zlib.flush(limit) if self._zlib is not None else b""


def decode(raw: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, codec): a byte-order mark, the Content-Type charset, the document's own declaration, valid
    UTF-8, else Windows-1252. Never raises."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", errors="replace"), "utf-16"
    header = HEADER_CHARSET.search(content_type)
    head = raw[:SNIFF_BYTES]
    declared = XML_ENCODING.search(head) or META_CHARSET.search(head)
    for label, in_document in ((header and header.group(1), False), (declared and declared.group(1), True)):
        codec = _codec(label)
        if codec and in_document and codec.startswith("utf-16"):
            codec = "utf-8"  # a declaration we could read in ASCII cannot be UTF-16 (as browsers reason)
        if codec:
            return raw.decode(codec, errors="replace"), codec
    try:
        return raw.decode("utf-8"), "utf-8"  # cheap, and valid UTF-8 is practically never anything else
    except UnicodeDecodeError:
        # Undeclared and not UTF-8: Windows-1252, the fallback browsers use for Portuguese (WHATWG). A
        # statistical guess would depend on which detector happens to be installed (chardet,
        # charset-normalizer...) and misreads short Portuguese texts as Central European.
        return raw.decode("cp1252", errors="replace"), "cp1252"


def _codec(label: str | bytes | None) -> str | None:
    """Python's name for a charset label, or None if it is unknown or not a text encoding."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.decode("ascii") if isinstance(label, bytes) else label).name
        b"".decode(name)  # rejects bytes-to-bytes codecs such as base64
    except (LookupError, UnicodeDecodeError):
        return None
    return BROWSER_ALIASES.get(name, name)


def _checked_url(url: str | httpx.URL, where: str | None) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(str(url))
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise PermanentError(f"invalid redirect from {where}" if where else "not a valid http(s) URL")
    return parsed


def _redirect(
    response: httpx.Response, url: httpx.URL, method: str, headers: httpx.Headers, where: str
) -> tuple[httpx.URL, str, httpx.Headers]:
    """The next hop: Location resolved against the current URL, the method and headers a browser would use."""
    try:
        target = _checked_url(url.join(response.headers["location"]), where)
    except httpx.InvalidURL:
        raise PermanentError(f"invalid redirect from {where}")
    status = response.status_code
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
        headers = httpx.Headers({k: v for k, v in headers.items() if k.lower() not in CREDENTIALS})
    return target, method, headers


def _request_headers(
    extra: Mapping[str, object] | None, user_agent: str | None, etag: str, last_modified: str
) -> httpx.Headers:
    headers = httpx.Headers({"User-Agent": settings.VIGIA_USER_AGENT, "Accept": ACCEPT})
    for name, value in (extra or {}).items():
        headers[name] = str(value)  # replaces ours whatever the case of the name
    if user_agent:
        headers["User-Agent"] = user_agent
    # Ours, whatever the source asked: _Decoder keeps the size cap true for these two only.
    headers["Accept-Encoding"] = "gzip, deflate"
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _with_cookies(headers: httpx.Headers, jar: Mapping[str, str | None]) -> httpx.Headers:
    """`headers` with the jar's cookies in the Cookie header (over a cookie of the same name already there)."""
    pairs = dict(part.strip().partition("=")[::2] for part in headers.get("cookie", "").split(";") if part.strip())
    pairs.update(jar)
    headers = httpx.Headers(headers)
    headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in pairs.items() if value is not None)
    if not headers["Cookie"]:
        del headers["Cookie"]
    return headers


def _set_cookies(response: httpx.Response) -> dict[str, str | None]:
    """The cookies an answer sets, name → value (None: deleted, by Max-Age=0 or an empty value)."""
    found: dict[str, str | None] = {}
    for line in response.headers.get_list("set-cookie"):
        pair, *attributes = line.split(";")
        name, equals, value = pair.strip().partition("=")
        if not equals or not name:
            continue
        gone = not value.strip('"') or any(a.strip().lower().replace(" ", "") == "max-age=0" for a in attributes)
        found[name] = None if gone else value
    return found


def _backoff(failures: int) -> float:
    delay = BACKOFF_BASE * 2 ** (failures - 1)
    return delay * random.uniform(1.0, 1.5)  # jitter: workers that failed together do not retry together


def _pause(seconds: float, deadline: float | None, problem: _Retry) -> None:
    """Sleep before the next attempt, unless that would pass the deadline: then fail now with the wait."""
    limit = MAX_WAIT if deadline is None else deadline - time.monotonic()
    if seconds > limit:
        message = f"{problem.message}; the next attempt in {seconds:.1f} s would pass the deadline"
        raise problem.verdict.kind(message, retry_after=seconds)
    time.sleep(seconds)


def _after_attempts(message: str, attempts: int) -> str:
    if attempts == 1:
        return ""
    return f" ({attempts} attempts)" if " after " in message else f" after {attempts} attempts"
