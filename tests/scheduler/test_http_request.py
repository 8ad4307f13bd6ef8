"""The http_request kind against a real loopback server (no httpx mocks)."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from scheduler import job_kinds
from scheduler.errors import PermanentError, TransientError
from tests.loopback.server import LoopbackServer, Response, closed_url


@pytest.fixture
def server():
    with LoopbackServer() as server:
        yield server


def context(timeout=5):
    return job_kinds.RunContext(
        run_id=None, job_id=1, job_name="t", attempt=1, scheduled_for=timezone.now(), timeout_seconds=timeout
    )


def call(params, timeout=5):
    cleaned = job_kinds.clean_params("http_request", params)
    return job_kinds.get("http_request").run(cleaned, context(timeout))


def errors(params):
    with pytest.raises(ValidationError) as info:
        job_kinds.clean_params("http_request", params)
    return info.value.message_dict


# --- running -----------------------------------------------------------------------------------


def test_post_json_success(server):
    server.respond("/hook", status=201, body={"ok": True})
    result = call({"url": server.url + "/hook", "json": {"a": [1, 2]}, "headers": {"X-Token": "s3cret"}})

    assert result["status"] == 201
    assert result["url"] == server.url + "/hook"
    assert result["response"] == '{"ok": true}'
    assert result["truncated"] is False
    assert isinstance(result["latency_ms"], int) and result["latency_ms"] >= 0
    (request,) = server.requests
    assert request.method == "POST"  # defaulted because of the body
    assert request.json() == {"a": [1, 2]}
    assert request.headers["x-token"] == "s3cret"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "Vigia/0.1 (+job 1)"
    assert request.headers["accept-encoding"] == "identity"


def test_get_with_query_params_and_explicit_method(server):
    server.respond("/search", body="found")
    result = call({"url": server.url + "/search?fixed=1", "method": "get", "query": {"q": "a b", "n": [1, 2]}})

    assert result["status"] == 200 and result["response"] == "found"
    (request,) = server.requests
    assert request.method == "GET"
    assert request.query == {"fixed": ["1"], "q": ["a b"], "n": ["1", "2"]}
    assert request.body == b""


def test_user_agent_can_be_overridden(server):
    server.respond("/", body="")
    call({"url": server.url + "/", "headers": {"user-agent": "custom"}})
    assert [v for k, v in server.requests[0].raw_headers if k.lower() == "user-agent"] == ["custom"]


def test_redirect_is_followed_and_final_url_reported(server):
    server.respond("/old", status=302, headers={"Location": "/new"})
    server.respond("/new", body="here")
    result = call({"url": server.url + "/old"})
    assert result["status"] == 200
    assert result["url"] == server.url + "/new"


def test_redirect_loop_is_permanent(server):
    server.respond("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(PermanentError, match="redirects"):
        call({"url": server.url + "/loop"})


def test_graphql_success(server):
    server.respond("/graphql", body={"data": {"viewer": {"login": "x"}}})
    result = call(
        {
            "url": server.url + "/graphql",
            "graphql_query": "query($n: Int) { viewer { login } }",
            "graphql_variables": {"n": 3},
        }
    )
    assert result["status"] == 200
    (request,) = server.requests
    assert request.method == "POST"
    assert request.json() == {"query": "query($n: Int) { viewer { login } }", "variables": {"n": 3}}


def test_graphql_errors_are_permanent(server):
    server.respond("/graphql", body={"data": None, "errors": [{"message": "Field 'nope' doesn't exist"}]})
    with pytest.raises(PermanentError, match="Field 'nope' doesn't exist") as info:
        call({"url": server.url + "/graphql", "graphql_query": "{ nope }"})
    assert info.value.result["status"] == 200


def test_errors_key_is_ignored_without_graphql(server):
    server.respond("/rest", body={"errors": ["not a graphql reply"]})
    assert call({"url": server.url + "/rest"})["status"] == 200


def test_500_is_transient_and_keeps_the_result(server):
    server.respond("/boom", status=500, body="internal error")
    with pytest.raises(TransientError) as info:
        call({"url": server.url + "/boom"})
    assert str(info.value) == f"HTTP 500 from 127.0.0.1:{server.port}"
    assert info.value.result["status"] == 500
    assert info.value.result["response"] == "internal error"
    assert isinstance(info.value.result["latency_ms"], int)


def test_404_is_permanent(server):
    with pytest.raises(PermanentError, match="HTTP 404") as info:
        call({"url": server.url + "/missing"})
    assert info.value.result["status"] == 404


@pytest.mark.parametrize("status", [408, 425, 429, 503])
def test_retryable_statuses_are_transient(server, status):
    server.respond("/busy", status=status)
    with pytest.raises(TransientError, match=f"HTTP {status}"):
        call({"url": server.url + "/busy"})


def test_expected_status(server):
    server.respond("/gone", status=410)
    server.respond("/ok", status=200)
    assert call({"url": server.url + "/gone", "expected_status": [410]})["status"] == 410
    with pytest.raises(PermanentError, match=r"HTTP 200 .*\(expected 204\)"):
        call({"url": server.url + "/ok", "expected_status": "204"})


def test_connection_refused_is_transient():
    with pytest.raises(TransientError, match="refused") as info:
        call({"url": closed_url() + "/x"})
    assert info.value.result["status"] is None


def test_timeout_is_transient(server):
    server.respond("/slow", delay=3, body="late")
    with pytest.raises(TransientError, match="timed out") as info:
        call({"url": server.url + "/slow"}, timeout=0.3)
    assert info.value.result["latency_ms"] < 2000


def test_large_response_is_truncated(server):
    server.respond("/big", body="é" + "x" * 5000)
    result = call({"url": server.url + "/big"})
    assert result["truncated"] is True
    assert len(result["response"]) == 2048
    assert result["response"].startswith("éxx")


def test_response_over_the_read_cap_stops_early(server):
    server.respond("/huge", body=b"y" * (3 * 1024 * 1024))
    result = call({"url": server.url + "/huge"})
    assert result["status"] == 200 and result["truncated"] is True


def test_header_values_stay_out_of_error_messages(server):
    server.respond("/h", handler=lambda request: Response(status=401, body=request.headers.get("authorization")))
    with pytest.raises(PermanentError) as info:
        call({"url": server.url + "/h", "headers": {"Authorization": "Bearer top-secret"}})
    assert "top-secret" not in str(info.value)


# --- validation --------------------------------------------------------------------------------


def test_cleaned_params_default_the_method():
    assert job_kinds.clean_params("http_request", {"url": "http://x.test/"})["method"] == "GET"
    assert job_kinds.clean_params("http_request", {"url": "http://x.test/", "json": [1]})["method"] == "POST"
    assert job_kinds.clean_params("http_request", {"url": "https://wuzapi:8080/", "method": "put"})["method"] == "PUT"


def test_cleaning_is_idempotent():
    params = {"url": "http://x.test/", "json": {"a": 1}, "headers": {"A": "b"}, "expected_status": "200, 204"}
    cleaned = job_kinds.clean_params("http_request", params)
    assert cleaned["expected_status"] == [200, 204]
    assert job_kinds.clean_params("http_request", cleaned) == cleaned


def test_form_strings_are_parsed_as_json():
    cleaned = job_kinds.clean_params("http_request", {"url": "http://x.test/", "headers": '{"A": "b"}'})
    assert cleaned["headers"] == {"A": "b"}


@pytest.mark.parametrize(
    "params, key, fragment",
    [
        ({}, "params.url", "required"),
        ({"url": "ftp://x.test/f"}, "params.url", "http://"),
        ({"url": "not a url"}, "params.url", "http://"),
        ({"url": "http://x.test", "method": "TRACE"}, "params.method", "valid choice"),
        ({"url": "http://x.test", "headers": {"X-Count": 5}}, "params.headers", "X-Count"),
        ({"url": "http://x.test", "headers": ["a"]}, "params.headers", "JSON object"),
        ({"url": "http://x.test", "headers": {"bad name": "v"}}, "params.headers", "header name"),
        ({"url": "http://x.test", "query": {"a": {"b": 1}}}, "params.query", "'a'"),
        ({"url": "http://x.test", "json": {"a": 1}, "graphql_query": "{ a }"}, "params.graphql_query", "not both"),
        ({"url": "http://x.test", "graphql_variables": {"a": 1}}, "params.graphql_variables", "GraphQL query"),
        ({"url": "http://x.test", "graphql_query": "{ a }", "method": "GET"}, "params.method", "POST"),
        ({"url": "http://x.test", "json": {"a": 1}, "method": "GET"}, "params.method", "JSON body"),
        ({"url": "http://x.test", "expected_status": [200, 700]}, "params.expected_status", "100–599"),
        ({"url": "http://x.test", "expected_status": [True]}, "params.expected_status", "100–599"),
        ({"url": "http://x.test", "nope": 1}, "params", "nope"),
    ],
)
def test_invalid_params_give_field_errors(params, key, fragment):
    found = errors(params)
    assert key in found, found
    assert any(fragment in message for message in found[key]), found


def test_header_value_is_not_echoed_in_validation_errors():
    found = errors({"url": "http://x.test", "headers": {"Authorization": "Bearer s3cret\nX: y"}})
    assert "s3cret" not in str(found)
