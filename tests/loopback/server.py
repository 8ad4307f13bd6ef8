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

It is the only HTTP server the tests and benchmarks build: the stand-ins for particular upstreams
(djen.py, wuzapi.py, the fault tests' abusive upstream, the benchmarks' organizer sites) own one and answer
everything through `fallback`, a handler for the requests no route matches:

    LoopbackServer(fallback=answer, methods=("GET",), protocol="HTTP/1.0", record=False)
"""

import json
import socket
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
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
    target: str = ""  # the request-target as sent: the path and query, still encoded
    peer: int = 0  # the client's port: one port, one connection (kept alive)

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def header(self, name, default=None):
        """The first `name` header (any case), as servers read it (`headers` keeps the last of repeats)."""
        return next((value for key, value in self.raw_headers if key.lower() == name.lower()), default)


@dataclass
class Response:
    """A canned response. `body` may be bytes, str (text/plain) or a dict/list (sent as JSON).

    `handler(request)` may compute the response instead: it returns a Response, a body for a 200, or None to
    drop the connection unanswered. `delay` seconds pass before anything is sent (to provoke client timeouts).
    `raw` replaces all of it: bytes written as they are produced, each flushed, nothing added (the status line
    and headers are the iterable's to send) — for upstreams that break HTTP on purpose (a slow loris, a body
    of no announced length). The connection then ends as the protocol says (HTTP/1.0: closed).
    """

    status: int = 200
    body: bytes | str | dict | list | None = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0
    handler: Callable[[Request], "Response | bytes | str | dict | list | None"] | None = None
    raw: Iterable[bytes] | None = None

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
    """`fallback(request)` answers what no route matches, as a route's handler does (default: a 404 naming the
    request). `methods`: the only methods served (others get http.server's 501), None for all. `protocol`:
    "HTTP/1.1" keeps connections alive; "HTTP/1.0" answers one request per connection and closes it, so a
    body needs no length. `record`: keep `requests` (off for stand-ins keeping a log of their own, and for
    long benchmarks). `request_queue_size`: the listen backlog (raise it for bursts of connections). `host`:
    "127.0.0.1" or "::1"."""

    def __init__(
        self, fallback=None, *, methods=None, protocol="HTTP/1.1", record=True, request_queue_size=5, host="127.0.0.1"
    ):
        self.fallback = fallback
        self.methods = methods
        self.protocol = protocol
        self.record = record
        self.request_queue_size = request_queue_size
        self.host = host
        self.requests: list[Request] = []
        self.stopping = threading.Event()  # set by stop(): what a handler that waits should wait on
        self._routes: dict[tuple[str, str], list[Response]] = {}
        self._lock = threading.Condition()
        self._stopping_lock = threading.Lock()
        self._address = None
        self._httpd = None
        self._thread = None

    # --- lifecycle -------------------------------------------------------------------------
    def bind(self):
        """Open the listening socket without serving yet (the port is known from here on): a process forked
        after this can serve it."""
        if self._httpd is None:
            self._httpd = _Server(self)
            self._address = self._httpd.server_address[:2]
        return self

    def start(self):
        """Serve on a thread of this process."""
        if self._thread is None:
            self.bind()
            self.stopping.clear()
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="loopback-http", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self, poll_interval=0.05):
        """Serve in the foreground (a stand-alone server): stop() from another thread, or Ctrl-C, ends it."""
        self.start()
        try:
            while self._thread and self._thread.is_alive():
                self._thread.join(poll_interval)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self):
        with self._stopping_lock:  # serve_forever() ends with a stop() while another thread's is under way
            if self._httpd:
                self.stopping.set()  # wakes handlers sleeping in a delay
                if self._thread:
                    self._httpd.shutdown()
                    self._thread.join(timeout=5)
                    self._thread = None
                self._httpd.server_close()
                self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._address[1]

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # --- behaviour -------------------------------------------------------------------------
    def respond(self, path, status=200, body=b"", headers=None, delay=0, handler=None, method="*"):
        """Queue a response for `path` (and `method`, default any). Unknown paths go to `fallback`."""
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
            if self.record:
                self.requests.append(request)
                self._lock.notify_all()
            queue = self._routes.get((request.method, request.path)) or self._routes.get(("*", request.path))
            if queue:
                response = queue.pop(0) if len(queue) > 1 else queue[0]
            elif self.fallback:
                response = Response(handler=self.fallback)
            else:
                return Response(404, f"no response registered for {request.method} {request.path}")
        if response.delay and self.stopping.wait(response.delay):
            return None  # shutting down: drop the connection
        if response.handler:
            try:
                produced = response.handler(request)
            except Exception:  # a broken handler shows up as a 500 carrying its traceback
                return Response(500, traceback.format_exc())
            if produced is None:
                return None
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

    def __init__(self, owner):
        self.owner = owner
        self.address_family = socket.AF_INET6 if ":" in owner.host else socket.AF_INET
        self.request_queue_size = owner.request_queue_size  # read when the socket starts listening
        super().__init__((owner.host, 0), _Handler)

    def handle_error(self, request, client_address):
        pass  # clients that time out or stop reading early are expected here, not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # as real servers do: else a kept-alive client waits ~40 ms for each body

    def setup(self):
        self.protocol_version = self.server.owner.protocol
        super().setup()

    def _handle(self):
        owner = self.server.owner
        if owner.methods is not None and self.command not in owner.methods:  # as http.server answers
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_headers=list(self.headers.items()),
            body=self._read_body(),
            target=self.path,
            peer=self.client_address[1],
        )
        response = owner._dispatch(request)
        if response is None:
            self.close_connection = True
            return
        if response.raw is not None:
            for chunk in response.raw:
                self.wfile.write(chunk)
                self.wfile.flush()
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
