"""scheduler.shared.answers: the one classification of upstream and provider answers, and each caller's use of it
against real loopback servers (fetch, the DJEN client, http_request, the webhook kind)."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from django.utils import timezone

from channels_app.kinds import base as kinds
from scheduler import job_kinds
from scheduler.errors import ChannelDown, JobError, PermanentError, RateLimited, TransientError
from scheduler.shared import answers, outbound
from scrapers.sources import fetch as fetching
from tests.loopback.server import LoopbackServer, closed_url


@pytest.fixture
def server():
    with LoopbackServer() as server:
        yield server


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "wait"),
    [
        (500, {}, "transient", None),
        (502, {}, "transient", None),
        (504, {}, "transient", None),
        (408, {}, "transient", None),
        (425, {}, "transient", None),
        (503, {}, "transient", None),
        (503, {"Retry-After": "20"}, "rate-limited", 20.0),
        (429, {"Retry-After": "7"}, "rate-limited", 7.0),
        (429, {}, "rate-limited", 33.0),  # the caller's default
        (400, {}, "permanent", None),
        (401, {}, "permanent", None),
        (404, {}, "permanent", None),
        (422, {}, "permanent", None),
        (302, {}, "permanent", None),
        (200, {}, "permanent", None),  # a success the caller did not expect (http_request's expected_status)
    ],
)
def test_statuses(status, headers, outcome, wait):
    verdict = answers.of_status(status, httpx.Headers(headers), default_wait=33.0)
    assert (verdict.outcome, verdict.wait, verdict.reason) == (outcome, wait, f"HTTP {status}")
    error = verdict.error("boom", result={"x": 1})
    assert isinstance(error, JobError) and error.retry_after == wait and error.result == {"x": 1}
    assert error.permanent is (outcome == "permanent") and answers.outcome(error) == outcome


def test_retry_after_in_seconds_or_as_a_date():
    assert answers.retry_after({"retry-after": "120"}) == 120.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= answers.retry_after(httpx.Headers({"Retry-After": later})) <= 90
    assert answers.retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # past: now
    assert answers.retry_after({"retry-after": "soon"}) is None and answers.retry_after(None) is None


def test_the_four_outcomes_name_themselves():
    assert [answers.outcome(kind) for kind in (TransientError, RateLimited, PermanentError, ChannelDown)] == [
        "transient",
        "rate-limited",
        "permanent",
        "channel down",
    ]
    assert answers.outcome(JobError("a crash")) == "transient" and answers.outcome(outbound.Refused("x")) == "permanent"


def exception_of(call):
    with pytest.raises(httpx.HTTPError) as caught:
        call()
    return caught.value


def test_network_errors_timeouts_and_bad_requests(server):
    server.respond("/slow", delay=2)
    refused = exception_of(lambda: outbound.client().get(closed_url()))
    slow = exception_of(lambda: outbound.client().get(server.url + "/slow", timeout=0.2))
    unusable = exception_of(lambda: outbound.client().get("ftp://example.org/x"))
    verdicts = [answers.of_exception(exc, 0.2) for exc in (refused, slow, unusable)]
    assert [(v.outcome, v.reason) for v in verdicts] == [
        ("transient", "connection refused"),
        ("transient", "timed out after 0.2 s"),
        ("permanent", "invalid request"),
    ]
    assert answers.of_exception(TimeoutError("a body trickling in")).reason == "timed out"


# --- every caller judges the same answer the same way ----------------------------------------------------


def call_http_request(url, timeout=5):
    params = job_kinds.clean_params("http_request", {"url": url})
    context = job_kinds.RunContext(
        run_id=None, job_id=1, job_name="t", attempt=1, scheduled_for=timezone.now(), timeout_seconds=timeout
    )
    return job_kinds.get("http_request").run(params, context)


def call_webhook(url):
    message = kinds.Outgoing(key="vigia-1", subject="s", text="t")
    return kinds.get("webhook").send({"url": url}, {"secret": "s" * 16}, "", message)


CALLERS = {
    "fetch": lambda url: fetching.fetch(url, retries=0),
    "http_request": call_http_request,
    "webhook": call_webhook,
}


@pytest.mark.django_db
@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize(
    ("status", "headers", "kind", "wait"),
    [
        (503, {}, TransientError, None),
        (429, {"Retry-After": "9"}, RateLimited, 9.0),
        (503, {"Retry-After": "4"}, RateLimited, 4.0),
        (422, {}, PermanentError, None),
    ],
)
def test_each_caller_raises_the_same_outcome(server, caller, status, headers, kind, wait):
    server.respond("/x", status=status, headers=headers, body="no")
    with pytest.raises(JobError) as caught:
        CALLERS[caller](server.url + "/x")
    assert type(caught.value) is kind and caught.value.retry_after == wait
    assert f"HTTP {status}" in str(caught.value)


@pytest.mark.django_db
@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_each_caller_reports_a_refused_connection_as_transient(caller):
    with pytest.raises(TransientError) as caught:
        CALLERS[caller](closed_url() + "/x")
    assert answers.outcome(caught.value) == "transient"
