"""A loopback stand-in for a Wuzapi server, for `bench deliveries` and the tests.

It answers POST /chat/send/text, /chat/send/image and /chat/send/document exactly as Wuzapi does, byte for
byte, for every situation its source can produce (asternic/wuzapi at 79ee4cd, May 2025, built with whatsmeow
v0.0.0-20250501130609-4c93ee4e6efa; the file and line of each answer are in ANSWERS below): the same checks in
the same order (route, then the `Token` header, then the WhatsApp session, then the JSON body), the same status
codes, and the same bodies (Go's json.Encoder: compact, keys sorted, a trailing newline). Like WhatsApp, it
takes a message's Id as its identity: a repeated Id answers success again but is not a new message. Like
Wuzapi (wmiau.go:105, parseJID) it reads nothing of the Phone but a leading '+' and a missing user before '@':
anything else (spaces, other scripts' digits, a number without its country code) is accepted and recorded as
it came, so a test sees exactly what WhatsApp would have been asked to reach. It records every request
(monotonic arrival time, Id, Phone, Body or Caption, a file's bytes and name) so a test or benchmark can check
the pace and the files, and can hold an answer after accepting the message (to kill a worker after the
provider took a message but before the answer reached it). Files are checked as Wuzapi does: the data URL's
prefix and base64, and an image must be one Go's image.Decode reads in Wuzapi's binary (PNG or JPEG).

The WhatsApp session is a state, as on a real server (`session`): "connected" (the default), "no_session"
(never connected, logged out, or its QR code expired), "not_logged_in" (connected to WhatsApp but not
paired), "not_connected" (paired, websocket down). One-off answers (a send that timed out, WhatsApp
refusing a message with error 463, rate-overlimit...) are queued with answer_next(); fail_next() queues
what something in front of Wuzapi may answer (a proxy's 502, a 429 with Retry-After).

    with FakeWuzapi(latency=0.05) as wuzapi:
        channel.config = {"base_url": wuzapi.url}; channel.secrets = {"token": wuzapi.token}
        wuzapi.session = "no_session"                 # the phone was logged out
        wuzapi.answer_next("send_timeout")            # then one send WhatsApp did not confirm
        wuzapi.fail_next(502, count=2)                # then two answers of a proxy whose upstream is down
        ...
        assert len(wuzapi.messages) == 12 and wuzapi.max_per_second() <= 2
"""

import base64
import json
import multiprocessing
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_to_bytes

from tests.loopback.server import LoopbackServer, Response

PATH = "/chat/send/text"
IMAGE_PATH, DOCUMENT_PATH = "/chat/send/image", "/chat/send/document"
ROUTES = {PATH: "text", IMAGE_PATH: "image", DOCUMENT_PATH: "document"}  # routes.go:87-91
# What each route requires in its JSON, in the order it checks (handlers.go:1732-1737 SendMessage, 907-915
# SendImage, 655-668 SendDocument), with the situation answered when it is missing.
REQUIRED = {
    "text": (("Phone", "missing_phone"), ("Body", "missing_body")),
    "image": (("Phone", "missing_phone"), ("Image", "missing_image")),
    "document": (("Phone", "missing_phone"), ("Document", "missing_document"), ("FileName", "missing_filename")),
}
# The data URL's start each file route checks (handlers.go:938 `t.Image[0:10]`, 688 `t.Document[0:29]`): a
# shorter value panics in the handler, and net/http drops the connection unanswered.
PREFIXES = {"image": "data:image", "document": "data:application/octet-stream"}
SENDING = "Error sending message: "  # handlers.go:1777: fmt.Sprintf("Error sending message: %v", err)
JSON = "application/json"  # handlers.go:3369, Respond: w.Header().Set("Content-Type", "application/json")
USYNC = "failed to get device list: failed to send usync query: "  # whatsmeow send.go:1049 and user.go:814
NOT_FOUND = (404, b"404 page not found\n", "text/plain; charset=utf-8")  # routes.go:122, http.FileServer

# situation -> (status, error text): what Wuzapi answers, and where its source says so. Files are
# asternic/wuzapi's (handlers.go, routes.go) and whatsmeow's (errors.go, send.go, request.go, user.go,
# client.go, group.go, socket/framesocket.go) at the versions above.
ANSWERS = {
    # handlers.go:105 (authalice): no user row has the token (handlers.go:48 answers the same for /admin).
    "unauthorized": (401, "Unauthorized"),
    # handlers.go:77/84 (authalice): the token lookup failed; the text is the database driver's error.
    "database_error": (500, "dial tcp 127.0.0.1:5432: connect: connection refused"),
    # handlers.go:1716 (SendMessage): clientManager has no whatsmeow client for the user: never connected,
    # killed on events.LoggedOut (wmiau.go:653) or on QR timeout (wmiau.go:252).
    "no_session": (500, "No session"),
    # handlers.go:1727, 1732, 1737: the JSON body.
    "bad_payload": (400, "Could not decode Payload"),
    "missing_phone": (400, "Missing Phone in Payload"),
    "missing_body": (400, "Missing Body in Payload"),
    # handlers.go:3427 (validateMessageFields via parseJID, wmiau.go:105): a JID with no user part.
    "bad_phone": (400, "Could not parse Phone"),
    # handlers.go:1777 with whatsmeow's SendMessage errors:
    # errors.go:23 ErrNotLoggedIn, send.go:196: the store has no device (never paired, or unpaired).
    "not_logged_in": (500, SENDING + "the store doesn't contain a device JID"),
    # errors.go:22 ErrNotConnected from client.go:774, wrapped by send.go:1049 and user.go:814 (devices not
    # cached), send.go:801 (cached), send.go:291 (a group not cached).
    "not_connected": (500, SENDING + USYNC + "websocket not connected"),
    "not_connected_cached": (500, SENDING + "failed to send message node: websocket not connected"),
    "not_connected_group": (500, SENDING + "failed to get group members: websocket not connected"),
    # errors.go:24 ErrMessageTimedOut, send.go:393: no ack within the send timeout.
    "send_timeout": (500, SENDING + "timed out waiting for message send response"),
    # errors.go:21 ErrIQTimedOut, request.go:178.
    "info_query_timeout": (500, SENDING + USYNC + "info query timed out"),
    # errors.go:252 DisconnectedError, request.go:185/191 (retryFrame) via send.go:403 ("message send").
    "disconnected": (500, SENDING + "websocket disconnected before message send returned response"),
    # socket/framesocket.go:41 ErrSocketClosed, from SendFrame (client.go:783) via send.go:801.
    "socket_closed": (500, SENDING + "failed to send message node: frame socket is closed"),
    # errors.go:188 ErrIQRateOverLimit, formatted by errors.go:217.
    "rate_overlimit": (500, SENDING + USYNC + "info query returned status 429: rate-overlimit"),
    "info_query_500": (500, SENDING + USYNC + "info query returned status 500: internal-server-error"),
    # send.go:413: the ack carried an error code (errors.go:109 ErrServerReturnedError).
    "server_error_479": (500, SENDING + "server returned error 479"),
    "server_error_463": (500, SENDING + "server returned error 463"),
    "server_error_403": (500, SENDING + "server returned error 403"),
    # errors.go:85 ErrGroupNotFound, 83 ErrNotInGroup (group.go:535-538), wrapped by send.go:291.
    "group_not_found": (500, SENDING + "failed to get group members: that group does not exist"),
    "not_in_group": (500, SENDING + "failed to get group members: you're not participating in that group"),
    # errors.go:107 ErrUnknownServer (send.go:375), 108 ErrRecipientADJID (send.go:191).
    "unknown_server": (500, SENDING + "can't send message to unknown server c.us"),  # Phone "…@c.us"
    "device_jid": (500, SENDING + "message recipient must be a user JID with no device part"),
}
# What only the file routes answer: handlers.go SendImage (875-1023) and SendDocument (627-750). The answers
# above apply to them too (the same session, payload and send checks).
FILE_ANSWERS = {
    "missing_image": (400, "Missing Image in Payload"),
    "missing_document": (400, "Missing Document in Payload"),
    "missing_filename": (400, "Missing FileName in Payload"),
    "image_prefix": (400, 'Image data should start with "data:image/png;base64,"'),
    "document_prefix": (400, 'Document data should start with "data:application/octet-stream;base64,"'),
    "bad_base64": (400, "Could not decode base64 encoded data from payload"),
    # handlers.go:946/699 with whatsmeow's Upload error (upload.go:197 + mediaconn.go:68) when not connected.
    "upload_not_connected": (
        500,
        "Failed to upload file: failed to refresh media connections: failed to query media connections: "
        "websocket not connected",
    ),
    # handlers.go:955: image.Decode knows PNG (registered by go-qrcode) and JPEG (handlers.go imports it) only.
    "no_thumbnail": (500, "Could not decode image for thumbnail preparation: image: unknown format"),
}
SESSIONS = ("connected", "no_session", "not_logged_in", "not_connected")
GENERIC = {400: "bad request", 401: "unauthorized", 404: "not found", 429: "too many requests"}  # fail_next()


def go_json(value):
    """`value` as Go's json.Encoder writes it (handlers.go:3393): compact, map keys sorted, <, > and &
    escaped, a trailing newline."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return (text + "\n").encode()


def error_body(status, text):
    """handlers.go:3373-3376 (Respond with an error): {"code", "error", "success": false}."""
    return go_json({"code": status, "error": text, "success": False})


def go_time(moment):
    """A time.Time as encoding/json writes it (RFC 3339, "Z" for UTC)."""
    text = moment.isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


@dataclass
class Arrival:
    """One request as it arrived (every request, failed ones included)."""

    at: float  # time.monotonic()
    id: str
    phone: str
    body: str
    token: str = ""
    status: int = 0  # the status answered (set once decided)
    peer: int = 0  # the client's port: one port, one connection (kept alive)
    kind: str = "text"  # "text", "image" or "document" (the route); `body` is a file's Caption
    file_name: str = ""  # a document's FileName
    data: bytes = b""  # a file's bytes, decoded from its data URL
    mimetype: str = ""  # as Wuzapi records it: http.DetectContentType's reading of the bytes


class FakeWuzapi:
    def __init__(self, token="t0k3n", latency=0.0):
        self.token = token
        self.latency = latency  # seconds each answer takes in all
        self._session = "connected"
        self.requests: list[Arrival] = []
        self.messages: dict[str, Arrival] = {}  # distinct messages by Id, in order of first acceptance
        self._failures = []  # canned answers for the next requests, in order (None: normal)
        self._holds = []  # seconds to hold the answer of the next accepted messages, in order
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server = None

    # --- behaviour ------------------------------------------------------------------------------
    @property
    def session(self):
        """The WhatsApp session's state: one of SESSIONS ("connected" by default)."""
        return self._session

    @session.setter
    def session(self, state):
        if state not in SESSIONS:
            raise ValueError(f"unknown session state {state!r}; one of {', '.join(SESSIONS)}")
        self._session = state

    def answer_next(self, situation, count=1, after=0):
        """Answer the next `count` sends (after `after` normal ones) as Wuzapi does in `situation` (a key of
        ANSWERS or FILE_ANSWERS), accepting no message. Token and route checks come first, as on the real server."""
        if situation not in ANSWERS and situation not in FILE_ANSWERS:
            raise ValueError(f"unknown situation {situation!r}; see ANSWERS and FILE_ANSWERS")
        with self._lock:
            self._failures.extend([None] * after + [situation] * count)

    def fail_next(self, status, count=1, body=None, headers=None, after=0):
        """Answer the next `count` requests (after `after` normal ones) with `status`, accepting no message:
        what a proxy in front of Wuzapi may answer. `body`: a str is put inside Wuzapi's error JSON, a dict
        is sent as JSON, bytes as they are; None: Wuzapi's error JSON with a generic text."""
        with self._lock:
            self._failures.extend([None] * after + [(status, body, dict(headers or {}))] * count)

    def hold_next(self, seconds):
        """Accept (record) the next message, then wait `seconds` before answering (stopping ends the wait)."""
        with self._lock:
            self._holds.append(seconds)

    def reset(self):
        with self._lock:
            self._session = "connected"
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
        return self._server.url

    def start(self):
        # POST /chat/send/text and GET's static 404 (other methods: http.server's 501), kept alive with Nagle
        # off as Go's net/http does, and a backlog for a benchmark's bursts. A client killed mid-answer (the
        # point of hold_next) is expected there: the server keeps quiet about it.
        self._server = LoopbackServer(self._serve, methods=("GET", "POST"), record=False, request_queue_size=128)
        self._stopping = self._server.stopping  # set by stop(): wakes held answers
        self._server.start()
        return self

    def serve_forever(self, poll_interval=0.05):
        """Run in the foreground (a stand-alone fake for a benchmark); stop() or Ctrl-C ends it."""
        if self._server is None:
            self.start()
        try:
            self._server.serve_forever(poll_interval)
        finally:
            self.stop()

    def stop(self):
        server, self._server = self._server, None
        if server:
            server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- answering ------------------------------------------------------------------------------
    def _serve(self, request):
        if request.method == "GET":  # /chat/send/* are POST only: the static file server answers
            return _reply(NOT_FOUND[0], NOT_FOUND[1], {"Content-Type": NOT_FOUND[2]})
        # authalice reads the header "token" (any case), else the ?token= query parameter
        answer = self._answer(request.target, request.header("Token", ""), request.body, request.peer)
        if answer is None:  # stopping during a hold: drop the connection unanswered
            return None
        return _reply(*answer)

    def _answer(self, path, token, raw, peer=0):
        arrived = time.monotonic()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = None
        fields = payload if isinstance(payload, dict) else {}
        kind = ROUTES.get(path.split("?")[0], "text")
        arrival = Arrival(
            arrived,
            str(fields.get("Id") or ""),
            str(fields.get("Phone") or ""),
            str(fields.get("Body" if kind == "text" else "Caption") or ""),
            token,
            peer=peer,
            kind=kind,
            file_name=str(fields.get("FileName") or ""),
        )
        hold = 0.0
        with self._lock:
            self.requests.append(arrival)
            decided = self._decide(path, token, payload, arrival)
            if decided is None:  # the handler panicked: net/http closes the connection
                self._lock.notify_all()
                return None
            status, body, headers = decided
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
        """(status, body bytes, headers) for one request, in the real server's order; records an accepted
        message. Called under the lock."""
        route = ROUTES.get(path.split("?")[0])
        if route is None:  # routes.go:87 matches the exact path; anything else: routes.go:122
            return NOT_FOUND[0], NOT_FOUND[1], {"Content-Type": NOT_FOUND[2]}
        if token != self.token:  # handlers.go:105
            return _situation("unauthorized")
        canned = self._failures.pop(0) if self._failures else None
        if isinstance(canned, str):
            return _situation(canned)
        if canned:
            status, body, headers = canned
            if body is None or isinstance(body, str):
                body = error_body(status, body or GENERIC.get(status, "failed to send message"))
            elif not isinstance(body, bytes):
                body = json.dumps(body).encode()
            return status, body, dict(headers)
        if self.session == "no_session":
            return _situation("no_session")  # handlers.go:1716, before the body is read
        if not isinstance(payload, dict):  # handlers.go:1727
            return _situation("bad_payload")
        for name, situation in REQUIRED[route]:
            if not payload.get(name):
                return _situation(situation)
        phone = str(payload["Phone"]).removeprefix("+")
        if "@" in phone and not phone.split("@", 1)[0]:  # wmiau.go:105 parseJID: a JID without its user
            return _situation("bad_phone")
        if route != "text":
            problem = self._file(route, str(payload["Image" if route == "image" else "Document"]), arrival)
            if problem is not None:
                return None if problem == "panic" else _situation(problem)
        if self.session == "not_logged_in":  # whatsmeow send.go:196, before anything is sent
            return _situation("not_logged_in")
        if self.session == "not_connected":
            return _situation("not_connected_group" if phone.endswith("@g.us") else "not_connected")
        if not arrival.id:  # handlers.go:1748: Wuzapi makes up an Id when none is given
            arrival.id = f"fake-{len(self.requests)}"
        self.messages.setdefault(arrival.id, arrival)
        data = {"Details": "Sent", "Id": arrival.id, "Timestamp": go_time(datetime.now().astimezone())}
        return 200, go_json({"code": 200, "data": data, "success": True}), {}  # handlers.go:1782-1787

    def _file(self, route, value, arrival):
        """Check and decode a file's data URL as SendImage/SendDocument do; returns the situation that stops it
        ("panic" for a value too short to slice), or None with arrival.data and arrival.mimetype set."""
        prefix = PREFIXES[route]
        if len(value) < len(prefix):
            return "panic"
        if value[: len(prefix)] != prefix:
            return "image_prefix" if route == "image" else "document_prefix"
        data = _data_url(value)  # vincent-petithory/dataurl DecodeString
        if data is None:
            return "bad_base64"
        if self.session == "not_connected":  # the upload comes before the send
            return "upload_not_connected"
        if route == "image" and not data.startswith((PNG, JPEG)):
            return "no_thumbnail"
        arrival.data, arrival.mimetype = data, detect_content_type(data)
        return None


PNG, JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


def _data_url(value):
    """The bytes of `data:[<type>][;base64],<data>`, or None where dataurl.DecodeString fails."""
    header, comma, encoded = value[len("data:") :].partition(",")
    if not comma:
        return None
    if header.endswith(";base64"):
        try:
            return base64.b64decode(encoded, validate=True)
        except ValueError:
            return None
    return unquote_to_bytes(encoded)


def detect_content_type(data):
    """The part of Go's http.DetectContentType (its sniffing table) that tests meet."""
    for magic, kind in (
        (b"%PDF-", "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"PK\x03\x04", "application/zip"),
    ):
        if data.startswith(magic):
            return kind
    return "application/octet-stream"


def _reply(status, body, headers):
    headers = dict(headers)
    content_type = headers.pop("Content-Type", JSON)
    return Response(status, body, {"Content-Type": content_type, "Content-Length": str(len(body)), **headers})


def _situation(name):
    status, text = ANSWERS[name] if name in ANSWERS else FILE_ANSWERS[name]
    return status, error_body(status, text), {}


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
