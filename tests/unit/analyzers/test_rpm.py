"""RpmAnalyzer and the rpmdb reader, against databases written by rpm and BerkeleyDB's own tools."""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.rpm import DB_DIRS, RpmAnalyzer, rpm_purl, split_sourcerpm
from regscout.analysis.analyzers.rpmdb import (
    TAG_ARCH,
    TAG_BASENAMES,
    TAG_DIRINDEXES,
    TAG_DIRNAMES,
    TAG_NAME,
    TAG_OLDFILENAMES,
    TAG_RELEASE,
    TAG_SOURCERPM,
    TAG_VENDOR,
    TAG_VERSION,
    TYPE_INT32,
    TYPE_STRING,
    TYPE_STRING_ARRAY,
    Header,
    RpmdbError,
    read_blobs,
)
from regscout.analysis.model import AnalyzerResult, CapturedFile, Package
from tests.harness.rpm_fixtures import RpmDatabases, write_ndb

HOSTILE = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])

EXPECTED = {
    # name: (version, arch, source name, source version, licenses, purl)
    "regscout-hello": (
        "2:1.2.3-4.fc39",
        "noarch",
        "regscout-hello",
        "2:1.2.3-4.fc39",
        ("MIT",),
        "pkg:rpm/fedora/regscout-hello@1.2.3-4.fc39?arch=noarch&epoch=2&upstream=regscout-hello-1.2.3-4.fc39.src.rpm",
    ),
    "regscout-hello-doc": (
        "2:1.2.3-4.fc39",
        "noarch",
        "regscout-hello",
        "2:1.2.3-4.fc39",
        ("CC-BY-4.0",),
        "pkg:rpm/fedora/regscout-hello-doc@1.2.3-4.fc39?arch=noarch&epoch=2"
        "&upstream=regscout-hello-1.2.3-4.fc39.src.rpm",
    ),
    "regscout-thirdparty": (
        "0.9-1",
        "noarch",
        "regscout-thirdparty",
        "0.9-1",
        ("Apache-2.0 AND BSD-3-Clause",),
        "pkg:rpm/regscout-thirdparty@0.9-1?arch=noarch&upstream=regscout-thirdparty-0.9-1.src.rpm",
    ),
}


def analyze(path: str, data: bytes) -> AnalyzerResult:
    return RpmAnalyzer().analyze([CapturedFile(path=path, data=data, size=len(data))])


def summary(packages: list[Package]) -> dict[str, tuple[object, ...]]:
    return {p.name: (p.version, p.arch, p.source_name, p.source_version, p.licenses, p.purl) for p in packages}


def rpm_query(dbpath: Path, query_format: str, *extra: str) -> list[str]:
    done = subprocess.run(
        ["rpm", "--dbpath", str(dbpath), *extra, "-qa", "--qf", query_format],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(line for line in done.stdout.splitlines() if line)


# --- reading what rpm wrote -----------------------------------------------------------------------------------


def test_sqlite_database_written_by_rpm(rpm_databases: RpmDatabases) -> None:
    result = analyze("var/lib/rpm/rpmdb.sqlite", rpm_databases.sqlite.read_bytes())

    assert result.warnings == []
    assert summary(result.packages) == EXPECTED
    assert {p.location for p in result.packages} == {"var/lib/rpm/rpmdb.sqlite"}
    assert all(p.ecosystem == "rpm" for p in result.packages)


def test_packages_match_what_rpm_itself_reports(rpm_databases: RpmDatabases) -> None:
    result = analyze("var/lib/rpm/rpmdb.sqlite", rpm_databases.sqlite.read_bytes())
    ours = sorted(f"{p.name} {p.version} {p.arch} {dict(p.extra)['sourcerpm']}" for p in result.packages)

    assert ours == rpm_query(rpm_databases.sqlite.parent, r"%{NAME} %{EVR} %{ARCH} %{SOURCERPM}\n")


def test_owned_files_are_those_of_official_vendors_only(rpm_databases: RpmDatabases) -> None:
    result = analyze("usr/lib/sysimage/rpm/rpmdb.sqlite", rpm_databases.sqlite.read_bytes())
    files_by_vendor = rpm_query(rpm_databases.sqlite.parent, r"[%{=VENDOR}\t%{FILENAMES}\n]")
    official = {line.split("\t")[1].lstrip("/") for line in files_by_vendor if line.startswith("Fedora Project")}

    assert result.owned_files == official
    assert "usr/lib/python3.12/site-packages/hello-1.2.3.dist-info/METADATA" in result.owned_files
    assert "usr/share/doc/regscout-hello/README" in result.owned_files
    assert not any(path.startswith("opt/thirdparty") for path in result.owned_files)


@pytest.mark.parametrize("kind", ["sqlite", "bdb", "bdb_large_pages", "ndb"])
def test_all_formats_give_the_same_packages(rpm_databases: RpmDatabases, kind: str) -> None:
    reference = analyze("var/lib/rpm/rpmdb.sqlite", rpm_databases.sqlite.read_bytes())
    path: Path = getattr(rpm_databases, kind)
    result = analyze(f"var/lib/rpm/{path.name}", path.read_bytes())

    assert result.warnings == []
    assert summary(result.packages) == summary(reference.packages) == EXPECTED
    assert result.owned_files == reference.owned_files


def test_blobs_are_byte_identical_in_every_format(rpm_databases: RpmDatabases) -> None:
    expected = sorted(blob for _, blob in rpm_databases.blobs())
    for path in (rpm_databases.bdb, rpm_databases.bdb_large_pages, rpm_databases.ndb):
        blobs, warnings = read_blobs(path.read_bytes())
        assert (sorted(blobs), warnings) == (expected, []), path


def test_berkeleydb_files_are_valid_for_berkeleydb_and_rpm(rpm_databases: RpmDatabases) -> None:
    """db5.3_verify accepts the files, db5.3_dump returns the pairs, and rpm's own bdb_ro backend reads them."""
    pairs = {struct.pack("=I", number).hex(): blob.hex() for number, blob in rpm_databases.blobs()}
    reference = rpm_query(rpm_databases.sqlite.parent, r"%{NAME} %{EVR}\n")
    for path in (rpm_databases.bdb, rpm_databases.bdb_large_pages):
        subprocess.run(["db5.3_verify", str(path)], check=True, capture_output=True)
        dump = subprocess.run(["db5.3_dump", str(path)], check=True, capture_output=True, text=True).stdout
        body = dump.split("HEADER=END\n")[1].split("DATA=END")[0].split()
        assert dict(zip(body[::2], body[1::2], strict=True)) == pairs
        assert rpm_query(path.parent, r"%{NAME} %{EVR}\n", "--define", "_db_backend bdb_ro") == reference


def test_large_pages_keep_blobs_inline_and_small_pages_use_overflow_chains(rpm_databases: RpmDatabases) -> None:
    def page_types(data: bytes) -> set[int]:
        page_size = struct.unpack_from("<I", data, 20)[0]
        return {data[page * page_size + 25] for page in range(len(data) // page_size)}

    assert 7 in page_types(rpm_databases.bdb.read_bytes())  # P_OVERFLOW
    assert 7 not in page_types(rpm_databases.bdb_large_pages.read_bytes())


@pytest.mark.parametrize("directory", DB_DIRS)
def test_every_database_location_is_wanted(directory: str) -> None:
    interest = RpmAnalyzer.interest
    assert {f"{directory}/rpmdb.sqlite", f"{directory}/Packages", f"{directory}/Packages.db"} <= interest.exact
    assert interest.max_size >= 256 * 1024 * 1024


def test_one_database_per_directory_prefers_sqlite(rpm_databases: RpmDatabases) -> None:
    files = [
        CapturedFile("var/lib/rpm/Packages", rpm_databases.bdb.read_bytes()),
        CapturedFile("var/lib/rpm/rpmdb.sqlite", rpm_databases.sqlite.read_bytes()),
        CapturedFile("usr/share/rpm/Packages.db", rpm_databases.ndb.read_bytes()),
    ]
    result = RpmAnalyzer().analyze(files)

    assert {p.location for p in result.packages} == {"var/lib/rpm/rpmdb.sqlite", "usr/share/rpm/Packages.db"}
    assert len(result.packages) == 6
    assert result.warnings == ["var/lib/rpm/Packages: ignored, var/lib/rpm/rpmdb.sqlite is in the same directory"]


def test_purl_namespace_follows_the_image_os(rpm_databases: RpmDatabases) -> None:
    result = analyze("var/lib/rpm/rpmdb.sqlite", rpm_databases.sqlite.read_bytes())
    hello = next(p for p in result.packages if p.name == "regscout-hello")

    assert rpm_purl(hello, "Rocky") == (
        "pkg:rpm/rocky/regscout-hello@1.2.3-4.fc39?arch=noarch&epoch=2&upstream=regscout-hello-1.2.3-4.fc39.src.rpm"
    )
    assert rpm_purl(hello, None) == hello.purl


@pytest.mark.parametrize(
    ("sourcerpm", "expected"),
    [
        ("bash-5.1.8-6.el9.src.rpm", ("bash", "5.1.8", "6.el9")),
        ("python3.11-3.11.5-1.el9_3.src.rpm", ("python3.11", "3.11.5", "1.el9_3")),
        ("kernel-rt-core-5.14.0-362.8.1.el9_3.nosrc.rpm", ("kernel-rt-core", "5.14.0", "362.8.1.el9_3")),
        ("(none)", None),
        ("", None),
        ("foo.src.rpm", None),
        ("foo-1.src.rpm", None),
        ("not-a-source-rpm", None),
    ],
)
def test_split_sourcerpm(sourcerpm: str, expected: tuple[str, str, str] | None) -> None:
    assert split_sourcerpm(sourcerpm) == expected


# --- hand-made headers ------------------------------------------------------------------------------------------


def encode_header(entries: list[tuple[int, int, bytes, int]]) -> bytes:
    """A header blob from (tag, type, data, count) entries, int32 data aligned as rpm aligns it."""
    index = b""
    store = b""
    for tag, kind, data, count in entries:
        if kind == TYPE_INT32:
            store += bytes(-len(store) % 4)
        index += struct.pack(">iIiI", tag, kind, len(store), count)
        store += data
    return struct.pack(">II", len(entries), len(store)) + index + store


def string(tag: int, value: str) -> tuple[int, int, bytes, int]:
    return (tag, TYPE_STRING, value.encode() + b"\0", 1)


def strings(tag: int, values: list[str]) -> tuple[int, int, bytes, int]:
    return (tag, TYPE_STRING_ARRAY, b"".join(v.encode() + b"\0" for v in values), len(values))


def int32s(tag: int, values: list[int]) -> tuple[int, int, bytes, int]:
    return (tag, TYPE_INT32, struct.pack(f">{len(values)}i", *values), len(values))


def minimal(name: str = "bash", *extra: tuple[int, int, bytes, int]) -> bytes:
    return encode_header(
        [
            string(TAG_NAME, name),
            string(TAG_VERSION, "5.1.8"),
            string(TAG_RELEASE, "6.el9"),
            string(TAG_ARCH, "x86_64"),
            string(TAG_SOURCERPM, "bash-5.1.8-6.el9.src.rpm"),
            *extra,
        ]
    )


def test_gpg_pubkey_pseudo_packages_are_skipped() -> None:
    blobs = [(1, minimal("gpg-pubkey")), (2, minimal("bash"))]
    result = ndb_result(blobs)

    assert [p.name for p in result.packages] == ["bash"]
    assert result.packages[0].version == "5.1.8-6.el9"  # no EPOCH tag: no epoch in the version
    assert "epoch" not in result.packages[0].purl


def test_owned_files_from_legacy_oldfilenames_and_bad_dir_indexes() -> None:
    legacy = minimal("old", string(TAG_VENDOR, "Red Hat, Inc."), strings(TAG_OLDFILENAMES, ["/bin/old", "/"]))
    modern = minimal(
        "new",
        string(TAG_VENDOR, "CentOS"),
        strings(TAG_DIRNAMES, ["/usr/bin/", "/etc/"]),
        strings(TAG_BASENAMES, ["new", "new.conf", "ghost"]),
        int32s(TAG_DIRINDEXES, [0, 1, 7]),  # 7 is out of range: that file is dropped, not an error
    )
    result = ndb_result([(1, legacy), (2, modern)])

    assert result.owned_files == {"bin/old", "usr/bin/new", "etc/new.conf"}


def ndb_result(blobs: list[tuple[int, bytes]], tmp_name: str = "Packages.db") -> AnalyzerResult:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / tmp_name
        write_ndb(path, blobs, stamp=0)
        return analyze("var/lib/rpm/Packages.db", path.read_bytes())


# --- hostile input ---------------------------------------------------------------------------------------------


@HOSTILE
@given(data=st.binary(max_size=2048))
def test_random_header_bytes_raise_only_rpmdb_error(data: bytes) -> None:
    try:
        header = Header(data)
    except RpmdbError:
        return
    for tag in (TAG_NAME, TAG_BASENAMES, TAG_DIRINDEXES):
        header.string(tag), header.strings(tag), header.int32s(tag)


@HOSTILE
@given(st.data())
def test_mutated_real_headers_never_raise(rpm_databases: RpmDatabases, data: st.DataObject) -> None:
    blob = bytearray(data.draw(st.sampled_from([b for _, b in rpm_databases.blobs()])))
    for _ in range(data.draw(st.integers(1, 12))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    result = ndb_result([(1, bytes(blob[:cut]))])

    assert len(result.packages) <= 1  # a package, or a warning; never an exception


def test_huge_counts_are_refused_without_allocating() -> None:
    huge_index = struct.pack(">II", 0xFFFF, 0x0FFFFFFF) + bytes(64)
    with pytest.raises(RpmdbError, match="truncated"):
        Header(huge_index)
    with pytest.raises(RpmdbError, match="out of range"):
        Header(struct.pack(">II", 0x7FFFFFFF, 0x7FFFFFFF))
    liar = encode_header(
        [(TAG_BASENAMES, TYPE_STRING_ARRAY, b"a\0", 0x7FFFFFFF), (TAG_DIRINDEXES, TYPE_INT32, b"", 1 << 30)]
    )
    header = Header(liar)
    tracemalloc.start()
    try:
        assert (header.strings(TAG_BASENAMES), header.int32s(TAG_DIRINDEXES)) == ([], [])
        assert tracemalloc.get_traced_memory()[1] < 64 * 1024
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "shorter than 8"),
        (struct.pack(">II", 0, 0), "out of range"),
        (struct.pack(">II", 1, 100) + bytes(16), "truncated"),
    ],
)
def test_bad_headers_are_rpmdb_errors(blob: bytes, message: str) -> None:
    with pytest.raises(RpmdbError, match=message):
        Header(blob)


def test_unreadable_headers_become_a_warning() -> None:
    result = ndb_result([(1, minimal("bash")), (2, b"\x00\x00\x00\x05junk")])

    assert [p.name for p in result.packages] == ["bash"]
    assert result.warnings == ["var/lib/rpm/Packages.db: 1 unreadable package header(s) skipped"]


def test_bdb_overflow_loop_is_detected(rpm_databases: RpmDatabases) -> None:
    data = bytearray(rpm_databases.bdb.read_bytes())
    page_size = struct.unpack_from("<I", data, 20)[0]
    overflow = [p for p in range(len(data) // page_size) if data[p * page_size + 25] == 7]
    first = overflow[0]
    struct.pack_into("<I", data, first * page_size + 16, first)  # next page = itself
    struct.pack_into("<H", data, first * page_size + 22, 1)  # one byte per visit: a loop would spin for ages

    result = analyze("var/lib/rpm/Packages", bytes(data))

    assert len(result.packages) == 2  # the looping item is one of three; the others still read
    assert any("reused" in w for w in result.warnings)


def test_bdb_offsets_past_the_end_are_warnings(rpm_databases: RpmDatabases) -> None:
    data = bytearray(rpm_databases.bdb.read_bytes())
    page_size = struct.unpack_from("<I", data, 20)[0]
    hash_pages = [p for p in range(len(data) // page_size) if data[p * page_size + 25] == 13]
    for page in hash_pages:
        entries = struct.unpack_from("<H", data, page * page_size + 20)[0]
        for index in range(1, entries, 2):
            offset = struct.unpack_from("<H", data, page * page_size + 26 + 2 * index)[0]
            struct.pack_into("<I", data, page * page_size + offset + 4, 0xFFFFFF)  # overflow page number
    result = analyze("var/lib/rpm/Packages", bytes(data))

    assert result.packages == []
    assert len(result.warnings) == 3
    assert all("overflow chain leaves the file" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ((12, struct.pack("<I", 0xFFFFFFFF)), "slot pages"),  # slot page count far beyond the file
        ((4, struct.pack("<I", 7)), "version 7"),
        ((32, b"XXXX"), "bad slot magic"),
        ((32 + 8, struct.pack("<I", 0x7FFFFFFF)), "outside the file"),  # first slot's block offset
        ((32 + 4, struct.pack("<I", 99)), "belongs to package 1"),  # first slot's package index
    ],
)
def test_ndb_damage_is_reported(patch: tuple[int, bytes], message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Packages.db"
        write_ndb(path, [(1, minimal("bash")), (2, minimal("zsh"))], stamp=0)
        data = bytearray(path.read_bytes())
    offset, value = patch
    data[offset : offset + len(value)] = value
    result = analyze("var/lib/rpm/Packages.db", bytes(data))

    assert any(message in w for w in result.warnings), result.warnings
    assert len(result.packages) <= 1


def test_ndb_checksum_mismatch_skips_the_blob() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Packages.db"
        write_ndb(path, [(1, minimal("bash")), (2, minimal("zsh"))], stamp=0)
        data = bytearray(path.read_bytes())
    data[4096 + 16 + 40] ^= 0xFF  # inside the first blob's data
    result = analyze("var/lib/rpm/Packages.db", bytes(data))

    assert [p.name for p in result.packages] == ["zsh"]
    assert result.warnings == ["var/lib/rpm/Packages.db: NDB: package 1: adler32 mismatch; skipped"]


def test_sqlite_views_and_garbage_are_refused(rpm_databases: RpmDatabases) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x AS hnum, zeroblob(10) AS blob FROM c"
    )
    endless = conn.serialize()
    conn.close()
    truncated = rpm_databases.sqlite.read_bytes()[:5000]

    assert analyze("var/lib/rpm/rpmdb.sqlite", endless).warnings == [
        "var/lib/rpm/rpmdb.sqlite: SQLite file has no Packages table"
    ]
    result = analyze("var/lib/rpm/rpmdb.sqlite", truncated)
    assert result.packages == []
    assert result.warnings and result.warnings[0].startswith("var/lib/rpm/rpmdb.sqlite: SQLite:")


@pytest.mark.parametrize("prefix", [b"", b"SQLite format 3\x00", b"RpmP", b"\0" * 12 + struct.pack("<I", 0x061561)])
@HOSTILE
@given(tail=st.binary(max_size=8192))
def test_random_database_bytes_never_raise(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    tracemalloc.start()
    try:
        result = analyze("var/lib/rpm/Packages", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.packages == [] or all(p.name for p in result.packages)
    assert peak < 20 * len(data) + 2 * 1024 * 1024


@pytest.mark.parametrize("kind", ["bdb", "bdb_large_pages", "ndb", "sqlite"])
@HOSTILE
@given(data=st.data())
def test_mutated_real_databases_never_raise(rpm_databases: RpmDatabases, kind: str, data: st.DataObject) -> None:
    path: Path = getattr(rpm_databases, kind)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 16))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(len(raw) // 2, len(raw)))]

    result = analyze(f"var/lib/rpm/{path.name}", bytes(raw))

    assert len(result.packages) <= 3


def test_result_survives_the_cache_round_trip(rpm_databases: RpmDatabases) -> None:
    result = analyze("var/lib/rpm/Packages", rpm_databases.bdb.read_bytes())

    assert AnalyzerResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_ndb_slots_sharing_one_blob_yield_it_once() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Packages.db"
        write_ndb(path, [(1, minimal("bash"))], stamp=0)
        data = bytearray(path.read_bytes())
    first_slot = data[32:48]
    for slot in range(3, 256):  # every free slot now claims the same blocks
        data[slot * 16 : slot * 16 + 16] = first_slot
    tracemalloc.start()
    try:
        result = analyze("var/lib/rpm/Packages.db", bytes(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [p.name for p in result.packages] == ["bash"]
    assert len(result.warnings) == 21  # 20 listed, then a count of the rest
    assert result.warnings[0] == (
        "var/lib/rpm/Packages.db: NDB: package 1 overlaps the slot pages or another package; skipped"
    )
    assert result.warnings[-1] == "var/lib/rpm/Packages.db: 233 more damaged record(s) skipped"
    assert peak < 10 * len(data) + 256 * 1024


def test_bdb_page_with_overlapping_items_is_skipped(rpm_databases: RpmDatabases) -> None:
    data = bytearray(rpm_databases.bdb_large_pages.read_bytes())
    page_size = struct.unpack_from("<I", data, 20)[0]
    page = next(p for p in range(len(data) // page_size) if data[p * page_size + 25] == 13)
    start = page * page_size
    entries = struct.unpack_from("<H", data, start + 20)[0]
    assert entries >= 2
    first_value = struct.unpack_from("<H", data, start + 26 + 2)[0]
    struct.pack_into("<H", data, start + 20, 200)  # claim 200 items ...
    for index in range(200):  # ... all of them the same inline value
        struct.pack_into("<H", data, start + 26 + 2 * index, first_value)
    result = analyze("var/lib/rpm/Packages", bytes(data))

    assert any(f"BerkeleyDB: page {page} has overlapping items" in w for w in result.warnings)
    assert len(result.packages) == 3 - entries // 2
