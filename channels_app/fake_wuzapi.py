"""A loopback stand-in for a Wuzapi server, for `bench deliveries` and the tests.

It implements what Vigia relies on: POST /chat/send/text with the `Token` header and a JSON body
{"Phone", "Body", "Id"}; success is {"code": 200, "success": true, "data": {"Id", "Details": "Sent",
"Timestamp"}}, a wrong token is 401 {"code": 401, "error": "unauthorized", "success": false}. Like
WhatsApp, it takes a message's Id as its identity: a repeated Id answers success again but is not a new
message. It records every request (monotonic arrival time, Id, Phone, Body) so a test or benchmark can
check the pace, injects canned failures for the next requests, and can hold an answer after accepting
the message (to kill a worker after the provider took a message but before the answer reached it).

    with FakeWuzapi(latency=0.05) as wuzapi:
        channel.config = {"base_url": wuzapi.url}; channel.secrets = {"token": wuzapi.token}
        wuzapi.fail_next(500, body="no session")     # the phone is logged out
        wuzapi.fail_next(429, count=2)               # then two "slow down"s
        ...
        assert len(wuzapi.messages) == 12 and wuzapi.max_per_second() <= 2
"""

import json
import multiprocessing
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/chat/send/text"
REASONS = {400: "bad request", 401: "unauthorized", 404: "not found", 429: "too many requests"}


@dataclass
class Arrival:
    """One request as it arrived (every request, failed ones included)."""

    at: float  # time.monotonic()
    id: str
    phone: str
    body: str
    token: str = ""
    status: int = 0  # the status answered (set once decided)


class FakeWuzapi:
    def __init__(self, token="t0k3n", latency=0.0):
        self.token = token
        self.latency = latency  # seconds each answer takes in all
        self.requests: list[Arrival] = []
        self.messages: dict[str, Arrival] = {}  # distinct messages by Id, in order of first acceptance
        self._failures = []  # canned (status, body, headers) for the next requests, in order (None: normal)
        self._holds = []  # seconds to hold the answer of the next accepted messages, in order
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    # --- behaviour ------------------------------------------------------------------------------
    def fail_next(self, status, count=1, body=None, headers=None, after=0):
        """Answer the next `count` requests (after `after` normal ones) with `status`, accepting no message.
        `body`: a str is the error text inside Wuzapi's error JSON ("no session"), a dict is sent as JSON,
        bytes as they are; None: Wuzapi's error JSON with a generic text. Calls queue up in order."""
        with self._lock:
            self._failures.extend([None] * after + [(status, body, dict(headers or {}))] * count)

    def hold_next(self, seconds):
        """Accept (record) the next message, then wait `seconds` before answering (stopping ends the wait)."""
        with self._lock:
            self._holds.append(seconds)

    def reset(self):
        with self._lock:
            self.requests.clear()
            self.messages.clear()
            self._failures.clear()
            self._holds.clear()

    # --- what arrived ---------------------------------------------------------------------------
    def ids(self):
        """The Id of every request, in order of arrival (repeats included)."""
        return [arrival.id for arrival in list(self.requests)]

    def max_per_second(self, since=0):
        """The most requests that arrived within any 1-second window (sliding), from request `since` on."""
        times = sorted(arrival.at for arrival in list(self.requests)[since:])
        return max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)

    def gaps(self, since=0):
        """Seconds between consecutive arrivals, from request `since` on."""
        times = sorted(arrival.at for arrival in list(self.requests)[since:])
        return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]

    def wait_for_requests(self, count, timeout=10.0):
        """Block until `count` requests arrived; returns them."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"expected {count} request(s) at the fake Wuzapi, got {len(self.requests)}")
            return list(self.requests[:count])

    def wait_for_messages(self, count, timeout=10.0):
        """Block until `count` distinct messages were accepted; returns them."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"expected {count} message(s) at the fake Wuzapi, got {len(self.messages)}")
            return list(self.messages.values())[:count]

    # --- the server -----------------------------------------------------------------------------
    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as Go's net/http does: else each answer waits on a delayed ACK

            def do_POST(self):  # noqa: N802 - the http.server API
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = fake._answer(self.path, self.headers.get("Token", ""), raw)
                if answer is None:  # stopping during a hold: drop the connection unanswered
                    self.close_connection = True
                    return
                status, body, headers = answer
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json; charset=utf-8"))
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                data = json.dumps({"code": 404, "error": "not found", "success": False}).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def handle_error(self, request, client_address):
                pass  # a client killed mid-answer (the point of hold_next) is expected here

        self._stopping.clear()
        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-wuzapi", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self, poll_interval=0.05):
        """Run in the foreground (a stand-alone fake for a benchmark); stop() or Ctrl-C ends it."""
        if self._server is None:
            self.start()
        try:
            while self._thread.is_alive():
                self._thread.join(poll_interval)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self):
        if self._server:
            self._stopping.set()  # wakes held answers
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- answering ------------------------------------------------------------------------------
    def _answer(self, path, token, raw):
        arrived = time.monotonic()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = None
        fields = payload if isinstance(payload, dict) else {}
        arrival = Arrival(
            arrived, str(fields.get("Id") or ""), str(fields.get("Phone") or ""), str(fields.get("Body") or ""), token
        )
        hold = 0.0
        with self._lock:
            self.requests.append(arrival)
            status, body, headers = self._decide(path, token, payload, arrival)
            arrival.status = status
            if status == 200 and self._holds:
                hold = self._holds.pop(0)
            self._lock.notify_all()
        if hold and self._stopping.wait(hold):
            return None
        if self.latency:  # the answer takes `latency` in all, however long finding it took
            time.sleep(max(0.0, arrived + self.latency - time.monotonic()))
        return status, body, headers

    def _decide(self, path, token, payload, arrival):
        """(status, body, headers) for one request; records an accepted message. Called under the lock."""
        if path.split("?")[0].rstrip("/") != PATH:
            return 404, _error(404, "not found"), {}
        if token != self.token:
            return 401, _error(401, "unauthorized"), {}
        canned = self._failures.pop(0) if self._failures else None
        if canned:
            status, body, headers = canned
            if body is None or isinstance(body, str):
                body = _error(status, body or REASONS.get(status, "failed to send message"))
            return status, body, dict(headers)
        if not isinstance(payload, dict):
            return 400, _error(400, "could not decode Payload"), {}
        for name in ("Phone", "Body"):
            if not payload.get(name):
                return 400, _error(400, f"missing {name} in Payload"), {}
        if not arrival.id:  # Wuzapi makes up an Id when none is given
            arrival.id = f"fake-{len(self.requests)}"
        self.messages.setdefault(arrival.id, arrival)
        data = {"Details": "Sent", "Id": arrival.id, "Timestamp": int(time.time())}
        return 200, {"code": 200, "success": True, "data": data}, {}


def _error(status, text):
    return {"code": status, "error": text, "success": False}


class Remote:
    """A FakeWuzapi in a process of its own, as a real Wuzapi server is: a benchmark's publishing loop and
    the stand-in then do not take turns on one interpreter lock. Arrival times are time.monotonic(), which
    is the same clock in every process of the machine."""

    def __init__(self, token="t0k3n"):
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, token), daemon=True)
        self._process.start()
        self.url, self.token = self._conn.recv()

    def arrivals(self):
        """[(time.monotonic(), Id)] of every request so far, in order of arrival."""
        self._conn.send("arrivals")
        return self._conn.recv()

    def stop(self):
        if self._process.is_alive():
            self._conn.send("stop")
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _serve(conn, token):
    with FakeWuzapi(token=token) as fake:
        conn.send((fake.url, fake.token))
        while (command := conn.recv()) != "stop":
            if command == "arrivals":
                conn.send([(arrival.at, arrival.id) for arrival in list(fake.requests)])
