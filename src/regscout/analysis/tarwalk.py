"""A streaming tar reader: decompression by magic bytes and a lean header walker.

It reads a layer once, front to back, from any blocking byte source. Nothing is written to disk:
files that some analyzer asks for are read into memory (size-capped); every other body is
skipped in large reads. Hostile input (names that climb out, lying sizes, truncation, bombs)
ends in a LayerFormatError or a skipped entry with a warning, never in a crash or a hang.
"""

from __future__ import annotations

import hashlib
import io
import queue
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

import zstandard

try:
    from isal import igzip as _gzip_module  # releases the GIL; 2.2x stdlib zlib
except ImportError:  # pragma: no cover - the fallback is the stdlib
    import gzip as _gzip_module  # type: ignore[no-redef]

BLOCK = 512
SKIP_CHUNK = 1 << 20
MAX_META_BYTES = 1 << 20  # PAX records and GNU long names
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

REGULAR = frozenset({b"0", b"\x00", b"7"})
HARDLINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"


class LayerFormatError(Exception):
    """The layer is not a readable tar stream (truncated, corrupt, or over a limit)."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class TarEntry:
    path: str  # normalised
    kind: bytes  # the tar typeflag
    size: int
    mode: int
    linkname: str

    @property
    def is_regular(self) -> bool:
        return self.kind in REGULAR

    @property
    def is_dir(self) -> bool:
        return self.kind == DIRECTORY


class CountingReader:
    """Reads the uncompressed stream in large chunks for the walker, counts it against the size
    limit, and hashes it (for the diff_id check) in a second thread: hashlib releases the GIL,
    so hashing overlaps with decompression instead of adding to it."""

    def __init__(self, source: Readable, limit: int) -> None:
        self.source = source
        self.limit = limit
        self.count = 0
        self._hasher = hashlib.sha256()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._hash_chunks, name="layer-hash", daemon=True)
        self._thread.start()
        self._digest: str | None = None

    def _hash_chunks(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._hasher.update(chunk)

    def read(self, size: int = -1, /) -> bytes:
        try:
            data = self.source.read(size)
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
            self.close()
            raise LayerFormatError(f"the layer's compressed stream is corrupt or truncated: {exc}") from None
        self.count += len(data)
        if self.count > self.limit:
            self.close()
            raise LayerFormatError(
                f"the layer expands past the {self.limit}-byte limit (a decompression bomb, or raise "
                "the limit for very large layers)"
            )
        if data:
            self._chunks.put(data)
        return data

    def close(self) -> None:
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()

    @property
    def digest(self) -> str:
        """The sha256 of everything read so far (stops the hashing thread)."""
        if self._digest is None:
            self.close()
            self._digest = "sha256:" + self._hasher.hexdigest()
        return self._digest


class ReadAhead:
    """Decompresses in a thread of its own, a few chunks ahead of the reader: isal and zstd release
    the GIL, so on two cores decompression runs beside the tar walker instead of before it."""

    def __init__(self, source: Readable, chunk: int = SKIP_CHUNK, depth: int = 4) -> None:
        self._source = source
        self._chunk = chunk
        self._chunks: queue.Queue[bytes | Exception] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="layer-decompress", daemon=True)
        self._thread.start()
        self._done = False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._source.read(self._chunk)
                self._put(data)
                if not data:
                    return
        except Exception as error:  # noqa: BLE001 - any failure here is re-raised in the reader thread
            self._put(error)

    def _put(self, item: bytes | Exception) -> None:
        while not self._stop.is_set():
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1, /) -> bytes:
        """Returns the next decompressed chunk (its size is the chunk size, not `size`)."""
        if self._done:
            return b""
        item = self._chunks.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def open_decompressed(source: BinaryIO) -> tuple[Readable, str]:
    """Sniff the magic bytes and return a reader of the uncompressed tar and the format name.
    gzip streams may have several members and zstd streams several frames: both are read whole."""
    buffered = (
        source if isinstance(source, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, source), 1 << 16)
    )
    head = buffered.peek(4)[:4]
    if head.startswith(GZIP_MAGIC):
        return _gzip_module.GzipFile(fileobj=buffered, mode="rb"), "gzip"  # type: ignore[no-untyped-call]
    if head == ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True), "zstd"
    return buffered, "tar"


def normalise(name: str) -> str | None:
    """The path inside the image, or None for names that must not be used (`..`, absolute)."""
    if name.startswith("/") or "\x00" in name:
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        return None
    return "/".join(parts)


def _octal(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for values that do not fit in octal
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise LayerFormatError(f"negative base-256 {what} in a tar header")
        return value
    text = field.split(b"\x00", 1)[0].strip(b" \x00")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerFormatError(f"tar header has an invalid {what} field {field[:12]!r}") from None


def _checksum_ok(block: bytes) -> bool:
    stored = _octal(block[148:156], "checksum")
    return stored == sum(block) - sum(block[148:156]) + 8 * 32  # the checksum field counts as spaces


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


_PAX_RECORD = re.compile(rb"(\d+) ")


def parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        match = _PAX_RECORD.match(data, position)
        if not match:
            raise LayerFormatError("malformed PAX extended header")
        length = int(match.group(1))
        end = position + length
        if length <= len(match.group(0)) or end > len(data) or data[end - 1 : end] != b"\n":
            raise LayerFormatError("malformed PAX extended header record")
        key, sep, value = data[match.end() : end - 1].partition(b"=")
        if not sep:
            raise LayerFormatError("PAX record without '='")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position = end
    return records


class TarWalker:
    """Iterate the entries of a tar stream. For each entry the caller either reads the body
    with `read_body(limit)` or lets the walker skip it."""

    def __init__(self, reader: Readable) -> None:
        self.reader = reader
        self.warnings: list[str] = []
        self._pending = 0  # body bytes (plus padding) not yet consumed
        self._buffer = memoryview(b"")  # read ahead in large chunks: headers are served from here

    def _fill(self) -> bool:
        try:
            chunk = self.reader.read(SKIP_CHUNK)
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
            raise LayerFormatError(f"the layer's compressed stream is corrupt or truncated: {exc}") from None
        if not chunk:
            return False
        self._buffer = memoryview(bytes(self._buffer) + chunk if self._buffer else chunk)
        return True

    def _read_exact(self, size: int, what: str) -> bytes:
        if len(self._buffer) >= size:
            data = self._buffer[:size].tobytes()
            self._buffer = self._buffer[size:]
            return data
        parts = [self._buffer.tobytes()]
        remaining = size - len(self._buffer)
        self._buffer = memoryview(b"")
        while remaining > 0:
            if not self._fill():
                raise LayerFormatError(f"truncated layer: the stream ended inside {what}")
            take = self._buffer[:remaining]
            parts.append(take.tobytes())
            remaining -= len(take)
            self._buffer = self._buffer[len(take) :]
        return b"".join(parts)

    def _skip(self, size: int, what: str) -> None:
        while size > 0:
            if not self._buffer and not self._fill():
                raise LayerFormatError(f"truncated layer: the stream ended inside {what}")
            step = min(size, len(self._buffer))
            self._buffer = self._buffer[step:]
            size -= step

    def _read_block(self) -> bytes | None:
        if not self._buffer and not self._fill():
            return None
        return self._read_exact(BLOCK, "a tar header")

    def drain(self) -> None:
        """Read to the end of the stream (whatever follows the end-of-archive marker)."""
        self._buffer = memoryview(b"")
        while self._fill():
            self._buffer = memoryview(b"")

    def read_body(self, limit: int) -> bytes:
        """The current entry's body (call at most once, right after the entry is yielded)."""
        size = self._pending_size
        if size > limit:
            raise ValueError("body larger than the limit; check entry.size first")
        data = self._read_exact(size, "a file body")
        self._pending -= size
        self._pending_size = 0
        return data

    def entries(self) -> Iterator[TarEntry]:
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            if self._pending:
                self._skip(self._pending, "a file body")
                self._pending = 0
            block = self._read_block()
            if block is None:
                self.warnings.append("the layer ends without a tar end-of-archive marker")
                return
            if block == b"\x00" * BLOCK:
                return  # whatever follows the end marker is padding
            if not _checksum_ok(block):
                raise LayerFormatError("tar header checksum mismatch: the layer is corrupt")
            kind = block[156:157]
            size = _octal(block[124:136], "size")
            padded = size + (-size % BLOCK)
            if kind in (b"x", b"g", b"L", b"K"):
                if size > MAX_META_BYTES:
                    raise LayerFormatError(f"tar metadata entry of {size} bytes is over the limit")
                meta = self._read_exact(padded, "a tar metadata entry")[:size]
                if kind == b"x":
                    pax = parse_pax(meta)
                elif kind == b"L":
                    long_name = _text(meta)
                elif kind == b"K":
                    long_link = _text(meta)
                continue  # global PAX headers ("g") carry nothing regscout needs
            name = _text(block[0:100])
            prefix = _text(block[345:500]) if block[257:262] == b"ustar" else ""
            if prefix:
                name = f"{prefix}/{name}"
            name = pax.get("path", long_name or name)
            linkname = pax.get("linkpath", long_link or _text(block[157:257]))
            if "size" in pax:
                try:
                    size = int(pax["size"])
                except ValueError:
                    raise LayerFormatError("PAX size is not a number") from None
                padded = size + (-size % BLOCK)
            pax, long_name, long_link = {}, None, None
            mode = _octal(block[100:108], "mode")
            has_body = kind in REGULAR or kind not in (HARDLINK, SYMLINK, DIRECTORY, b"3", b"4", b"6")
            self._pending = padded if has_body else 0
            self._pending_size = size if has_body else 0
            path = normalise(name)
            if path is None:
                self.warnings.append(f"skipped a tar entry whose name leaves the image root: {name[:200]!r}")
                continue
            if not path:
                continue  # the root directory itself
            yield TarEntry(path, kind, size if has_body else 0, mode, linkname)

    _pending_size = 0
