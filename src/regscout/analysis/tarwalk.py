"""A streaming tar reader: a lean header walker over the uncompressed chunks (decompress.py makes
them), with decompression and the diff_id hash in threads of their own.

It reads a layer once, front to back, from any blocking byte source. Nothing is written to disk:
files that some analyzer asks for are read into memory (size-capped); every other body is
skipped in large reads. Hostile input (names that climb out, lying sizes, truncation, bombs)
ends in a LayerFormatError or a skipped entry with a warning, never in a crash or a hang.
"""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import NamedTuple, Protocol

from .decompress import CompressedStreamError

BLOCK = 512
SKIP_CHUNK = 1 << 20
MAX_META_BYTES = 1 << 20  # PAX records and GNU long names
ZERO_BLOCK = bytes(BLOCK)

REGULAR = frozenset({b"0", b"\x00", b"7"})
HARDLINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"


class LayerFormatError(Exception):
    """The layer is not a readable tar stream (truncated, corrupt, or over a limit)."""


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class TarEntry(NamedTuple):
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
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._hash_chunks, name="layer-hash", daemon=True)
        self._thread.start()
        self._digest: str | None = None

    def _hash_chunks(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._hasher.update(chunk)

    def read(self, size: int = -1, /) -> bytes:
        try:
            data = self.source.read(size)
        except (OSError, EOFError, CompressedStreamError) as exc:
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

    def __init__(self, chunks: Iterator[bytes], depth: int = 2) -> None:
        self._source = chunks
        self._chunks: queue.Queue[bytes | Exception] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="layer-decompress", daemon=True)
        self._thread.start()
        self._done = False

    def _run(self) -> None:
        try:
            for data in self._source:
                if self._stop.is_set():
                    return
                self._put(data)
            self._put(b"")
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


def normalise(name: str) -> str | None:
    """The path inside the image, or None for names that must not be used (`..`, absolute)."""
    rest = name[2:] if name.startswith("./") else name
    if rest.startswith(("/", ".")) or "//" in rest or "/." in rest or "\x00" in rest:
        return _normalise_parts(name)
    return rest.rstrip("/")  # the common case: already clean, at most a trailing slash


def _normalise_parts(name: str) -> str | None:
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
        value = int(text, 8)
    except ValueError:
        raise LayerFormatError(f"tar header has an invalid {what} field {field[:12]!r}") from None
    if value < 0:
        raise LayerFormatError(f"tar header has a negative {what} field {field[:12]!r}")
    return value


def _number(field: bytes, what: str) -> int:
    """A numeric header field; the fast path is the usual zero-padded octal ended by a NUL."""
    if field[-1] == 0 and 0x30 <= field[0] <= 0x37:
        try:
            return int(field[:-1], 8)
        except ValueError:
            pass
    return _octal(field, what)


_adler32 = zlib.adler32


def _checksum_ok(buf: bytes, start: int, field: bytes) -> bool:
    """Whether the header at `buf[start:start + 512]` matches its checksum `field`: the byte sum of
    the header with the checksum field counted as spaces (8 * 32, the 253 below with the three
    adler32 start values). adler32's low 16 bits are 1 + the byte sum mod 65521, exact for runs of
    at most 256 bytes: three C calls instead of a Python sum over 512 ints."""
    total = (
        (_adler32(buf[start : start + 148]) & 0xFFFF)
        + (_adler32(buf[start + 156 : start + 400]) & 0xFFFF)
        + (_adler32(buf[start + 400 : start + 512]) & 0xFFFF)
        + 253
    )
    return field == b"%06o\x00 " % total or _octal(field, "checksum") == total


# The ustar fields the walker reads, unpacked in one call straight from the chunk: name, mode, size,
# checksum, typeflag, linkname, magic, prefix (uid, gid, mtime, uname, gname, devices skipped).
_HEADER = struct.Struct("100s8s8x8x12s12x8sc100s6s2x32x32x8x8x155s12x")
_new_entry = tuple.__new__


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


_PAX_KEYS = frozenset({b"path", b"linkpath", b"size"})


def parse_pax(data: bytes) -> dict[str, str]:
    """The records of a PAX extended header that regscout uses (path, linkpath, size). Every record
    is still checked: a malformed header is an error even if it only carries keys regscout ignores."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        digits = data[position:space] if space > position else b""
        if not digits.isdigit():
            raise LayerFormatError("malformed PAX extended header")
        end = position + int(digits)
        if end <= space + 1 or end > len(data) or data[end - 1] != 0x0A:
            raise LayerFormatError("malformed PAX extended header record")
        key, sep, value = data[space + 1 : end - 1].partition(b"=")
        if not sep:
            raise LayerFormatError("PAX record without '='")
        if key in _PAX_KEYS:
            records[key.decode("ascii")] = value.decode("utf-8", "surrogateescape")
        position = end
    return records


META_KINDS = frozenset({b"x", b"g", b"L", b"K"})
NO_BODY = frozenset({HARDLINK, SYMLINK, DIRECTORY, b"3", b"4", b"6"})


class TarWalker:
    """Iterate the entries of a tar stream. For each entry the caller either reads the body
    with `read_body(limit)` or lets the walker skip it.

    Headers are parsed straight out of the reader's chunks (a bytes object and an offset): a
    skipped body only moves the offset, and only data that straddles two chunks is copied."""

    def __init__(self, reader: Readable) -> None:
        self.reader = reader
        self.warnings: list[str] = []
        self._buf = b""
        self._pos = 0
        self._pending = 0  # body bytes (plus padding) not yet consumed
        self._pending_size = 0  # the current entry's body size, until read_body takes it

    def _next_chunk(self) -> bytes:
        try:
            return self.reader.read(SKIP_CHUNK)
        except (OSError, EOFError, CompressedStreamError) as exc:
            raise LayerFormatError(f"the layer's compressed stream is corrupt or truncated: {exc}") from None

    def _take(self, size: int, what: str) -> bytes:
        buf, pos = self._buf, self._pos
        end = pos + size
        if end <= len(buf):
            self._pos = end
            return buf[pos:end]
        parts = [buf[pos:]]
        remaining = end - len(buf)
        while True:
            chunk = self._next_chunk()
            if not chunk:
                self._buf, self._pos = b"", 0
                raise LayerFormatError(f"truncated layer: the stream ended inside {what}")
            if remaining <= len(chunk):
                parts.append(chunk[:remaining])
                self._buf, self._pos = chunk, remaining
                return b"".join(parts)
            parts.append(chunk)
            remaining -= len(chunk)

    def _skip(self, size: int, what: str) -> None:
        end = self._pos + size
        while end > len(self._buf):
            end -= len(self._buf)
            chunk = self._next_chunk()
            if not chunk:
                self._buf, self._pos = b"", 0
                raise LayerFormatError(f"truncated layer: the stream ended inside {what}")
            self._buf = chunk
        self._pos = end

    def _header(self) -> bytes | None:
        """The next 512-byte block after the pending body, or None if the stream ends cleanly
        before it."""
        if self._pending:
            self._skip(self._pending, "a file body")
            self._pending = 0
        buf, pos = self._buf, self._pos
        end = pos + BLOCK
        if end <= len(buf):
            self._pos = end
            return buf[pos:end]
        if pos == len(buf):
            chunk = self._next_chunk()
            if not chunk:
                return None
            self._buf, self._pos = chunk, 0
        return self._take(BLOCK, "a tar header")

    def drain(self) -> None:
        """Read to the end of the stream (whatever follows the end-of-archive marker)."""
        self._buf, self._pos = b"", 0
        while self._next_chunk():
            pass

    def read_body(self, limit: int) -> bytes:
        """The current entry's body (call at most once, right after the entry is yielded)."""
        size = self._pending_size
        if size > limit:
            raise ValueError("body larger than the limit; check entry.size first")
        data = self._take(size, "a file body")
        self._pending -= size
        self._pending_size = 0
        return data

    def entries(self) -> Iterator[TarEntry]:
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        unpack = _HEADER.unpack_from
        while True:
            buf = self._buf
            start = self._pos + self._pending
            if start + BLOCK <= len(buf):  # the usual case: the next header is in this chunk
                self._pos, self._pending = start + BLOCK, 0
            else:
                block = self._header()
                if block is None:
                    self.warnings.append("the layer ends without a tar end-of-archive marker")
                    return
                buf, start = block, 0
            name_field, mode_field, size_field, checksum, kind, link_field, magic, prefix = unpack(buf, start)
            if not _checksum_ok(buf, start, checksum):
                if buf[start : start + BLOCK] == ZERO_BLOCK:
                    return  # whatever follows the end marker is padding
                raise LayerFormatError("tar header checksum mismatch: the layer is corrupt")
            size = _number(size_field, "size")
            if kind in META_KINDS:
                if size > MAX_META_BYTES:
                    raise LayerFormatError(f"tar metadata entry of {size} bytes is over the limit")
                meta = self._take(size, "a tar metadata entry")
                self._pending = -size % BLOCK
                if kind == b"x":
                    pax = parse_pax(meta)
                elif kind == b"L":
                    long_name = _text(meta)
                elif kind == b"K":
                    long_link = _text(meta)
                continue  # global PAX headers ("g") carry nothing regscout needs
            name = _text(name_field)
            if prefix[0] and magic.startswith(b"ustar"):
                name = f"{_text(prefix)}/{name}"
            linkname = _text(link_field) if link_field[0] else ""
            if pax or long_name or long_link:
                name, linkname, size = _overrides(pax, long_name, long_link, name, linkname, size)
                pax, long_name, long_link = {}, None, None
            mode = _number(mode_field, "mode")
            if kind in NO_BODY:
                size = self._pending = self._pending_size = 0
            else:
                self._pending = size + (-size % BLOCK)
                self._pending_size = size
            path = normalise(name)
            if path is None:
                self.warnings.append(f"skipped a tar entry whose name leaves the image root: {name[:200]!r}")
                continue
            if path:  # not the root directory itself
                yield _new_entry(TarEntry, (path, kind, size, mode, linkname))


def _overrides(
    pax: dict[str, str], long_name: str | None, long_link: str | None, name: str, linkname: str, size: int
) -> tuple[str, str, int]:
    """Apply a PAX header or GNU long name/link to the entry that follows it."""
    name = pax.get("path", long_name or name)
    linkname = pax.get("linkpath", long_link or linkname)
    if "size" in pax:
        try:
            size = int(pax["size"])
        except ValueError:
            raise LayerFormatError("PAX size is not a number") from None
        if size < 0:
            raise LayerFormatError("PAX size is negative")
    return name, linkname, size
