"""An httpcore network backend on plain asyncio transports.

httpcore's default backend goes through anyio: every read of a response body enters a cancel
scope, yields to the event loop once, resumes the socket's reader and pauses it again (two
epoll_ctl calls), and TLS runs in anyio's own MemoryBIO wrapper. For a layer of hundreds of
megabytes that is most of the event loop's time. Here the transport keeps reading into a buffer
(paused only above a high-water mark) and a read returns what is buffered without suspending;
TLS is asyncio's own. Errors are httpcore's, so httpx maps them as it always does."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Coroutine, Iterable
from typing import Any

import httpcore
import httpx

RECEIVE_BYTES = 1 << 20
HIGH_WATER = 4 << 20  # buffered bytes above which the socket is no longer read
LOW_WATER = 1 << 20  # ... and below which reading resumes


class _Receiver(asyncio.BufferedProtocol):
    """Buffers what arrives and wakes the one reader waiting for it. The socket is read into a
    buffer of RECEIVE_BYTES (asyncio's own reads stop at 256 KiB): when the event loop falls
    behind, one read catches up instead of several."""

    def __init__(self) -> None:
        self._receiving = memoryview(bytearray(RECEIVE_BYTES))
        self.transport: asyncio.Transport | None = None
        self.pieces: deque[bytes] = deque()
        self.buffered = 0
        self.ended = False
        self.error: BaseException | None = None
        self.paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._receiving

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._receiving[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        self.pieces.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait_readable(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def drain(self) -> None:
        if self._writing_paused and not self.ended:
            self._drained = asyncio.get_running_loop().create_future()
            try:
                await self._drained
            finally:
                self._drained = None

    def take(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of what is buffered, in arrival order."""
        first = self.pieces.popleft()
        if len(first) > max_bytes:
            self.pieces.appendleft(first[max_bytes:])
            first = first[:max_bytes]
        elif self.pieces and len(first) + len(self.pieces[0]) <= max_bytes:
            parts = [first]
            size = len(first)
            while self.pieces and size + len(self.pieces[0]) <= max_bytes:
                piece = self.pieces.popleft()
                parts.append(piece)
                size += len(piece)
            first = b"".join(parts)
        self.buffered -= len(first)
        if self.paused and self.buffered < LOW_WATER and self.transport is not None and not self.ended:
            self.transport.resume_reading()
            self.paused = False
        return first


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, receiver: _Receiver) -> None:
        self._transport = transport
        self._receiver = receiver

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        receiver = self._receiver
        if not receiver.pieces:
            if receiver.ended:
                return self._at_end()
            try:
                async with asyncio.timeout(timeout):
                    await receiver.wait_readable()
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data for {timeout} s") from None
            if not receiver.pieces:
                return self._at_end()
        return receiver.take(max_bytes)

    def _at_end(self) -> bytes:
        error = self._receiver.error
        if error is not None:
            raise httpcore.ReadError(str(error) or type(error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._receiver.ended or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        try:
            async with asyncio.timeout(timeout):
                await self._receiver.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"could not send for {timeout} s") from None

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._receiver, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout} s") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # the peer closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._receiver.transport = transport
        return AsyncioStream(transport, self._receiver)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":  # an idle pooled connection the server has closed
            return bool(self._receiver.pieces) or self._receiver.ended
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        opening = asyncio.get_running_loop().create_connection(_Receiver, host, port, local_addr=local)
        return await _connect(opening, f"{host}:{port}", timeout, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        opening = asyncio.get_running_loop().create_unix_connection(_Receiver, path)
        return await _connect(opening, path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(
    opening: Coroutine[Any, Any, tuple[asyncio.Transport, _Receiver]],
    where: str,
    timeout: float | None,
    socket_options: Iterable[Any] | None,
) -> AsyncioStream:
    try:
        async with asyncio.timeout(timeout):
            transport, receiver = await opening
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"could not connect to {where} within {timeout} s") from None
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    _apply(transport, socket_options)
    return AsyncioStream(transport, receiver)


def _apply(transport: asyncio.Transport, socket_options: Iterable[Any] | None) -> None:
    sock: socket.socket | None = transport.get_extra_info("socket")
    if sock is None:
        return
    for option in socket_options or ():
        sock.setsockopt(*option)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its request/response and error mapping), with the connection pool on
    the backend above. httpx takes no network backend, so the pool it built is replaced; the test
    `test_netstream` fails if a new httpx stops using `_pool`."""

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits, *, http2: bool) -> None:
        super().__init__(verify=ssl_context, limits=limits, http2=http2, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=AsyncioBackend(),
        )
