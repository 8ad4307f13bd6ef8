"""The one outbound client per worker process: kept-alive connections reused by every caller (fetch, DJEN,
http_request, the channel kinds), no cookies carried between callers, a new client after a fork and when
the allow-list changes, and each attempt's deadline kept on a reused connection. Real loopback servers."""

import os
import socket
import time

import pytest
from django.utils import timezone

from channels_app.kinds import base as kinds
from scheduler import job_kinds
from scheduler.errors import TransientError
from scheduler.shared import outbound
from scrapers.people import djen
from scrapers.sources.fetch import fetch
from tests.loopback.djen import FakeDjen
from tests.loopback.server import LoopbackServer, Response
from tests.loopback.wuzapi import FakeWuzapi

pytestmark = pytest.mark.django_db


class PeerServer:
    """A keep-alive HTTP/1.1 server that records the client port of each request (one port: one connection).
    /cookie sets a cookie; /trickle sends its headers a byte every 0.1 s (a slow loris)."""

    def __init__(self):
        self.server = LoopbackServer(self._answer, methods=("GET", "POST")).bind()
        self.url = self.server.url

    @property
    def peers(self):
        return [request.peer for request in self.server.requests]

    @property
    def cookies(self):
        return [request.header("Cookie") for request in self.server.requests]

    def _answer(self, request):
        if request.target == "/trickle":
            return Response(raw=_trickle())
        cookie = {"Set-Cookie": "session=abc; Path=/"} if request.target == "/cookie" else {}
        return Response(200, b'{"ok": true}', {**cookie, "Content-Type": "application/json"})

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()


def _trickle():
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
        yield bytes([byte])
        time.sleep(0.1)


@pytest.fixture
def peer():
    with PeerServer() as server:
        yield server


def run_http_request(url):
    params = job_kinds.clean_params("http_request", {"url": url})
    context = job_kinds.RunContext(
        run_id=None, job_id=1, job_name="t", attempt=1, scheduled_for=timezone.now(), timeout_seconds=10
    )
    return job_kinds.get("http_request").run(params, context)


def test_every_caller_reuses_one_kept_alive_connection(peer):
    for _ in range(5):
        fetch(peer.url + "/page")
    for _ in range(5):
        run_http_request(peer.url + "/job")
    webhook = kinds.get("webhook")
    for n in range(5):
        message = kinds.Outgoing(key=f"vigia-{n}", subject="s", text="t")
        webhook.send({"url": peer.url + "/hook"}, {"secret": "s" * 16}, "", message)
    assert len(peer.peers) == 15 and len(set(peer.peers)) == 1


def test_wuzapi_and_djen_sends_reuse_their_connection(settings):
    with FakeWuzapi() as wuzapi, FakeDjen() as fake_djen:
        settings.VIGIA_DJEN_URL = fake_djen.url
        wuzapi_kind = kinds.get("wuzapi")
        for n in range(5):
            message = kinds.Outgoing(key=f"vigia-{n}", subject="", text="oi")
            wuzapi_kind.send({"base_url": wuzapi.url}, {"token": wuzapi.token}, "5511987654321", message)
        for _ in range(5):
            djen.search({"nomeParte": "Ana"}, timezone.localdate(), timezone.localdate())
    assert len(wuzapi.messages) == 5 and len({arrival.peer for arrival in wuzapi.requests}) == 1
    assert len(fake_djen.requests) == 5 and len(set(fake_djen.peers)) == 1


def test_the_shared_client_keeps_no_cookies(peer):
    fetch(peer.url + "/cookie")
    fetch(peer.url + "/page")
    run_http_request(peer.url + "/job")
    assert peer.cookies == [None, None, None]
    assert not list(outbound.client().cookies.jar)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")  # the loopback servers' threads
def test_each_process_and_each_allow_list_has_its_own_client(settings):
    settings.VIGIA_OUTBOUND_ALLOW = ["127.0.0.1"]
    first = outbound.client()
    assert outbound.client() is first

    settings.VIGIA_OUTBOUND_ALLOW = ["127.0.0.1", "wuzapi"]
    second = outbound.client()
    assert second is not first and first.is_closed  # connections vetted under the old list are gone

    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            fresh = not outbound._clients and outbound.client() is not second
            os.write(writer, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    assert os.read(reader, 1) == b"1"  # the child built its own, without touching the parent's
    os.waitpid(child, 0)
    assert outbound.client() is second and not second.is_closed


def test_a_reused_connection_still_keeps_the_attempts_deadline(peer):
    fetch(peer.url + "/page")  # a kept-alive connection now waits in the pool
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"^timed out after 0.5 s"):
        fetch(peer.url + "/trickle", timeout=0.5, retries=0)  # each byte well within the read timeout
    assert time.monotonic() - started < 1.5
    assert peer.peers[0] == peer.peers[1]  # the slow answer came on the reused connection


def test_a_pooled_connection_is_not_reused_for_a_host_the_allow_list_no_longer_admits(settings, peer):
    settings.VIGIA_OUTBOUND_ALLOW = ["localhost"]
    port = peer.url.rsplit(":", 1)[1]
    fetch(f"http://localhost:{port}/page")
    settings.VIGIA_OUTBOUND_ALLOW = []
    with pytest.raises(outbound.Refused):
        fetch(f"http://localhost:{port}/page")
    assert len(peer.peers) == 1


def test_connections_are_vetted_per_connect_not_per_name(settings, peer):
    """A name admitted once is not trusted for ever: a new connection resolves and vets again."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip("this host's name does not resolve")
    if not all(outbound.forbidden_class(address) for address in addresses):
        pytest.skip("this host's name resolves to a public address")
    settings.VIGIA_OUTBOUND_ALLOW = []
    with pytest.raises(outbound.Refused):
        fetch(f"http://{name}:{peer.url.rsplit(':', 1)[1]}/page")
    assert peer.peers == []
