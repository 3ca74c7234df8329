"""regscout's httpcore backend on asyncio transports, against small real servers on loopback:
bodies arrive whole under back-pressure, and every failure surfaces as the httpx error it would
have been with httpx's own backend."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from regscout.registries.distribution import RegistryClient
from regscout.registries.netstream import HIGH_WATER, AsyncioStream, AsyncioTransport

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> None:
    while (await reader.readline()) not in (b"\r\n", b""):
        pass


async def until(condition: Callable[[], bool], seconds: float) -> None:
    """Poll `condition` on the event loop (other tasks keep running) until it holds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def client(**timeouts: float) -> httpx.AsyncClient:
    transport = AsyncioTransport(ssl.create_default_context(), httpx.Limits(max_connections=4), http2=False)
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, **timeouts))


async def test_a_large_body_arrives_whole_while_reading_is_paused_and_resumed() -> None:
    body = bytes(range(256)) * (5 * HIGH_WATER // 256)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        writer.close()

    async with serve(handler) as url:
        async with client() as http, http.stream("GET", url) as response:
            stream = response.extensions["network_stream"]
            assert isinstance(stream, AsyncioStream)
            pieces = response.aiter_raw()
            received = [await anext(pieces)]
            # Not reading: the receiver buffers up to its high-water mark, then stops reading the socket.
            await until(lambda: stream._receiver.paused, 10)
            assert stream._receiver.buffered > HIGH_WATER
            received.extend([piece async for piece in pieces])
        assert b"".join(received) == body


async def test_a_stalled_body_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        await reader.read()  # holds the connection open until the client gives up

    async with serve(handler) as url, client(read=0.3) as http, http.stream("GET", url) as response:
        with pytest.raises(httpx.ReadTimeout):
            await response.aread()


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # closing sends RST
    writer.transport.abort()


@pytest.mark.parametrize(
    ("hang_up", "error"),
    [(reset, httpx.ReadError), (lambda writer: writer.close(), httpx.RemoteProtocolError)],
    ids=["reset", "clean-close"],
)
async def test_a_body_cut_short_is_a_transport_error(
    hang_up: Callable[[asyncio.StreamWriter], None], error: type[httpx.TransportError]
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        hang_up(writer)

    async with serve(handler) as url, client() as http, http.stream("GET", url) as response:
        with pytest.raises(error):
            await response.aread()


async def test_nothing_listening_is_a_connect_error() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, not listening: connections are refused
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/v2/")


async def test_registry_client_uses_this_backend() -> None:
    """Guards the one private hook: httpx's transport keeps its connection pool in `_pool`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async with serve(handler) as url, RegistryClient(url) as registry:
        response = await registry.request("GET", "/v2/")
        assert isinstance(response.extensions["network_stream"], AsyncioStream)
        await response.aclose()
