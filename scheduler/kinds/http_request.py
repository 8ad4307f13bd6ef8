"""Call an HTTP endpoint: a health check, a webhook, a REST or GraphQL API.

The outcome is judged by scheduler.shared.answers, as every outbound answer is, so the retry policy does the right
thing: network trouble, timeouts, 408/425 and 5xx are transient, 429 is rate-limited (its Retry-After is the
retry's floor); other unexpected statuses and GraphQL errors are permanent. The request goes through the
process's one outbound client (kept-alive connections, every hop's address checked) within a deadline for
the whole attempt. Request header values never appear in errors or results, since they often carry tokens; they
are stored encrypted (Job.secrets, merged back into the params for the run) and never shown back.
"""

import json
import re
import time
from typing import Any

import httpx
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from scheduler.errors import PermanentError
from scheduler.job_kinds import JobKind, RunContext, register
from scheduler.shared import answers, bounds, logs, outbound, recorded

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
BODYLESS = ("GET", "HEAD")
MAX_BODY_BYTES = 1024 * 1024  # read at most this much (enough to parse a GraphQL reply), never more
RESULT_CHARS = 2048  # what the run's result keeps of the response
MAX_TIMEOUT = 60.0
MAX_REDIRECTS = outbound.MAX_REDIRECTS

# A failed call's error, stored in English and shown in the reader's language (scheduler.shared.recorded).
ANSWERED = {
    (False, False): recorded.message(gettext_noop("HTTP %(status)s from %(where)s")),
    (True, False): recorded.message(gettext_noop("HTTP %(status)s from %(where)s (expected %(expected)s)")),
    (False, True): recorded.message(gettext_noop("HTTP %(status)s from %(where)s: %(error)s")),
    (True, True): recorded.message(gettext_noop("HTTP %(status)s from %(where)s (expected %(expected)s): %(error)s")),
}
GRAPHQL_ERROR = recorded.message(gettext_noop("GraphQL error from %(where)s: %(error)s"))
TOO_MANY_REDIRECTS = recorded.message(gettext_noop("more than %(n)s redirects from %(where)s"))
BAD_REQUEST = recorded.message(gettext_noop("bad request to %(where)s: %(reason)s"))


class MethodField(forms.ChoiceField):
    """Accepts "post" as well as "POST"."""

    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip().upper()


class StatusListField(forms.Field):
    """Expected statuses: a list of ints, one int, or "200, 204" typed into a form."""

    def to_python(self, value: Any) -> list[int] | None:
        if value in self.empty_values:
            return None
        if isinstance(value, str):
            value = [part for part in re.split(r"[\s,]+", value) if part]
        elif not isinstance(value, list):
            value = [value]
        statuses: list[int] = []
        for item in value:
            if isinstance(item, str) and item.isdigit():
                item = int(item)
            if type(item) is not int or not 100 <= item <= 599:  # type() check: True is not a status
                raise ValidationError(_("Enter HTTP status codes (100–599), e.g. [200, 204]."), code="invalid")
            statuses.append(item)
        return sorted(set(statuses))

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(map(str, value)) if isinstance(value, list) else value


def _json_object[T](value: T, message: str) -> T:
    if value is not None and not isinstance(value, dict):
        raise ValidationError(message, code="invalid")
    return value


@register
class HttpRequest(JobKind):
    name = "http_request"
    secret_params = ("headers",)  # the values live encrypted in Job.secrets (job_kinds.seal)
    label = gettext_lazy("HTTP request / webhook / GraphQL")
    description = gettext_lazy("Calls a URL; 2xx (or the expected statuses) is success, 5xx/429/timeouts are retried.")

    class Params(forms.Form):
        method = MethodField(
            label=gettext_lazy("Method"),
            choices=[("", gettext_lazy("Default (POST with a body, else GET)"))] + [(m, m) for m in METHODS],
            required=False,
        )
        url = forms.CharField(label=gettext_lazy("URL"), max_length=2048)
        headers = bounds.SecretNameValueField(
            label=gettext_lazy("Headers"),
            required=False,
            help_text=gettext_lazy(
                'One "Name: value" per line (or a JSON object), e.g. Authorization: Bearer …. Write-only: the '
                "values are never shown again. Leave it empty to keep the stored headers; lines typed here replace "
                "them all (a value ******** keeps that header's stored value); type - alone to remove them all."
            ),
        )
        query = bounds.NameValueField(
            label=gettext_lazy("Query string"),
            required=False,
            help_text=gettext_lazy('Query-string parameters: one "name: value" per line (or a JSON object).'),
        )
        json = bounds.JSONField(
            label=gettext_lazy("JSON body"), required=False, help_text=gettext_lazy("JSON request body.")
        )
        graphql_query = forms.CharField(label=gettext_lazy("GraphQL query"), required=False, widget=forms.Textarea)
        graphql_variables = bounds.JSONField(label=gettext_lazy("GraphQL variables"), required=False)
        expected_status = StatusListField(
            label=gettext_lazy("Expected status"), required=False, help_text=gettext_lazy("Default: any 2xx.")
        )

        def clean_url(self) -> str:
            value = self.cleaned_data["url"].strip()
            # Parsed by hand rather than URLValidator, which rejects TLD-less hosts like http://wuzapi:8080.
            try:
                url = httpx.URL(value)
            except httpx.InvalidURL as exc:
                raise ValidationError(_("Enter a valid URL (%(error)s)."), code="invalid", params={"error": exc})
            if url.scheme not in ("http", "https") or not url.host:
                raise ValidationError(_("Enter an http:// or https:// URL with a host."), code="invalid")
            outbound.validate_url(value)  # a password inside, loopback, private... (names: when it runs)
            return value

        def clean_headers(self) -> dict[str, str] | str | None:
            # None (left empty) and CLEAR ("-") are JobForm's to act on: keep, or remove, the stored headers.
            if self.cleaned_data["headers"] == bounds.CLEAR:
                return bounds.CLEAR
            headers = _json_object(self.cleaned_data["headers"], _("Headers must be a JSON object."))
            if problem := bounds.header_problem(headers or {}):
                raise ValidationError(problem, code="invalid")
            return headers

        def clean_query(self) -> dict[str, Any] | None:
            query = _json_object(self.cleaned_data["query"], _("Query must be a JSON object."))
            scalar = (str, int, float, bool)
            for name, value in (query or {}).items():
                values = value if isinstance(value, list) else [value]
                if not all(isinstance(v, scalar) for v in values):
                    raise ValidationError(
                        _("Query parameter '%(name)s' must be a string, number, boolean or a list of them."),
                        code="invalid",
                        params={"name": name},
                    )
            return query

        def clean_graphql_variables(self) -> dict[str, Any] | None:
            return _json_object(self.cleaned_data["graphql_variables"], _("GraphQL variables must be a JSON object."))

        def clean(self) -> dict[str, Any]:
            data = super().clean()
            assert data is not None  # forms.Form.clean() returns cleaned_data
            has_json = data.get("json") is not None
            graphql = data.get("graphql_query")
            method = data.get("method")
            if has_json and graphql:
                self.add_error("graphql_query", _("Send either a JSON body or a GraphQL query, not both."))
            if data.get("graphql_variables") is not None and not graphql:
                self.add_error("graphql_variables", _("GraphQL variables need a GraphQL query."))
            if "method" not in data:  # invalid choice, already reported
                pass
            elif not method:
                data["method"] = "POST" if (has_json or graphql) else "GET"
            elif graphql and method != "POST":
                self.add_error("method", _("GraphQL queries are sent with POST."))
            elif has_json and method in BODYLESS:
                self.add_error(
                    "method",
                    _("%(method)s cannot carry a JSON body; use POST, PUT, PATCH or DELETE.") % {"method": method},
                )
            return data

    def run(self, params: dict[str, Any], context: RunContext) -> dict[str, Any]:
        method = params.get("method", "GET")
        body: Any = None  # the JSON body: any JSON value
        if params.get("graphql_query"):
            body = {"query": params["graphql_query"], "variables": params.get("graphql_variables") or {}}
        elif "json" in params:
            body = params["json"]
        # A little under the run's own timeout, so a slow server ends as a transient failure that keeps
        # its result rather than racing the watchdog's RunTimeout.
        timeout = min(float(context.timeout_seconds or MAX_TIMEOUT) * 0.9, MAX_TIMEOUT)
        url = httpx.URL(params["url"])
        if params.get("query"):  # merged: httpx's params= would drop a query string already in the URL
            url = url.copy_merge_params(params["query"])
        started = time.monotonic()

        def result(
            status: int | None = None, final_url: httpx.URL = url, text: str = "", truncated: bool = False
        ) -> dict[str, Any]:
            return {
                "status": status,
                "latency_ms": int((time.monotonic() - started) * 1000),
                "url": _public_url(final_url),
                "response": logs.redact(text),  # a server echoing the request's headers: masked here too
                "truncated": truncated,
            }

        # The job's own headers may override these. Uncompressed replies keep the 1 MiB cap a real memory
        # bound: httpx decompresses a whole network chunk at once, whatever its expanded size.
        headers = httpx.Headers({"User-Agent": _user_agent(context), "Accept-Encoding": "identity"})
        if isinstance(params.get("headers"), dict):
            headers.update(params["headers"])
        http = outbound.client()  # every hop's address checked: loopback, private... are refused
        try:
            with (
                outbound.deadline(timeout),  # the whole attempt: headers or a body trickling in end too
                http.stream(
                    method, url, headers=headers, json=body, timeout=timeout, follow_redirects=True
                ) as response,
            ):
                raw, overflow = outbound.read_capped(response, MAX_BODY_BYTES, deadline=started + timeout)
        except outbound.Refused as exc:
            raise outbound.Refused(str(exc), result()) from None
        except httpx.TooManyRedirects:
            raise PermanentError(TOO_MANY_REDIRECTS % {"n": MAX_REDIRECTS, "where": _where(url)}, result()) from None
        except (httpx.RequestError, TimeoutError) as exc:  # TimeoutError: the body trickled in past the timeout
            verdict = answers.of_exception(exc, timeout)
            if not verdict.retried:  # our request (or a redirect target) is unusable: retrying cannot help
                error = BAD_REQUEST % {"where": _where(url), "reason": answers.reason(exc)}
                raise verdict.error(error, result()) from None
            raise verdict.error(f"{verdict.reason} ({_where(url)})", result()) from None

        text = _decode(raw, response)
        outcome = result(response.status_code, response.url, text[:RESULT_CHARS], overflow or len(text) > RESULT_CHARS)
        graphql_error = _graphql_error(raw) if params.get("graphql_query") else None
        status = response.status_code
        expected = params.get("expected_status")
        if (status in expected) if expected else 200 <= status < 300:
            if graphql_error:
                raise PermanentError(GRAPHQL_ERROR % {"where": _where(response.url), "error": graphql_error}, outcome)
            return outcome
        values = {"status": status, "where": _where(response.url), "error": graphql_error}
        values["expected"] = ", ".join(map(str, expected or ()))
        message = ANSWERED[bool(expected), bool(graphql_error)] % values
        raise answers.of_status(status, response.headers).error(message, outcome)


def _decode(raw: bytes, response: httpx.Response) -> str:
    try:
        return raw.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # unknown charset in Content-Type
        return raw.decode("utf-8", errors="replace")


def _graphql_error(raw: bytes) -> str | None:
    """The first error message of a GraphQL reply, or None."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    first = errors[0]
    message = first.get("message") if isinstance(first, dict) else first
    return str(message or "unknown error")[:300]


def _where(url: httpx.URL) -> str:
    """host[:port] for messages: no path or query, which may hold tokens."""
    return f"{url.host}:{url.port}" if url.port else url.host


def _public_url(url: httpx.URL) -> str:
    """The URL without user:password, for the stored result."""
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


def _user_agent(context: RunContext) -> str:
    return f"Vigia/0.1 (+job {context.job_id})" if context.job_id is not None else "Vigia/0.1"
