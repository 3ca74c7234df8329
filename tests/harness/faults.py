"""A fault-injecting HTTP reverse proxy for registry client tests.

``FaultProxy(upstream)`` listens on a free port and forwards every request (method, path+query,
headers including ``Host``, body) to ``upstream``, streaming the answer back unchanged; response
headers such as ``WWW-Authenticate``, ``Link``, ``Location`` and ``Docker-Content-Digest`` are
passed through untouched. Because the client's ``Host`` header is forwarded, the registry builds
its absolute URLs (upload ``Location``) for the proxy's address, so uploads keep flowing through
the proxy. Faults are matched with ``re.search`` against the request target (path + query).
"""

from __future__ import annotations

import array
import base64
import contextlib
import fcntl
import http.client
import re
import socket
import ssl
import struct
import termios
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .httpserver import HarnessHTTPServer, QuietHandler

__all__ = [
    "CorruptBody",
    "Fault",
    "FaultProxy",
    "Hang",
    "RecordedRequest",
    "Redirect",
    "ResetMidBody",
    "Status",
]


@dataclass(frozen=True)
class Status:
    """Answer with this status/headers/body instead of forwarding (e.g. 500, or 429 +
    ``{"Retry-After": "1"}``)."""

    code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ResetMidBody:
    """Forward; send the status line, the headers (with the real Content-Length) and
    ``after_bytes`` bytes of the body, then abort the TCP connection with a RST."""

    after_bytes: int


@dataclass(frozen=True)
class CorruptBody:
    """Forward the real response but flip one byte (XOR 0xFF) of the body, keeping its length.

    ``offset`` defaults to the middle of the body; an empty body is sent unchanged."""

    offset: int | None = None


@dataclass(frozen=True)
class Hang:
    """Hold the request for ``seconds`` (or until ``FaultProxy.close()``).

    If the wait runs out the request is then forwarded normally (a slow upstream); if the proxy
    is closed meanwhile the connection is dropped without an answer."""

    seconds: float


@dataclass(frozen=True)
class Redirect:
    """Answer ``status`` with ``Location: location_base + original path?query`` (no forwarding)."""

    location_base: str
    status: int = 307


Fault = Status | ResetMidBody | CorruptBody | Hang | Redirect


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the proxy received it. ``headers`` is case-insensitive (``httpx.Headers``);
    ``fault`` names the fault class applied (None if forwarded untouched)."""

    method: str
    path: str
    headers: httpx.Headers
    body: bytes = field(repr=False)
    fault: str | None = None
    received_at: float = 0.0

    @property
    def target_path(self) -> str:
        """The path without the query string."""
        return self.path.split("?", 1)[0]


@dataclass
class _Rule:
    pattern: re.Pattern[str]
    fault: Fault
    remaining: int | None
    method: str | None
    fired: int = 0


# RFC 9110 hop-by-hop headers, never forwarded in either direction.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CHUNK = 64 * 1024


class _UpstreamError(Exception):
    pass


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        upstream_ca: Path | None = None,
        bind_host: str = "127.0.0.1",
        upstream_auth: tuple[str, str] | None = None,
        upstream_timeout: float = 60.0,
    ) -> None:
        """``upstream_auth``: Basic credentials the proxy adds to forwarded requests that carry
        no ``Authorization`` of their own. It lets a proxy act like pre-signed blob storage in
        front of an htpasswd registry (the redirect target a client must reach without sending
        its registry credentials); the recorded request still shows what the client sent."""
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._up_scheme = parts.scheme
        self._up_host = parts.hostname
        self._up_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._up_prefix = parts.path.rstrip("/")
        self._up_timeout = upstream_timeout
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._ssl = ssl.create_default_context(cafile=str(upstream_ca) if upstream_ca is not None else None)
        self._upstream_auth = (
            "Basic " + base64.b64encode(f"{upstream_auth[0]}:{upstream_auth[1]}".encode()).decode()
            if upstream_auth is not None
            else None
        )
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rules: list[_Rule] = []
        self._requests: list[RecordedRequest] = []
        self.closing = threading.Event()
        self._server = HarnessHTTPServer(bind_host, _make_handler(self))
        self.host = f"{bind_host}:{self._server.port}"
        self.url = f"http://{self.host}"
        self._server.start(name=f"fault-proxy-{self._server.port}")

    # -- configuration -----------------------------------------------------------------------
    def add_fault(
        self,
        path_regex: str,
        fault: Fault,
        *,
        times: int | None = 1,
        method: str | None = None,
    ) -> None:
        """Apply ``fault`` to requests whose path+query matches ``path_regex`` (``re.search``)
        and, if given, whose method is ``method``; ``times`` = how many requests (None: all).
        Rules are tried in the order added; the first live matching rule wins."""
        with self._lock:
            self._rules.append(_Rule(re.compile(path_regex), fault, times, method.upper() if method else None))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending_faults(self) -> int:
        """How many rules can still fire (unlimited rules count as one)."""
        with self._lock:
            return sum(1 for r in self._rules if r.remaining is None or r.remaining > 0)

    # -- records ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for_requests(
        self,
        count: int,
        *,
        timeout: float = 10.0,
        where: Callable[[RecordedRequest], bool] | None = None,
    ) -> list[RecordedRequest]:
        """Block until at least ``count`` recorded requests (matching ``where``) exist; returns
        them. Raises TimeoutError after ``timeout`` seconds."""

        def matching() -> list[RecordedRequest]:
            return [r for r in self._requests if where is None or where(r)]

        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := matching()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"only {len(found)} of {count} requests seen on {self.url}")
                self._changed.wait(left)
            return found

    def _match(self, method: str, path: str, headers: httpx.Headers, body: bytes) -> Fault | None:
        with self._changed:
            chosen: _Rule | None = None
            for rule in self._rules:
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if rule.method is not None and rule.method != method:
                    continue
                if rule.pattern.search(path):
                    chosen = rule
                    break
            if chosen is not None:
                chosen.fired += 1
                if chosen.remaining is not None:
                    chosen.remaining -= 1
            fault = chosen.fault if chosen is not None else None
            self._requests.append(
                RecordedRequest(
                    method,
                    path,
                    headers,
                    body,
                    type(fault).__name__ if fault is not None else None,
                    time.time(),
                )
            )
            self._changed.notify_all()
            return fault

    # -- upstream ----------------------------------------------------------------------------
    def _connect(self) -> http.client.HTTPConnection:
        if self._ssl is not None:
            return http.client.HTTPSConnection(
                self._up_host, self._up_port, timeout=self._up_timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self._up_host, self._up_port, timeout=self._up_timeout)

    def _upstream_headers(self, headers: httpx.Headers) -> list[tuple[str, str]]:
        out = [(k, v) for k, v in headers.multi_items() if k.lower() not in _HOP_BY_HOP]
        # The proxy sends the (already read) body with its own Content-Length, and has answered
        # any "Expect: 100-continue" itself.
        out = [(k, v) for k, v in out if k.lower() not in ("content-length", "expect")]
        if self._ssl is not None and "x-forwarded-proto" not in headers:
            # The client speaks plain HTTP to us; without this the registry would build
            # https:// upload locations for the proxy's address.
            out.append(("X-Forwarded-Proto", "http"))
        if self._upstream_auth is not None and "authorization" not in headers:
            out.append(("Authorization", self._upstream_auth))
        return out

    def close(self) -> None:
        """Release hung requests, stop serving and cut open connections. Idempotent."""
        self.closing.set()
        self._server.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_until_sent(sock: socket.socket, closing: threading.Event, timeout: float = 5.0) -> None:
    """Wait until the kernel send queue of ``sock`` is empty (the peer has ACKed everything), so
    that data written before a RST is delivered rather than discarded."""
    deadline = time.monotonic() + timeout
    buf = array.array("i", [0])
    while time.monotonic() < deadline:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        except OSError:
            return
        if buf[0] == 0:
            return
        if closing.wait(0.001):
            return


def _make_handler(proxy: FaultProxy) -> type[QuietHandler]:
    class Handler(QuietHandler):
        _upstream: http.client.HTTPConnection | None = None

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError, ssl.SSLError):
                self.close_connection = True

        def finish(self) -> None:
            with contextlib.suppress(OSError):
                super().finish()
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None

        # every method goes through the same path
        def do_GET(self) -> None:
            self._proxy()

        do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

        # ---------------------------------------------------------------------------------
        def _proxy(self) -> None:
            body = self.read_body()
            headers = httpx.Headers(list(self.headers.items()))
            fault = proxy._match(self.command, self.path, headers, body)
            if isinstance(fault, Status):
                self.send_bytes(fault.code, fault.body, dict(fault.headers), content_type=None)
                return
            if isinstance(fault, Redirect):
                location = fault.location_base.rstrip("/") + self.path
                self.send_bytes(fault.status, b"", {"Location": location}, content_type=None)
                return
            if isinstance(fault, Hang) and proxy.closing.wait(fault.seconds):
                self.close_connection = True
                return
            try:
                resp = self._forward(headers, body)
            except (OSError, http.client.HTTPException, _UpstreamError) as exc:
                msg = f"fault proxy: upstream {proxy.upstream} failed: {exc!r}".encode()
                self.send_bytes(502, msg, content_type="text/plain")
                self.close_connection = True
                return
            try:
                if isinstance(fault, ResetMidBody):
                    self._reply_reset(resp, fault.after_bytes)
                elif isinstance(fault, CorruptBody):
                    self._reply_corrupt(resp, fault.offset)
                else:
                    self._reply_stream(resp)
            finally:
                if resp.will_close and self._upstream is not None:
                    self._upstream.close()
                    self._upstream = None

        def _forward(self, headers: httpx.Headers, body: bytes) -> http.client.HTTPResponse:
            target = proxy._up_prefix + self.path
            up_headers = proxy._upstream_headers(headers)
            send_length = bool(body) or self.command in ("POST", "PUT", "PATCH")
            for attempt in range(2):
                reused = self._upstream is not None
                if self._upstream is None:
                    self._upstream = proxy._connect()
                conn = self._upstream
                try:
                    conn.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
                    for k, v in up_headers:
                        conn.putheader(k, v)
                    if "host" not in headers:
                        conn.putheader("Host", f"{proxy._up_host}:{proxy._up_port}")
                    if send_length:
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body if body else None)
                    return conn.getresponse()
                except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError):
                    conn.close()
                    self._upstream = None
                    if not reused or attempt == 1:
                        raise
            raise _UpstreamError("unreachable")

        def _no_body(self, status: int) -> bool:
            return self.command == "HEAD" or status in (204, 304) or 100 <= status < 200

        def _send_head(self, resp: http.client.HTTPResponse, *, content_length: int | None) -> None:
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                lk = k.lower()
                if lk in _HOP_BY_HOP:
                    continue
                if content_length is not None and lk == "content-length":
                    continue
                self.send_header(k, v)
            if content_length is not None:
                self.send_header("Content-Length", str(content_length))

        def _reply_stream(self, resp: http.client.HTTPResponse) -> None:
            if self._no_body(resp.status):
                resp.read()
                self._send_head(resp, content_length=None)
                self.end_headers()
                return
            if resp.getheader("Content-Length") is not None:
                self._send_head(resp, content_length=None)
                self.end_headers()
                while chunk := resp.read(_CHUNK):
                    self.wfile.write(chunk)
                return
            # upstream used chunked encoding (or read-until-close): re-chunk
            self._send_head(resp, content_length=None)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := resp.read(_CHUNK):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        def _reply_corrupt(self, resp: http.client.HTTPResponse, offset: int | None) -> None:
            data = bytearray(b"" if self._no_body(resp.status) else resp.read())
            if data:
                pos = len(data) // 2 if offset is None else offset % len(data)
                data[pos] ^= 0xFF
            if self._no_body(resp.status):
                self._send_head(resp, content_length=None)
                self.end_headers()
                return
            self._send_head(resp, content_length=len(data))
            self.end_headers()
            self.wfile.write(bytes(data))

        def _reply_reset(self, resp: http.client.HTTPResponse, after_bytes: int) -> None:
            data = b"" if self._no_body(resp.status) else resp.read()
            self._send_head(resp, content_length=None if self._no_body(resp.status) else len(data))
            self.end_headers()
            self.wfile.write(data[: max(after_bytes, 0)])
            self.wfile.flush()
            sock = self.connection
            _wait_until_sent(sock, proxy.closing)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            proxy._server.mark_for_reset(sock)
            self.close_connection = True

    return Handler
