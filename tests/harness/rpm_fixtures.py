"""Real rpm databases built with rpm's own tools, cached between runs (used by unit and integration tests).

`rpm_databases` builds the RPMs of tests/fixtures/os/rpm/*.spec with `rpmbuild`, installs them with
`rpm -i --justdb` into a fresh dbpath (Debian's rpm 4.18 writes `rpmdb.sqlite`), then stores the very same
header blobs as
  * a BerkeleyDB hash `Packages` written by `db5.3_load` (BerkeleyDB's own tool), as rpm's bdb backend
    does: key = the package's instance number as 4 native-endian bytes, value = the header blob. Once with
    512-byte pages (blobs spill to overflow-page chains) and once with 64 KiB pages (blobs stored inline);
  * an NDB `Packages.db` (SUSE) written by `write_ndb` below, following rpm's lib/backend/ndb/rpmpkg.c:
    Debian's rpm has no ndb backend (`rpm --showrc`: sqlite, bdb_ro, dummy), so no real tool can write it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from .debian import CACHE_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "os"
SPEC_DIR = FIXTURES / "rpm"
BUILDER_VERSION = "1"  # bump when the way the databases are built changes


@dataclass(frozen=True)
class RpmDatabases:
    root: Path
    sqlite: Path  # <root>/sqlite/rpmdb.sqlite, written by rpm itself
    bdb: Path  # <root>/bdb/Packages, 512-byte pages
    bdb_large_pages: Path  # <root>/bdb-64k/Packages, 64 KiB pages
    ndb: Path  # <root>/ndb/Packages.db
    rpms: tuple[Path, ...]

    def blobs(self) -> list[tuple[int, bytes]]:
        return sqlite_blobs(self.sqlite)


def rpm_databases() -> RpmDatabases:
    specs = sorted(SPEC_DIR.glob("*.spec"))
    digest = hashlib.sha256(BUILDER_VERSION.encode())
    for spec in specs:
        digest.update(spec.name.encode() + b"\0" + spec.read_bytes())
    root = CACHE_DIR / f"rpmdb-{digest.hexdigest()[:16]}"
    if not (root / "complete").is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix="rpmdb-partial-", dir=CACHE_DIR))
        try:
            _build(partial, specs)
            (partial / "complete").touch()
            if root.exists() and not (root / "complete").is_file():
                shutil.rmtree(root)  # an interrupted build of an older run
            with contextlib.suppress(OSError):  # another process won the race; its result is as good
                partial.rename(root)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return RpmDatabases(
        root=root,
        sqlite=root / "sqlite" / "rpmdb.sqlite",
        bdb=root / "bdb" / "Packages",
        bdb_large_pages=root / "bdb-64k" / "Packages",
        ndb=root / "ndb" / "Packages.db",
        rpms=tuple(sorted((root / "rpmbuild" / "RPMS").rglob("*.rpm"))),
    )


def _build(out: Path, specs: list[Path]) -> None:
    top = out / "rpmbuild"
    for spec in specs:
        _run(["rpmbuild", "--quiet", "--define", f"_topdir {top}", "-bb", str(spec)])
    rpms = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
    dbpath = out / "sqlite"
    _run(["rpm", "--dbpath", str(dbpath), "--initdb"])
    _run(["rpm", "--dbpath", str(dbpath), "-i", "--justdb", "--nodeps", "--noscripts", *rpms])
    blobs = sqlite_blobs(dbpath / "rpmdb.sqlite")
    write_bdb(out / "bdb" / "Packages", blobs, page_size=512)
    write_bdb(out / "bdb-64k" / "Packages", blobs, page_size=65536)
    write_ndb(out / "ndb" / "Packages.db", blobs)


def _run(command: list[str], stdin: str | None = None) -> str:
    for tool in ("rpmbuild", "rpm", "db5.3_load"):
        if command[0] == tool and shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (apt-get install rpm db5.3-util)")
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def sqlite_blobs(path: Path) -> list[tuple[int, bytes]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [(int(n), bytes(b)) for n, b in conn.execute("SELECT hnum, blob FROM Packages ORDER BY hnum")]
    finally:
        conn.close()


def write_bdb(path: Path, blobs: list[tuple[int, bytes]], page_size: int) -> None:
    """A BerkeleyDB hash database of (instance number → header blob), written by db5.3_load."""
    lines = ["VERSION=3", "format=bytevalue", "type=hash", f"db_pagesize={page_size}", "HEADER=END"]
    for number, blob in blobs:
        lines += [" " + struct.pack("=I", number).hex(), " " + blob.hex()]
    lines.append("DATA=END")
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(["db5.3_load", str(path)], stdin="\n".join(lines) + "\n")


NDB_PAGE = 4096


def write_ndb(path: Path, blobs: list[tuple[int, bytes]], stamp: int | None = None) -> None:
    """An rpm NDB package database (rpmpkg.c): a 32-byte header, slot pages, then 16-byte-block blobs."""
    slots_per_page = NDB_PAGE // 16
    slot_pages = (len(blobs) + 2 + slots_per_page - 1) // slots_per_page
    stamp = int(time.time()) if stamp is None else stamp
    body = bytearray()
    slots = bytearray()
    blk = slot_pages * NDB_PAGE // 16
    for number, blob in blobs:
        head = b"BlbS" + struct.pack("<III", number, stamp, len(blob))
        blk_count = (16 + len(blob) + 12 + 15) // 16
        padded = head + blob + bytes(blk_count * 16 - 16 - len(blob) - 12)
        body += padded + struct.pack("<II", zlib.adler32(padded), len(blob)) + b"BlbE"
        slots += b"Slot" + struct.pack("<III", number, blk, blk_count)
        blk += blk_count
    free = slot_pages * slots_per_page - 2 - len(blobs)
    slots += (b"Slot" + bytes(12)) * free
    next_index = max((n for n, _ in blobs), default=0) + 1
    header = b"RpmP" + struct.pack("<IIII", 0, 1, slot_pages, next_index) + bytes(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + slots + body)
