"""A pure-Python, read-only rpmdb reader: SQLite, NDB and BerkeleyDB hash files, one header-blob decoder.

Every reader works on the file's bytes in memory and is written for hostile input: each loop is bounded by
the data size, every offset is checked before use, and nothing is allocated that the input does not contain.
Problems are reported as `RpmdbError` (the whole file is unusable) or as warnings (one record skipped).
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

SQLITE_MAGIC = b"SQLite format 3\x00"
NDB_MAGIC = b"RpmP"
BDB_HASH_MAGIC = 0x00061561

# Header tags (rpmtag.h) and types.
TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_OLDFILENAMES = 1027
TAG_SOURCERPM = 1044
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
TAG_MODULARITYLABEL = 5096

TYPE_INT32 = 4
TYPE_STRING = 6
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

# rpm's own sanity limits (header_internal.h): at most 0xffff index entries, a 256 MiB data store.
MAX_INDEX_ENTRIES = 0xFFFF
MAX_DATA_STORE = 256 * 1024 * 1024


class RpmdbError(Exception):
    """The database or header cannot be read at all."""


def detect_format(data: bytes) -> str | None:
    """The format by its magic bytes: "sqlite", "ndb", "bdb" or None."""
    if data.startswith(SQLITE_MAGIC):
        return "sqlite"
    if data.startswith(NDB_MAGIC):
        return "ndb"
    if len(data) >= 16 and BDB_HASH_MAGIC in struct.unpack_from("<I", data, 12) + struct.unpack_from(">I", data, 12):
        return "bdb"
    return None


def read_blobs(data: bytes) -> tuple[list[bytes], list[str]]:
    """All header blobs of an rpmdb file of any supported format, and warnings for skipped records."""
    warnings: list[str] = []
    kind = detect_format(data)
    if kind == "sqlite":
        return sqlite_blobs(data), warnings
    if kind == "ndb":
        return list(ndb_blobs(data, warnings)), warnings
    if kind == "bdb":
        return list(bdb_blobs(data, warnings)), warnings
    raise RpmdbError("not an rpm database (no SQLite, NDB or BerkeleyDB hash magic)")


# --- SQLite -------------------------------------------------------------------------------------------------


def sqlite_blobs(data: bytes) -> list[bytes]:
    if len(data) < 100:
        raise RpmdbError("SQLite file shorter than its header")
    # The in-memory VFS cannot open a WAL-mode file; bytes 18-19 = 1 mark it as a rollback-journal file, and
    # rpm checkpoints the WAL on close, so nothing is lost.
    if data[18:20] != b"\x01\x01":
        data = data[:18] + b"\x01\x01" + data[20:]
    conn = sqlite3.connect(":memory:")
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")  # a corrupt file may hold any bytes as text
    try:
        # Bound the VM steps and the value sizes by the file size, whatever a corrupt or hostile file holds.
        budget = [len(data) // 1024 + 1000]  # progress callbacks, one per 1000 VM instructions

        def progress() -> int:
            budget[0] -= 1
            return 1 if budget[0] < 0 else 0

        conn.set_progress_handler(progress, 1000)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(len(data), 1000))
        conn.deserialize(data)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA trusted_schema = 0")
        row = conn.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
        if row is None or row[0] != "table":
            raise RpmdbError("SQLite file has no Packages table")
        blobs: list[bytes] = []
        total = 0
        for (blob,) in conn.execute("SELECT blob FROM Packages ORDER BY hnum"):
            if isinstance(blob, bytes):
                total += len(blob)
                if total > len(data):  # rows sharing overflow pages: more than the file can hold
                    raise RpmdbError("SQLite rows hold more bytes than the file")
                blobs.append(blob)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise RpmdbError(f"SQLite: {exc}") from None
    finally:
        conn.close()
    return blobs


# --- NDB (rpm's lib/backend/ndb/rpmpkg.c; little-endian) ----------------------------------------------------

NDB_PAGE = 4096
NDB_SLOT = 16
NDB_BLK = 16
NDB_HEAD = 16
NDB_TAIL = 12
SLOT_MAGIC = b"Slot"
BLOB_HEAD_MAGIC = b"BlbS"
BLOB_TAIL_MAGIC = b"BlbE"


def ndb_blobs(data: bytes, warnings: list[str]) -> Iterator[bytes]:
    if len(data) < 32:
        raise RpmdbError("NDB file shorter than its header")
    version, _generation, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise RpmdbError(f"NDB version {version} is not supported")
    if slot_pages == 0 or slot_pages * NDB_PAGE > len(data):
        raise RpmdbError(f"NDB slot pages ({slot_pages}) do not fit in the file")
    # In block order, as rpm lists them; blobs may not overlap (rpm refuses such a file too), so a hostile
    # file cannot make many slots yield copies of one large blob.
    next_free = slot_pages * NDB_PAGE // NDB_BLK
    for pkg_index, blk_offset, blk_count in sorted(_ndb_slots(data, slot_pages, warnings), key=lambda s: s[1]):
        if blk_offset < next_free:
            warnings.append(f"NDB: package {pkg_index} overlaps the slot pages or another package; skipped")
            continue
        blob = _ndb_blob(data, pkg_index, blk_offset, blk_count)
        if isinstance(blob, str):
            warnings.append(f"NDB: package {pkg_index}: {blob}; skipped")
            continue
        next_free = blk_offset + blk_count
        yield blob


def _ndb_slots(data: bytes, slot_pages: int, warnings: list[str]) -> Iterator[tuple[int, int, int]]:
    """(package index, block offset, block count) of the used slots. The first two slots hold the header."""
    for offset in range(2 * NDB_SLOT, slot_pages * NDB_PAGE, NDB_SLOT):
        if data[offset : offset + 4] != SLOT_MAGIC:
            warnings.append(f"NDB: bad slot magic at offset {offset}; remaining slots skipped")
            return
        pkg_index, blk_offset, blk_count = struct.unpack_from("<III", data, offset + 4)
        if pkg_index and blk_offset:
            yield pkg_index, blk_offset, blk_count


def _ndb_blob(data: bytes, pkg_index: int, blk_offset: int, blk_count: int) -> bytes | str:
    start = blk_offset * NDB_BLK
    end = start + blk_count * NDB_BLK
    if end > len(data) or blk_count * NDB_BLK < NDB_HEAD + NDB_TAIL:
        return "blob outside the file"
    if data[start : start + 4] != BLOB_HEAD_MAGIC:
        return "bad blob magic"
    head_index, _stamp, blob_len = struct.unpack_from("<III", data, start + 4)
    if head_index != pkg_index:
        return f"blob belongs to package {head_index}"
    if blk_count != (NDB_HEAD + blob_len + NDB_TAIL + NDB_BLK - 1) // NDB_BLK:
        return "blob length does not match its block count"
    adler, tail_len = struct.unpack_from("<II", data, end - NDB_TAIL)
    if data[end - 4 : end] != BLOB_TAIL_MAGIC or tail_len != blob_len:
        return "bad blob trailer"
    if zlib.adler32(memoryview(data)[start : end - NDB_TAIL]) != adler:
        return "adler32 mismatch"
    return data[start + NDB_HEAD : start + NDB_HEAD + blob_len]


# --- BerkeleyDB hash (db_page.h) -----------------------------------------------------------------------------

P_HASH_UNSORTED = 2
P_OVERFLOW = 7
P_HASH = 13
H_KEYDATA = 1
H_OFFPAGE = 3
PAGE_HEADER = 26


@dataclass
class _BdbFile:
    data: bytes
    endian: str  # "<" or ">"
    page_size: int
    last_page: int
    used_overflow: set[int]

    def page(self, pgno: int) -> bytes:
        return self.data[pgno * self.page_size : (pgno + 1) * self.page_size]


def bdb_blobs(data: bytes, warnings: list[str]) -> Iterator[bytes]:
    bdb = _open_bdb(data)
    for pgno in range(1, bdb.last_page + 1):
        page = bdb.page(pgno)
        if page[25] not in (P_HASH, P_HASH_UNSORTED):
            continue
        (entries,) = struct.unpack_from(bdb.endian + "H", page, 20)
        entries = min(entries, (bdb.page_size - PAGE_HEADER) // 2)
        offsets = struct.unpack_from(f"{bdb.endian}{entries}H", page, PAGE_HEADER)
        # Items are stored downwards from the page end, so offsets strictly decrease; anything else would let
        # a hostile page yield the same bytes many times over.
        if any(later >= earlier for earlier, later in pairwise(offsets)):
            warnings.append(f"BerkeleyDB: page {pgno} has overlapping items; skipped")
            continue
        for index in range(1, entries, 2):  # key/value pairs: the values are the odd entries
            value = _bdb_value(bdb, page, offsets, index)
            if isinstance(value, str):
                warnings.append(f"BerkeleyDB: page {pgno} item {index}: {value}; skipped")
            elif value is not None:
                yield value


def _open_bdb(data: bytes) -> _BdbFile:
    if len(data) < 512:
        raise RpmdbError("BerkeleyDB file shorter than one page")
    endian = "<" if struct.unpack_from("<I", data, 12)[0] == BDB_HASH_MAGIC else ">"
    page_size, _enc, _type, _flags, _unused, _free, last_page = struct.unpack_from(endian + "IBBBBII", data, 20)
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise RpmdbError(f"BerkeleyDB page size {page_size} is invalid")
    last_page = min(last_page, len(data) // page_size - 1)
    return _BdbFile(data, endian, page_size, last_page, set())


def _bdb_value(bdb: _BdbFile, page: bytes, offsets: tuple[int, ...], index: int) -> bytes | str | None:
    offset = offsets[index]
    end = offsets[index - 1]  # the key sits right above its value
    if not PAGE_HEADER <= offset < end <= bdb.page_size:
        return "item offset outside the page"
    kind = page[offset]
    if kind == H_KEYDATA:
        value = page[offset + 1 : end]
        return None if len(value) <= 8 else value  # rpm keeps a 4-byte "next instance" record; not a header
    if kind != H_OFFPAGE:
        return None
    if end - offset < 12:
        return "truncated off-page item"
    pgno, total = struct.unpack_from(bdb.endian + "II", page, offset + 4)
    return _bdb_overflow(bdb, pgno, total)


def _bdb_overflow(bdb: _BdbFile, pgno: int, total: int) -> bytes | str:
    if total > len(bdb.data):
        return f"off-page length {total} exceeds the file"
    chunks: list[bytes] = []
    have = 0
    while have < total:
        if pgno == 0 or pgno > bdb.last_page:
            return "overflow chain leaves the file"
        if pgno in bdb.used_overflow:  # a loop, or a page shared with another item: never valid
            return f"overflow page {pgno} reused"
        bdb.used_overflow.add(pgno)
        page = bdb.page(pgno)
        if page[25] != P_OVERFLOW:
            return f"page {pgno} is not an overflow page"
        (used,) = struct.unpack_from(bdb.endian + "H", page, 22)
        chunk = page[PAGE_HEADER : PAGE_HEADER + min(used, total - have)]
        if not chunk:
            return f"empty overflow page {pgno}"
        chunks.append(chunk)
        have += len(chunk)
        (pgno,) = struct.unpack_from(bdb.endian + "I", page, 16)
    return b"".join(chunks)


# --- header blobs ---------------------------------------------------------------------------------------------


class Header:
    """One decoded header: the index and the data store, read on demand."""

    __slots__ = ("_entries", "_store")

    def __init__(self, blob: bytes, tags: frozenset[int] | None = None) -> None:
        """Decode the index of `blob`, keeping only `tags` (all of them when None)."""
        if len(blob) < 8:
            raise RpmdbError("header shorter than 8 bytes")
        count, store_len = struct.unpack_from(">II", blob, 0)
        if count == 0 or count > MAX_INDEX_ENTRIES or store_len > MAX_DATA_STORE:
            raise RpmdbError(f"header sizes out of range ({count} entries, {store_len} bytes)")
        store_start = 8 + 16 * count
        if store_start + store_len > len(blob):
            raise RpmdbError("header truncated")
        self._store = blob[store_start : store_start + store_len]
        self._entries: dict[int, tuple[int, int, int]] = {}
        for tag, kind, offset, n in struct.iter_unpack(">iIiI", blob[8:store_start]):
            if tags is None or tag in tags:
                self._entries.setdefault(tag, (kind, offset, n))

    def has(self, tag: int) -> bool:
        return tag in self._entries

    def string(self, tag: int) -> str | None:
        entry = self._entries.get(tag)
        if entry is None or entry[0] not in (TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING):
            return None
        strings = self._strings_at(entry[1], 1)
        return strings[0] if strings else None

    def strings(self, tag: int) -> list[str]:
        entry = self._entries.get(tag)
        if entry is None or entry[0] not in (TYPE_STRING_ARRAY, TYPE_I18NSTRING):
            return []
        return self._strings_at(entry[1], entry[2])

    def int32s(self, tag: int) -> list[int]:
        entry = self._entries.get(tag)
        if entry is None or entry[0] != TYPE_INT32:
            return []
        _, offset, n = entry
        if offset < 0 or offset + 4 * n > len(self._store):
            return []
        return list(struct.unpack_from(f">{n}i", self._store, offset))

    def int32(self, tag: int) -> int | None:
        values = self.int32s(tag)
        return values[0] if values else None

    def _strings_at(self, offset: int, n: int) -> list[str]:
        store = self._store
        if offset < 0 or n > len(store) - offset:  # each string takes at least its NUL byte
            return []
        out: list[str] = []
        for _ in range(n):
            end = store.find(b"\x00", offset)
            if end < 0:
                return []
            out.append(store[offset:end].decode("utf-8", "replace"))
            offset = end + 1
        return out
