"""Small shared pieces for the harness's stdlib HTTP servers."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HarnessHTTPServer", "QuietHandler", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class HarnessHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that

    * skips the reverse DNS lookup ``HTTPServer.server_bind`` does (no network here),
    * tracks its client connections so ``close()`` can cut idle keep-alive connections,
      instead of leaving handler threads blocked on reads after shutdown,
    * runs ``serve_forever`` on a daemon thread.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, handler: type[BaseHTTPRequestHandler]) -> None:
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._reset_sockets: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        super().__init__((host, 0), handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self, name: str) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if isinstance(request, socket.socket):
            with self._conn_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def mark_for_reset(self, sock: socket.socket) -> None:
        """Close ``sock`` without the FIN that ``shutdown_request`` would send first."""
        with self._conn_lock:
            self._reset_sockets.add(sock)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._conn_lock:
                self._connections.discard(request)
                reset = request in self._reset_sockets
                self._reset_sockets.discard(request)
            if reset:
                request.close()
                return
        super().shutdown_request(request)

    def close(self) -> None:
        """Stop serving and cut every open client connection."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.server_close()
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler that does not log every request to stderr."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate sends; with Nagle's algorithm the second waits ~40 ms for the
    # client's delayed ACK, about one answer in three.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        return

    def read_body(self) -> bytes:
        """The request body, honouring Content-Length or chunked transfer encoding."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the blank line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        content_type: str | None = "application/json",
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
