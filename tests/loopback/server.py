"""A real HTTP server on 127.0.0.1 for tests: canned responses per path, and a log of what it received.

Tests talk to it over a real socket, so the client code under test runs unmodified (no httpx mocks). It
stands in for webhook receivers and the third-party sites the project calls.

    with LoopbackServer() as server:
        server.respond("/hook", status=201, body={"ok": True})
        server.respond("/flaky", status=503)          # responses on one path are served in order;
        server.respond("/flaky", status=200)          # the last one repeats
        server.respond("/echo", handler=lambda req: Response(body=req.json()))
        ... call server.url + "/hook" ...
        assert server.requests[0].json() == {...}
"""

import json
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as received. `headers` has lower-cased names; `raw_headers` keeps order and repeats."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)


@dataclass
class Response:
    """A canned response. `body` may be bytes, str (text/plain) or a dict/list (sent as JSON).

    `handler(request)` may compute the response instead: it returns a Response (or a body for a 200).
    `delay` seconds pass before anything is sent (to provoke client timeouts).
    """

    status: int = 200
    body: bytes | str | dict | list | None = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0
    handler: Callable[[Request], "Response | bytes | str | dict | list"] | None = None

    def encode(self):
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return headers, body or b""


class LoopbackServer:
    def __init__(self):
        self.requests: list[Request] = []
        self._routes: dict[tuple[str, str], list[Response]] = {}
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self):
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="loopback-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._stopping.set()  # wakes handlers sleeping in a delay
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    # --- behaviour -------------------------------------------------------------------------
    def respond(self, path, status=200, body=b"", headers=None, delay=0, handler=None, method="*"):
        """Queue a response for `path` (and `method`, default any). Unknown paths get 404."""
        response = Response(status, body, dict(headers or {}), delay, handler)
        with self._lock:
            self._routes.setdefault((method.upper(), path), []).append(response)
        return response

    def reset(self):
        with self._lock:
            self._routes.clear()
            self.requests.clear()

    def wait_for_requests(self, count, timeout=5.0):
        """Block until `count` requests arrived (for code that calls back asynchronously)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"expected {count} request(s), got {len(self.requests)}")
        return self.requests[:count]

    def _dispatch(self, request):
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            queue = self._routes.get((request.method, request.path)) or self._routes.get(("*", request.path))
            if not queue:
                return Response(404, f"no response registered for {request.method} {request.path}")
            response = queue.pop(0) if len(queue) > 1 else queue[0]
        if response.delay and self._stopping.wait(response.delay):
            return None  # shutting down: drop the connection
        if response.handler:
            try:
                produced = response.handler(request)
            except Exception:  # a broken handler shows up as a 500 carrying its traceback
                return Response(500, traceback.format_exc())
            response = produced if isinstance(produced, Response) else Response(body=produced)
        return response


def closed_url():
    """A base URL nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def handle_error(self, request, client_address):
        pass  # clients that time out or stop reading early are expected here, not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as real servers do: else a kept-alive client waits ~40 ms for each body

    def _handle(self):
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_headers=list(self.headers.items()),
            body=self._read_body(),
        )
        response = self.server.owner._dispatch(request)
        if response is None:
            self.close_connection = True
            return
        headers, body = response.encode()
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format, *args):
        pass  # keep test output clean
