"""Reaching a source's page: its login step and session, and its fallback URLs.

Every request still goes through fetch() (the per-host rate limit, the outbound guard, retries).

Login. A source with a login URL sends its session's cookies to that URL's origin (scheme, host, port) only.
Without a session, a check logs in first: it reads the login form (its hidden inputs, such as a CSRF token, and
the cookies it sets), posts the configured fields to the form's action and keeps the cookies set along the way.
Success is the configured cookie set by the answer, and/or the configured text on the page after it; with
neither, an answer that is not the login form again. The session lives on the source (encrypted), shared by
every worker. A page that sends the check back to the login form (or answers 401/403) means the session
expired: one login again, one retry.

`Source.session_cookies` holds one of:
- {"cookies": {name: value}}: the session, started at `session_started_at`;
- {"pending": fingerprint}: a worker is logging in since `session_started_at` (the others wait for its session);
- {"rejected": fingerprint, "error": [message]}: the site refused these login settings. No check logs in again
  until the operator changes them (SourceForm clears this): retrying could lock the team's account. (The
  message is in a list: the text values of an encrypted field are masked as secrets wherever they are logged
  or recorded, and this one must show on the run.)
Each change is a compare-and-set on `session_started_at`, never a lock held across the network: of two workers
that find the session expired, one logs in and the other uses the session it stores.

Fallback URLs. When the URL cannot be reached (a timeout, a 5xx, a refused connection, a 404, a page too large;
never a rejected login), the fallback URLs are tried in order; the first that answers is parsed. A mirror's
page is read as if it were at the source's URL: relative links resolve against that URL, so an item keyed by
its link has the same key whichever address answered (keys from the kind's id setting never depend on the
address; absolute links that name the mirror do, so prefer an id). Conditional requests (ETag,
Last-Modified) are made to the source's URL only.
"""

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from bs4 import BeautifulSoup
from django.utils import timezone
from django.utils.translation import gettext_noop

from scheduler.errors import JobError, PermanentError, TransientError
from scheduler.shared import crypto, recorded
from scrapers.models import Source
from scrapers.sources.fetch import FetchResult, fetch

log = logging.getLogger("vigia.sources")

LOGIN_REJECTED = recorded.message(gettext_noop("Login rejected: %(reason)s"))
FORM_AGAIN = recorded.message(gettext_noop("the site showed the login form again (check the user and password)"))
NO_COOKIE = recorded.message(gettext_noop("the site did not set the cookie %(cookie)s"))
NO_TEXT = recorded.message(gettext_noop("the page after logging in does not show the expected text"))
STILL_ASKS = recorded.message(gettext_noop("the page still asks to log in right after logging in"))
REFUSED = recorded.message(gettext_noop("the login form answered %(error)s"))
WAITED = recorded.message(
    gettext_noop("Another check of this source is logging in; the next check will use its session.")
)
FALLBACKS_FAILED = recorded.message(gettext_noop("%(error)s; the fallback URLs failed too: %(fallbacks)s"))
PASSWORD_INPUT = re.compile(r"""<input\b[^>]*\btype\s*=\s*["']?password\b""", re.I)
EXPIRED_STATUSES = (401, 403)
WAIT_STEP = 0.2  # seconds between looks at a login another worker is making


class LoginRejected(PermanentError):
    """The site refused the source's login settings: recorded, never retried until they change."""


@dataclass
class Page(FetchResult):
    base: str = ""  # the URL the page is read at: its own, or the source's URL for a fallback's page
    via: str = ""  # "" for the source's URL, else "fallback 1", "fallback 2"...
    primary_error: str = ""  # why the source's URL was not used


@dataclass
class Session:
    cookies: dict[str, str]
    started: datetime | None


def fetch_page(source: Source, *, conditional: bool, deadline: float | None) -> Page:
    """The source's page, from its URL or else a fallback URL; logging in when it needs to."""
    try:
        return _page(_reach(source, source.url, conditional=conditional, deadline=deadline), source.url)
    except JobError as exc:
        if isinstance(exc, LoginRejected) or not source.fallback_urls:
            raise
        primary = exc
    failures: list[str] = []
    for number, url in enumerate(source.fallback_urls, 1):
        via = f"fallback {number}"
        try:
            result = _reach(source, url, conditional=False, deadline=deadline)  # its validators are the URL's own
        except LoginRejected:
            raise
        except JobError as exc:
            failures.append(f"{via}: {exc}")
            continue
        log.info("source reached through a fallback", extra={"source": source.pk, "via": via, "error": str(primary)})
        return _page(result, source.url, via=via, primary_error=str(primary))
    raise type(primary)(
        FALLBACKS_FAILED % {"error": primary, "fallbacks": "; ".join(failures)},
        result=primary.result,
        retry_after=primary.retry_after,
    ) from primary


def _page(result: FetchResult, base: str, via: str = "", primary_error: str = "") -> Page:
    fields = {name: getattr(result, name) for name in FetchResult.__dataclass_fields__}
    return Page(**fields, base=result.url if not via else base, via=via, primary_error=primary_error)


def _reach(source: Source, url: str, *, conditional: bool, deadline: float | None) -> FetchResult:
    if not source.login_url or not _same_origin(url, source.login_url):  # the session's cookies stay on its site
        return _get(source, url, conditional=conditional, deadline=deadline)
    session = _session(source, deadline)
    result = _get_logged_in(source, url, session, conditional=conditional, deadline=deadline)
    if result is not None:
        return result
    log.info("source session expired", extra={"source": source.pk})
    session = _session(source, deadline, expired=session)
    result = _get_logged_in(source, url, session, conditional=conditional, deadline=deadline)
    if result is None:  # logged in a moment ago: the login only looked successful
        raise _record_rejection(source, session.started, LoginRejected(LOGIN_REJECTED % {"reason": STILL_ASKS}))
    return result


def _get(
    source: Source,
    url: str,
    *,
    conditional: bool = False,
    deadline: float | None,
    cookies: dict[str, str] | None = None,
    **extra: Any,
) -> FetchResult:
    method = extra.pop("method", source.method)
    headers = {**(source.headers or {}), **extra.pop("headers", {})}
    return fetch(
        url,
        method=method,
        headers=headers,
        timeout=source.timeout_seconds,
        user_agent=source.user_agent or None,
        etag=source.etag if conditional else "",
        last_modified=source.last_modified if conditional else "",
        deadline=deadline,
        cookies=cookies,
        **extra,
    )


def _get_logged_in(
    source: Source, url: str, session: Session, *, conditional: bool, deadline: float | None
) -> FetchResult | None:
    """The page with the session's cookies; None when the site asks to log in again."""
    try:
        result = _get(source, url, conditional=conditional, deadline=deadline, cookies=session.cookies)
    except PermanentError as exc:
        if (exc.result or {}).get("http_status") in EXPIRED_STATUSES:
            return None
        raise
    if _asks_login(source, result):
        return None
    renewed = {
        name: value
        for name, value in result.cookies.items()
        if session.cookies.get(name) != value and (value is not None or name in session.cookies)
    }
    if renewed and session.started is not None:  # a sliding session: keep what the site renews
        cookies = {name: value for name, value in {**session.cookies, **renewed}.items() if value is not None}
        _swap(source, session.started, {"cookies": cookies}, session.started)
    return result


def _asks_login(source: Source, result: FetchResult) -> bool:
    if result.not_modified:
        return False
    form, page = urlsplit(source.login_url), urlsplit(result.url)
    return (page.hostname, page.path) == (form.hostname, form.path) or bool(PASSWORD_INPUT.search(result.text))


# --- the session ----------------------------------------------------------------------------------------
def login_fingerprint(source: Source) -> str:
    """What the login depends on: a rejection holds until one of these changes."""
    try:
        fields = source.login_fields if isinstance(source.login_fields, dict) else {}
    except crypto.SecretsUnreadable:  # no login works until they are typed again
        fields = {"": "unreadable"}
    parts = [source.login_url, sorted((str(k), str(v)) for k, v in fields.items())]
    parts += [source.login_success_cookie, source.login_success_text]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def login_state(source: Source) -> dict[str, Any]:
    """For the source's page, never the cookies: {"state": "none"|"logged_in"|"rejected"|"pending", "since",
    "error"}."""
    if not source.login_url:
        return {"state": ""}
    state, since = _stored(source), source.session_started_at
    if state.get("cookies"):
        return {"state": "logged_in", "since": since}
    if state.get("rejected") == login_fingerprint(source):
        return {"state": "rejected", "since": since, "error": _rejection(state)}
    if state.get("pending"):
        return {"state": "pending", "since": since}
    return {"state": "none"}


def _session(source: Source, deadline: float | None, expired: Session | None = None) -> Session:
    """The stored session, unless it is `expired`; else the one another worker is making, else a new login."""
    hold = timedelta(seconds=source.timeout_seconds * 4 + 5)  # a pending login older than this was abandoned
    while True:
        state, started = _read(source)
        fingerprint = login_fingerprint(source)
        if state.get("rejected") == fingerprint:
            raise LoginRejected(_rejection(state))
        cookies = state.get("cookies")
        if cookies and (expired is None or started != expired.started):
            return Session({str(k): str(v) for k, v in cookies.items()}, started)
        if state.get("pending") and started is not None and timezone.now() - started < hold:
            if deadline is not None and time.monotonic() + WAIT_STEP > deadline:
                raise TransientError(WAITED)
            time.sleep(WAIT_STEP)  # another worker is logging in: its session will do for this check
            continue
        claimed = timezone.now()
        if source.pk is None or _swap(source, started, {"pending": fingerprint}, claimed):
            break
    try:
        cookies = _log_in(source, deadline)
    except LoginRejected as exc:
        _record_rejection(source, claimed, exc)
        raise
    except BaseException:
        _swap(source, claimed, {}, None)  # not the site's verdict on the login: a later check logs in again
        raise
    now = timezone.now()
    # Lost only when the operator changed the login meanwhile: this check still uses the session it made.
    _swap(source, claimed, {"cookies": cookies}, now)
    log.info("source logged in", extra={"source": source.pk})
    return Session(cookies, now)


def _rejection(state: dict[str, Any]) -> str:
    error = state.get("error")
    return str(error[0]) if isinstance(error, list) and error else LOGIN_REJECTED % {"reason": FORM_AGAIN}


def _read(source: Source) -> tuple[dict[str, Any], datetime | None]:
    if source.pk is None:  # a preview: nothing stored
        return {}, None
    row = Source.objects.filter(pk=source.pk).only("session_cookies", "session_started_at").first()
    if row is None:
        return {}, None
    return _stored(row), row.session_started_at


def _stored(source: Source) -> dict[str, Any]:
    """The session's state; none when no configured key opens it (a new login replaces it)."""
    try:
        state = source.session_cookies
    except crypto.SecretsUnreadable:
        return {}
    return state if isinstance(state, dict) else {}


def _swap(source: Source, before: datetime | None, state: dict[str, Any], started: datetime | None) -> bool:
    """Store `state` if the session is still the one started at `before` (one UPDATE of these two columns)."""
    if source.pk is None:
        return True
    rows = Source.objects.filter(pk=source.pk)
    rows = rows.filter(session_started_at__isnull=True) if before is None else rows.filter(session_started_at=before)
    return bool(rows.update(session_cookies=state, session_started_at=started))


def _record_rejection(source: Source, before: datetime | None, error: LoginRejected) -> LoginRejected:
    """Keep the rejection on the source (if the session is still the one started at `before`): no check logs in
    again until the login settings change."""
    _swap(source, before, {"rejected": login_fingerprint(source), "error": [str(error)]}, timezone.now())
    log.warning("source login rejected", extra={"source": source.pk, "error": str(error)})
    return error


# --- logging in -----------------------------------------------------------------------------------------
def _log_in(source: Source, deadline: float | None) -> dict[str, str]:
    """Read the login form, post it, and return the session's cookies; LoginRejected when the site refuses."""
    form_page = _get(source, source.login_url, deadline=deadline, cookies={}, method="GET")
    jar = {name: value for name, value in form_page.cookies.items() if value is not None}
    action, hidden = _form(form_page.text, form_page.url)
    fields = {**hidden, **{str(name): str(value) for name, value in (source.login_fields or {}).items()}}
    try:
        answer = _get(
            source,
            action,
            deadline=deadline,
            cookies=jar,
            method="POST",
            data=fields,
            headers={"Referer": form_page.url},
        )
    except PermanentError as exc:  # a 4xx to the credentials: posting them again would not help (5xx: a later check)
        raise LoginRejected(LOGIN_REJECTED % {"reason": REFUSED % {"error": exc}}) from None
    if reason := _refusal(source, answer):
        raise LoginRejected(LOGIN_REJECTED % {"reason": reason})
    cookies = {**jar, **answer.cookies}
    return {name: value for name, value in cookies.items() if value is not None}


def _form(text: str, url: str) -> tuple[str, dict[str, str]]:
    """The login form's action (absolute) and its hidden inputs (a CSRF token...)."""
    soup = BeautifulSoup(text, "lxml")
    forms = soup.find_all("form")
    form = next((f for f in forms if f.find("input", attrs={"type": re.compile("^password$", re.I)})), None)
    form = form or (forms[0] if forms else None)
    if form is None:
        return url, {}
    action = form.get("action")
    hidden = {
        str(field["name"]): str(field.get("value") or "")
        for field in form.find_all("input")
        if field.get("name") and str(field.get("type") or "").lower() == "hidden"
    }
    return urljoin(url, str(action)) if action else url, hidden


def _refusal(source: Source, answer: FetchResult) -> str:
    """Why the answer to the login is not a success ("" when it is one)."""
    if source.login_success_cookie and not answer.cookies.get(source.login_success_cookie):
        return NO_COOKIE % {"cookie": source.login_success_cookie}
    if source.login_success_text and source.login_success_text not in answer.text:
        return NO_TEXT
    if not (source.login_success_cookie or source.login_success_text) and PASSWORD_INPUT.search(answer.text):
        return FORM_AGAIN
    return ""


def _same_origin(url: str, other: str) -> bool:
    one, two = httpx.URL(url), httpx.URL(other)
    return (one.scheme, one.host, one.port) == (two.scheme, two.host, two.port)
