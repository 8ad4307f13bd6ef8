"""fetch() against a real loopback server: decoding, conditional requests, retries, caps and redirects."""

import gzip
import time
import zlib

import httpx
import pytest
from django.conf import settings

from scheduler.errors import PermanentError, TransientError
from scheduler.shared import answers
from scrapers.sources import fetch as fetching
from scrapers.sources.fetch import fetch
from tests.loopback.server import LoopbackServer, closed_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    with LoopbackServer() as server:
        yield server


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(fetching, "BACKOFF_BASE", 0.01)


def html(status=200, body=b"", content_type="text/html", **headers):
    return {"status": status, "body": body, "headers": {"Content-Type": content_type, **headers}}


def test_a_200_text_page(server):
    server.respond("/page", body="Olá, tarefas")
    result = fetch(server.url + "/page")
    assert (result.status, result.text, result.encoding) == (200, "Olá, tarefas", "utf-8")
    assert result.url == server.url + "/page" and not result.not_modified
    assert result.size == len("Olá, tarefas".encode()) and result.elapsed_ms >= 0
    assert result.headers["content-type"] == "text/plain; charset=utf-8"


def test_the_identifying_user_agent_is_sent_unless_another_is_given(server):
    server.respond("/page", body="ok")
    fetch(server.url + "/page")
    fetch(server.url + "/page", user_agent="Custom/1.0", headers={"X-Token": "secret"})
    assert server.requests[0].headers["user-agent"] == settings.VIGIA_USER_AGENT
    assert server.requests[1].headers["user-agent"] == "Custom/1.0"
    assert server.requests[1].headers["x-token"] == "secret"
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_charset_from_the_content_type_header(server):
    body = "Gincana é ação".encode("iso-8859-15")
    server.respond("/page", **html(body=body, content_type="text/html; charset=ISO-8859-15"))
    result = fetch(server.url + "/page")
    assert result.text == "Gincana é ação" and result.encoding == "iso8859-15"


@pytest.mark.parametrize(
    "declaration",
    [
        b'<meta charset="windows-1252">',
        b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">',  # read as Windows-1252
    ],
)
def test_charset_from_the_documents_meta(server, declaration):
    body = b"<html><head>" + declaration + b"</head><body>" + "Tarefa “é” ação".encode("cp1252") + b"</body></html>"
    server.respond("/page", **html(body=body))
    result = fetch(server.url + "/page")
    assert "Tarefa “é” ação" in result.text and result.encoding == "cp1252"


def test_charset_from_an_xml_declaration(server):
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><rss><title>ação</title></rss>'.encode("latin-1")
    server.respond("/feed", **html(body=body, content_type="application/rss+xml"))
    assert "<title>ação</title>" in fetch(server.url + "/feed").text


def test_a_latin1_page_without_any_declaration_is_detected(server):
    server.respond("/page", **html(body="<p>Gincana é ação</p>".encode("cp1252")))
    result = fetch(server.url + "/page")
    assert result.text == "<p>Gincana é ação</p>" and result.encoding == "cp1252"


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/html"])
def test_invalid_utf8_does_not_crash(server, content_type):
    server.respond("/page", **html(body=b"<p>ok \xff\xfe \x81\x8d\x8f\x90\x9d \xc3</p>", content_type=content_type))
    result = fetch(server.url + "/page")
    assert result.text.startswith("<p>ok ") and result.text.endswith("</p>") and result.encoding


def test_gzip_bodies_are_decoded(server):
    server.respond("/page", **html(body=gzip.compress("<p>ação</p>".encode()), **{"Content-Encoding": "gzip"}))
    raw_deflate = zlib.compress(b"<p>deflated</p>")[2:-4]  # without the zlib wrapper, as some servers send it
    server.respond("/raw-deflate", **html(body=raw_deflate, **{"Content-Encoding": "deflate"}))
    assert fetch(server.url + "/page").text == "<p>ação</p>"
    assert fetch(server.url + "/raw-deflate").text == "<p>deflated</p>"


def test_conditional_get_and_304(server):
    etag, modified = '"v7"', "Wed, 21 Oct 2015 07:28:00 GMT"
    server.respond("/page", status=304)
    result = fetch(server.url + "/page", etag=etag, last_modified=modified)
    sent = server.requests[0].headers
    assert sent["if-none-match"] == etag and sent["if-modified-since"] == modified
    assert result.not_modified and result.status == 304 and result.text == ""
    assert (result.etag, result.last_modified) == (etag, modified)  # kept when the 304 does not repeat them

    server.reset()
    server.respond("/page", body="fresh", headers={"ETag": '"v8"', "Last-Modified": "Thu, 22 Oct 2015 07:28:00 GMT"})
    result = fetch(server.url + "/page")
    assert "if-none-match" not in server.requests[0].headers
    assert (result.etag, result.last_modified) == ('"v8"', "Thu, 22 Oct 2015 07:28:00 GMT")


def test_a_500_then_200_succeeds_after_a_retry(server):
    server.respond("/flaky", status=500)
    server.respond("/flaky", body="ok")
    assert fetch(server.url + "/flaky").text == "ok"
    assert len(server.requests) == 2


def test_a_persistent_500_is_transient_after_all_attempts(server):
    server.respond("/down", status=500)
    with pytest.raises(TransientError) as caught:
        fetch(server.url + "/down", retries=2)
    assert str(caught.value) == f"HTTP 500 from 127.0.0.1:{server.port} after 3 attempts"
    assert len(server.requests) == 3


def test_429_retry_after_is_honoured(server):
    server.respond("/busy", status=429, headers={"Retry-After": "1"})
    server.respond("/busy", body="ok")
    started = time.monotonic()
    assert fetch(server.url + "/busy", deadline=time.monotonic() + 10).text == "ok"
    assert time.monotonic() - started >= 1.0


def test_a_retry_after_beyond_the_deadline_raises_at_once(server):
    server.respond("/busy", status=503, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"HTTP 503 from .*next attempt in 30\.0 s would pass the deadline"):
        fetch(server.url + "/busy", deadline=time.monotonic() + 5)
    assert time.monotonic() - started < 1 and len(server.requests) == 1


def test_retry_after_as_an_http_date():
    moment = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert answers.retry_after(moment.headers) == 0  # in the past: retry now
    assert answers.retry_after(httpx.Response(429, headers={"Retry-After": "soon"}).headers) is None


def test_a_404_is_permanent_and_not_retried(server):
    with pytest.raises(PermanentError, match=rf"^HTTP 404 from 127.0.0.1:{server.port}$"):
        fetch(server.url + "/missing?token=abc")
    assert len(server.requests) == 1


def test_connection_refused_is_transient():
    url = closed_url()
    where = url.removeprefix("http://")
    with pytest.raises(TransientError, match=rf"^connection refused \({where}\) after 2 attempts$"):
        fetch(url + "/page", retries=1)


def test_a_slow_server_times_out(server):
    server.respond("/slow", body="late", delay=3)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"^timed out after 0.3 s \(127.0.0.1:\d+\)$"):
        fetch(server.url + "/slow", timeout=0.3, retries=0)
    assert time.monotonic() - started < 2


def test_a_body_over_the_cap_is_refused_quickly(server):
    server.respond("/huge", body=b"x" * (10 * 1024 * 1024))
    started = time.monotonic()
    with pytest.raises(PermanentError, match=r"^response larger than 5 MB cap$"):
        fetch(server.url + "/huge")
    assert time.monotonic() - started < 2


def test_the_cap_applies_to_decoded_bytes_as_they_stream(server):
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))  # about 10 KB on the wire
    server.respond("/bomb", **html(body=bomb, **{"Content-Encoding": "gzip"}))
    with pytest.raises(PermanentError, match=r"^response larger than 1.5 KB cap$"):
        fetch(server.url + "/bomb", max_bytes=1536)
    with pytest.raises(PermanentError, match=r"^response larger than 5 MB cap$"):
        fetch(server.url + "/bomb")


def test_redirects_are_followed_to_the_final_url(server):
    server.respond("/a", status=302, headers={"Location": "/b"})  # relative
    server.respond("/b", status=301, headers={"Location": server.url + "/c?x=1"})
    server.respond("/c", body="here")
    result = fetch(server.url + "/a")
    assert (result.text, result.url) == ("here", server.url + "/c?x=1")
    assert [request.path for request in server.requests] == ["/a", "/b", "/c"]


def test_a_redirect_loop_is_permanent(server):
    server.respond("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(PermanentError, match=r"^too many redirects \(more than 3\)$"):
        fetch(server.url + "/loop", max_redirects=3)
    assert len(server.requests) == 4


def test_credentials_are_not_sent_to_another_origin():
    with LoopbackServer() as first, LoopbackServer() as second:
        first.respond("/login", status=303, headers={"Location": second.url + "/landing"})
        second.respond("/landing", body="ok")
        fetch(first.url + "/login", method="POST", headers={"Authorization": "Bearer t", "X-Other": "1"})
        assert first.requests[0].headers["authorization"] == "Bearer t"
        landing = second.requests[0]
        assert landing.method == "GET" and "authorization" not in landing.headers
        assert landing.headers["x-other"] == "1"
