from __future__ import annotations

import functools
import json
import struct
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.rust import RustBinaryAnalyzer, find_section
from regscout.analysis.model import AnalyzerResult
from tests.harness.lang_fixtures import captured, elf_with_section, fixture_bytes

BIN = "usr/local/bin/audit-demo"
EXPECTED = {
    (
        "audit-demo",
        "0.3.0",
        "pkg:cargo/audit-demo@0.3.0",
        (("source", "local"), ("root", "true"), ("unmatchable", "source local")),
    ),
    ("itoa", "1.0.1", "pkg:cargo/itoa@1.0.1", (("source", "crates.io"),)),
    ("num-traits", "0.2.15", "pkg:cargo/num-traits@0.2.15", (("source", "crates.io"),)),
}


@functools.cache
def audit_demo() -> bytes:
    # rustc 1.95 release build of rust/audit-demo-src against Debian's crate sources, with .dep-v0
    # added by objcopy (cargo-auditable is not packaged in Debian bookworm): see the fixtures README.
    return fixture_bytes("rust/audit-demo.xz")


def analyze(data: bytes) -> AnalyzerResult:
    return RustBinaryAnalyzer().analyze([captured(data, BIN, 0o755)])


def found(result: AnalyzerResult) -> set[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
    return {(p.name, p.version, p.purl, p.extra) for p in result.packages}


def test_real_rust_binary_runtime_packages_only() -> None:
    result = analyze(audit_demo())
    assert result.warnings == []
    assert found(result) == EXPECTED  # autocfg is a build dependency
    assert {(p.ecosystem, p.location) for p in result.packages} == {("crates.io", BIN)}


def test_section_holds_the_documented_json() -> None:
    section = find_section(audit_demo())
    assert section is not None
    assert json.loads(zlib.decompress(section)) == json.loads(fixture_bytes("rust/dep-v0.json"))


@pytest.mark.parametrize("bfd_target", ["elf64-little", "elf64-big", "elf32-little", "elf32-big"])
def test_all_elf_classes_and_byte_orders(bfd_target: str) -> None:
    payload = zlib.compress(fixture_bytes("rust/dep-v0.json"))
    data = elf_with_section(bfd_target, ".dep-v0", payload)
    assert data[4] == (2 if "64" in bfd_target else 1) and data[5] == (2 if "big" in bfd_target else 1)
    assert found(analyze(data)) == EXPECTED


def test_binaries_without_audit_data_are_silent() -> None:
    other = elf_with_section("elf64-little", ".dep-v1", zlib.compress(b"{}"))
    for data in (fixture_bytes("go/go-md2man.xz"), other, b"#!/bin/sh\n" + bytes(2000)):
        result = analyze(data)
        assert (result.packages, result.warnings) == ([], [])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"hi\n", "incorrect header check"),
        (zlib.compress(b"not json"), "Expecting value"),
        (zlib.compress(b'{"no": []}'), "no packages list"),
        (zlib.compress(b"[" * 50_000 + b"]" * 50_000), "maximum recursion depth"),
        (zlib.compress(b" " * (17 << 20)), "inflates past"),
    ],
)
def test_bad_audit_data_is_a_warning(payload: bytes, message: str) -> None:
    tracemalloc.start()
    result = analyze(elf_with_section("elf64-little", ".dep-v0", payload))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.packages == []
    assert len(result.warnings) == 1 and message in result.warnings[0]
    assert peak < 64 << 20


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "a", "version": "1.0.0", "source": "git"}, ("source", "git")),
        ({"name": "a", "version": "1.0.0", "source": "registry"}, ("source", "registry")),
        ({"name": "a", "version": "1.0.0", "source": {"Other": "sparse+https://x"}}, ("source", "sparse+https://x")),
        ({"name": "a", "version": "1.0.0", "source": "CratesIo"}, ("source", "cratesio")),
    ],
)
def test_non_crates_io_sources_are_unmatchable(entry: dict[str, Any], expected: tuple[str, str]) -> None:
    data = elf_with_section("elf64-little", ".dep-v0", zlib.compress(json.dumps({"packages": [entry]}).encode()))
    (package,) = analyze(data).packages
    assert expected in package.extra
    assert dict(package.extra)["unmatchable"].startswith("source ")


def test_kinds_and_malformed_entries() -> None:
    document = {
        "packages": [
            {"name": "rt", "version": "1.0.0", "source": "crates.io", "kind": "runtime"},
            {"name": "bd", "version": "1.0.0", "source": "crates.io", "kind": "build"},
            {"name": "", "version": "1.0.0", "source": "crates.io"},
            {"name": "bad name", "version": "1.0.0", "source": "crates.io"},
            {"name": "nov", "source": "crates.io"},
            "string",
        ]
    }
    data = elf_with_section("elf32-big", ".dep-v0", zlib.compress(json.dumps(document).encode()))
    assert [p.name for p in analyze(data).packages] == ["rt"]


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


@pytest.mark.parametrize(
    ("offset", "fmt", "value"),
    [
        (0x28, "<Q", 1 << 62),  # e_shoff past the end
        (0x28, "<Q", 0),  # no section table
        (0x3A, "<H", 1),  # e_shentsize too small
        (0x3C, "<H", 0xFFFF),  # more sections than fit
        (0x3E, "<H", 0xFFF0),  # shstrndx out of range
        (0x05, "<B", 7),  # unknown byte order
        (0x04, "<B", 9),  # unknown class
    ],
)
def test_hostile_elf_headers_find_nothing(offset: int, fmt: str, value: int) -> None:
    data = _patched(audit_demo(), offset, fmt, value)
    assert find_section(data) is None
    assert analyze(data).packages == []


def test_section_pointing_past_the_end_finds_nothing() -> None:
    data = audit_demo()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    (shnum,) = struct.unpack_from("<H", data, 0x3C)
    section = find_section(data)
    assert section is not None
    for index in range(shnum):
        entry = shoff + index * 64
        (offset, size) = struct.unpack_from("<QQ", data, entry + 24)
        if data[offset : offset + size] == section:
            assert find_section(_patched(data, entry + 32, "<Q", len(data))) is None
            return
    raise AssertionError("the .dep-v0 section header was not found")


def test_extended_section_numbering() -> None:
    data = elf_with_section("elf64-little", ".dep-v0", zlib.compress(fixture_bytes("rust/dep-v0.json")))
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    (shnum,) = struct.unpack_from("<H", data, 0x3C)
    (shstrndx,) = struct.unpack_from("<H", data, 0x3E)
    extended = _patched(_patched(data, 0x3C, "<H", 0), 0x3E, "<H", 0xFFFF)
    extended = _patched(_patched(extended, shoff + 32, "<Q", shnum), shoff + 40, "<I", shstrndx)
    assert found(analyze(extended)) == EXPECTED


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_elf_bytes_never_raise(data: bytes) -> None:
    analyze(b"\x7fELF" + data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_real_header_never_raises(flips: list[tuple[int, int]]) -> None:
    data = bytearray(audit_demo())
    for position, value in flips:
        data[position] = value
    analyze(bytes(data))
