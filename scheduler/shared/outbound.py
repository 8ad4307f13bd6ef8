"""Outbound safety (SSRF): which addresses URLs given by operators and API clients may reach.

Loopback, unspecified, private, link-local (cloud metadata at 169.254.169.254), shared CGNAT, multicast and
reserved addresses are refused — in any spelling (2130706433, 0x7f.1, ::ffff:127.0.0.1) — unless
VIGIA_OUTBOUND_ALLOW lists the URL's host, or addresses or networks holding each forbidden address it resolves to,
or the URL's host:port exactly (`127.0.0.1:8001`, `[::1]:8001`: that port only; `up` allows its demo this way).

Two moments:
- saving a URL (forms, the API): `validate_url` refuses literal addresses and names such as `localhost`,
  without DNS (a name may resolve differently where the workers run);
- every request, each redirect hop included: `transport()` is the httpx transport of every outbound client.
  It refuses literal addresses before reusing any connection, and opens new connections through
  `vet()`: the host is resolved once, refused if ANY address is forbidden, and the socket goes to exactly
  the addresses checked, so a DNS answer that changes between the check and the connect (rebinding)
  cannot slip through.
A refusal is `Refused`, a PermanentError: retrying cannot help, so it is never retried.

Every outbound request of a worker goes through `client()`: one httpx.Client per process (rebuilt after a
fork, and when the allow-list changes), so requests to a host reuse its kept-alive connections. A connection
is vetted once, when it is opened, and only ever talks to the address vetted then, so reusing it is as safe
as the first request; redirects are followed by the callers (or by httpx for http_request) and each hop goes
through the same transport. Cookies are never kept: a shared client must not carry one caller's session to
another. Each attempt still runs inside `deadline()`.
"""

import contextvars
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, cast

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scheduler.errors import PermanentError
from scheduler.shared import tls

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host names, networks, (host, port) endpoints: a literal address in its canonical spelling, or a name)
type AllowList = tuple[frozenset[str], tuple[IPNetwork, ...], frozenset[tuple[str, int]]]

SETTING = "VIGIA_OUTBOUND_ALLOW"
ENDPOINT = re.compile(r"(\[[^\]]+\]|[^:\[\]]+):(\d{1,5})")  # host:port, [v6]:port (a bare v6 address has colons)
DEFAULT_PORTS = {"http": 80, "https": 443}
ADVICE = f"add the host to {SETTING} to allow it"
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# What ipaddress's properties do not all cover (or name) in every Python version.
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # embeds an IPv4 address
PRIVATE = [ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]
LOOPBACKS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))  # what local names resolve to
CLASSES = {  # the reason's wording in errors (English, for logs and run results) and in forms (translated)
    "unspecified": gettext_lazy("unspecified"),
    "loopback": gettext_lazy("loopback"),
    "link-local": gettext_lazy("link-local"),
    "private": gettext_lazy("private"),
    "shared (CGNAT)": gettext_lazy("shared (CGNAT)"),
    "multicast": gettext_lazy("multicast"),
    "reserved": gettext_lazy("reserved"),
}


class Refused(PermanentError):
    """The destination is forbidden: a permanent failure, never retried."""


class Unresolved(httpcore.ConnectError):
    """The host name does not resolve (httpx reports it as a connection error, as it would have)."""


def forbidden_class(address: str | IPAddress) -> str | None:
    """Why an address may not be reached ("loopback", "link-local"...), or None if it is a public one."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):  # forms that carry an IPv4 address reach it (mapped, 6to4, NAT64)
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_class(embedded)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in CGNAT:
        return "shared (CGNAT)"
    if any(ip in net for net in PRIVATE if net.version == ip.version):
        return "private"
    if ip.is_reserved or ip.is_private or not ip.is_global:  # 0/8, 240/4, documentation, benchmarking...
        return "reserved"
    return None


def literal_ip(host: str | None) -> IPAddress | None:
    """The address a host names literally, in any spelling a resolver accepts (127.1, 2130706433, 0x7f.0.0.1,
    0177.0.0.1, [::1]), or None for a name."""
    host = (host or "").strip().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%")[0])  # an IPv6 zone (fe80::1%eth0) names no other address
    except ValueError:
        pass
    if host and all(part and (part.isdigit() or part.lower().startswith("0x")) for part in host.split(".")):
        try:  # inet_aton reads the shortened, decimal, octal and hex forms as glibc's resolver does
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


# --- the allow-list --------------------------------------------------------------------------------------


def _entries() -> AllowList:
    value = getattr(settings, SETTING, "")
    return _parse(tuple(value) if isinstance(value, list | tuple) else tuple(str(value or "").split(",")))


@cache
def _parse(entries: tuple[str, ...]) -> AllowList:
    """(host names, networks, endpoints) from entries such as `wuzapi`, `10.0.0.5`, `10.0.0.0/8`, `[::1]`,
    `127.0.0.1:8001`."""
    names: set[str] = set()
    nets: list[IPNetwork] = []
    endpoints: set[tuple[str, int]] = set()
    for entry in entries:
        if endpoint := ENDPOINT.fullmatch(entry.strip()):
            endpoints.add((_key(endpoint[1]), int(endpoint[2])))
            continue
        entry = entry.strip().strip("[]").rstrip(".").lower()
        if not entry:
            continue
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            ip = literal_ip(entry)
            if ip is not None:
                nets.append(ipaddress.ip_network(ip))
            else:
                names.add(entry)
    return frozenset(names), tuple(nets), frozenset(endpoints)


def _normal(host: str | None) -> str:
    return (host or "").strip().strip("[]").rstrip(".").lower()


def _key(host: str | None) -> str:
    """How an endpoint entry and a URL's host are compared: a literal address in one spelling, else the name."""
    ip = literal_ip(host)
    return str(ip) if ip is not None else _normal(host)


def host_allowed(host: str | None, port: int | None = None) -> bool:
    """Whether the allow-list lets `host` (on `port`) through. A host:port entry allows that port only; judged
    without a port (a form that checks a host alone), any of its ports: each request is checked with its own."""
    names, nets, endpoints = _entries()
    ip = literal_ip(host)
    if _normal(host) in names or (ip is not None and _in(ip, nets)):
        return True
    key = _key(host)
    return any(name == key and port in (None, allowed) for name, allowed in endpoints)


def _in(ip: IPAddress, nets: Iterable[IPNetwork]) -> bool:
    candidates = [ip] + ([ip.ipv4_mapped] if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else [])
    return any(candidate in net for candidate in candidates for net in nets if candidate.version == net.version)


def allow(*entries: str) -> None:
    """Add entries to this process's allow-list and to the environment its children inherit (`up` does
    this for the demo's own web server)."""
    current = [part.strip() for part in os.environ.get(SETTING, "").split(",") if part.strip()]
    current += [entry for entry in entries if entry and entry not in current]
    os.environ[SETTING] = ",".join(current)
    setattr(settings, SETTING, list(current))


# --- the checks ------------------------------------------------------------------------------------------


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def check_host(host: str | None, port: int | None = None) -> None:
    """Refused unless the host (on `port`) may be called, judged without DNS (literal addresses and local
    names)."""
    if host_allowed(host, port):
        return
    ip = literal_ip(host)
    if ip is not None:
        kind = forbidden_class(ip)
    elif _is_local_name(host):  # loopback whatever DNS says; allowed with the addresses it stands for
        _names, nets, _endpoints = _entries()
        kind = None if any(_in(loopback, nets) for loopback in LOOPBACKS) else "loopback"
    else:
        return
    if kind is not None:
        shown = _normal(host)
        raise Refused(f"refused: {shown} is {_a(kind)} address; {ADVICE}")


def _is_local_name(host: str | None) -> bool:
    name = _normal(host)
    return name in LOCAL_NAMES or name.endswith(".localhost")  # RFC 6761: always loopback


def vet(host: str, port: int) -> list[str]:
    """The addresses to connect to for host:port, resolved once; Refused if any of them is forbidden."""
    check_host(host, port)
    try:
        found = socket.getaddrinfo(_normal(host), port, type=socket.SOCK_STREAM)
    except OSError as exc:  # unknown name, no network: what the connect itself would have said
        raise Unresolved(str(exc)) from exc
    # An AF_INET or AF_INET6 address: (host, port, ...).
    addresses = list(dict.fromkeys(cast(str, info[4][0]) for info in found))
    if host_allowed(host, port):
        return addresses
    _names, nets, _endpoints = _entries()
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        kind = forbidden_class(ip)
        if kind is not None and not _in(ip, nets):
            shown = _normal(host)
            where = f"{shown} is" if literal_ip(host) is not None else f"{shown} resolves to {ip}, which is"
            raise Refused(f"refused: {where} {_a(kind)} address; {ADVICE}")
    return addresses


def validate_url(value: object) -> None:
    """For forms and the API: a field-level ValidationError when the URL names a forbidden host (no DNS) or
    carries a user and password."""
    try:
        url = httpx.URL(str(value).strip())
    except httpx.InvalidURL:
        return  # the field's own checks report malformed URLs
    if url.userinfo:
        # An address is shown on pages, in run records and in logs: a password inside it would be too.
        raise ValidationError(
            _(
                "Leave the user and password out of the address: it is shown on pages and in the run history. "
                "Send credentials in the headers or the login settings."
            ),
            code="userinfo",
        )
    validate_host(url.host, port_of(url))


def port_of(url: httpx.URL) -> int | None:
    """The port a request to `url` goes to (None for a scheme with no default port)."""
    return url.port or DEFAULT_PORTS.get(url.scheme)


def validate_host(host: str | None, port: int | None = None) -> None:
    try:
        check_host(host, port)
    except Refused:
        ip = literal_ip(host)
        kind = forbidden_class(ip) if ip is not None else "loopback"
        assert kind is not None  # check_host refuses an address only for its class
        raise ValidationError(
            _("%(host)s is not a public address (%(kind)s): Vigia does not call it unless %(setting)s lists it."),
            code="forbidden_address",
            params={"host": _normal(host), "kind": CLASSES[kind], "setting": SETTING},
        ) from None


# --- httpx integration ---------------------------------------------------------------------------------


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("outbound_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every read and write on an outbound connection inside the block ends by `seconds` from now. httpx's
    timeouts are per read, so without this an upstream sending a byte a second (a slow loris, headers
    included) would hold a worker for ever."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _bounded(timeout: float | None) -> float | None:
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        return self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _VettingBackend(httpcore.SyncBackend):
    """Opens each new connection to the vetted addresses only (TLS still verifies the host's name), with
    reads and writes bounded by the current deadline()."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        problem: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in vet(host, port):
            try:
                stream = super().connect_tcp(address, port, _bounded(timeout), local_address, socket_options)
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                problem = exc  # try the next address, as socket.create_connection does
        raise problem or httpcore.ConnectError(f"no address for {host}")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with every request's host checked and every connection vetted. Proxies from the
    environment are not used: through a proxy, the address reached would escape the check."""

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=tls.context(), limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(  # as httpx builds it, plus the vetting network backend
            ssl_context=tls.context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_VettingBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_host(request.url.host, port_of(request.url))  # before a kept-alive connection is reused for it
        return super().handle_request(request)


def transport() -> GuardedTransport:
    return GuardedTransport()


# --- the one client per process ------------------------------------------------------------------------

MAX_REDIRECTS = 5  # for the callers that let httpx follow redirects (http_request); fetch follows its own
DEFAULT_TIMEOUT = 15.0  # callers pass their own per request
_clients: dict[tuple[int, AllowList], httpx.Client] = {}  # (pid, allow-list) -> httpx.Client
_clients_lock = threading.Lock()


def client() -> httpx.Client:
    """This process's outbound httpx.Client: the guarded transport, kept-alive connections, no cookie jar, no
    proxies or netrc from the environment, no redirects unless a request asks (follow_redirects=True, at
    most MAX_REDIRECTS). Pass the timeout per request, and wrap each attempt in deadline()."""
    key = (os.getpid(), _entries())
    found = _clients.get(key)
    if found is not None:
        return found
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            for stale in [other for other in _clients if other[0] == key[0]]:
                _clients.pop(stale).close()  # the allow-list changed: its vetted connections go
            found = _clients[key] = httpx.Client(
                transport=transport(),
                follow_redirects=False,
                max_redirects=MAX_REDIRECTS,
                timeout=httpx.Timeout(DEFAULT_TIMEOUT),
                trust_env=False,
                cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # accepts and returns none
            )
    return found


def _forget_after_fork() -> None:
    """A forked child must not share its parent's connections (nor close them: they are the parent's)."""
    global _clients_lock
    _clients.clear()
    _clients_lock = threading.Lock()  # the parent may have held it while forking


os.register_at_fork(after_in_child=_forget_after_fork)


def read_capped(response: httpx.Response, limit: int, deadline: float | None = None) -> tuple[bytes, bool]:
    """(body, whether more was left) of a streamed response, reading at most `limit` bytes; TimeoutError when
    the body is still arriving at `deadline` (a time.monotonic() value: httpx bounds each read, not a body
    that trickles in)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if size + len(chunk) > limit:
            chunks.append(chunk[: limit - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("the response's body took too long")
    return b"".join(chunks), False


def size_text(count: int) -> str:
    """A size cap in words: 5242880 → '5 MB', 1536 → '1.5 KB'."""
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"
