from __future__ import annotations

import functools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.golang import (
    LEGACY_WARNING,
    MAGIC,
    BuildInfo,
    GoBinaryAnalyzer,
    find_build_info,
    parse_modinfo,
    stdlib_version,
)
from regscout.analysis.model import AnalyzerResult
from tests.harness.lang_fixtures import captured, fixture_bytes, go_hello_binary

BIN = "usr/local/bin/hello"
ELF = b"\x7fELF\x02\x01\x01" + bytes(9)


@functools.cache
def hello() -> bytes:
    return go_hello_binary()


def analyze(data: bytes, path: str = BIN) -> AnalyzerResult:
    return GoBinaryAnalyzer().analyze([captured(data, path, 0o755)])


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def header(flags: int = 0x2, pointer_size: int = 8) -> bytes:
    return MAGIC + bytes([pointer_size, flags]) + bytes(16)


def inline(version: bytes, modinfo: bytes) -> bytes:
    return _uvarint(len(version)) + version + _uvarint(len(modinfo)) + modinfo


def binary(at: int, body: bytes, size: int = 4096) -> bytes:
    data = bytearray(ELF + bytes(size))
    data[at : at + len(body)] = body
    return bytes(data)


def test_built_binary_with_vendored_and_replaced_modules() -> None:
    result = analyze(hello())
    assert result.warnings == []
    found = {(p.name, p.version, p.purl, p.extra) for p in result.packages}
    go_version = next(p for p in result.packages if p.name == "stdlib").extra[0][1]
    assert go_version.startswith("go1.")
    assert found == {
        ("stdlib", go_version[2:], f"pkg:golang/stdlib@{go_version[2:]}", (("go_version", go_version),)),
        (
            "example.com/fixture/hello",
            "v1.4.0",  # from -ldflags "-X main.version=1.4.0": the module itself says (devel)
            "pkg:golang/example.com/fixture/hello@v1.4.0",
            (("main_module", "true"), ("version_source", "ldflags")),
        ),
        ("github.com/google/uuid", "v1.3.0", "pkg:golang/github.com/google/uuid@v1.3.0", ()),
        (
            "example.com/fork/shout",
            "v0.1.1",
            "pkg:golang/example.com/fork/shout@v0.1.1",
            (("replaces", "example.com/fixture/shout@v0.1.0"),),
        ),
        (
            "example.com/fixture/greet",
            "(devel)",
            "pkg:golang/example.com/fixture/greet",
            (
                ("replaced_by", "../greet"),
                ("required_version", "v1.2.3"),
                ("unmatchable", "replaced by a local directory"),
            ),
        ),
    }
    assert {p.ecosystem for p in result.packages} == {"Go"}
    assert {p.location for p in result.packages} == {BIN}


def test_debian_binary_built_in_gopath_mode() -> None:
    # Debian's go-md2man 2.0.2+ds1-1 (bookworm): Go 1.18.3, `path` only, no module lines.
    result = analyze(fixture_bytes("go/go-md2man.xz"), "usr/bin/go-md2man")
    assert result.warnings == []
    assert [(p.name, p.version, p.purl) for p in result.packages] == [("stdlib", "1.18.3", "pkg:golang/stdlib@1.18.3")]


def test_unaligned_magic_is_ignored() -> None:
    shifted = ELF + b"\x00" + hello()[len(ELF) :]  # every offset moves by one
    assert analyze(shifted).packages == []
    assert analyze(shifted).warnings == []


def test_aligned_decoy_before_the_real_header() -> None:
    decoy = header() + inline(b"not-go", b"")  # e.g. the magic string in rodata of a debug/buildinfo user
    real = header() + inline(b"go1.22.1", b"path\tx\nmod\texample.com/x\tv1.0.0\t\n")
    (stdlib, main) = analyze(binary(64, decoy) + bytes(16) + real).packages  # real lands 16-byte aligned
    assert (stdlib.version, main.name, main.version) == ("1.22.1", "example.com/x", "v1.0.0")


@pytest.mark.parametrize(
    "tail",
    [
        b"\xff" * 9 + b"\x7f",  # a 10-byte varint: 2**63-ish length
        b"\x80" * 10,  # a varint that never ends
        _uvarint(1 << 30) + b"go1.22",  # length past the end of the file
        _uvarint(200) + b"go1.22.1",  # version longer than the file holds
        inline(b"go1.22.1", b"")[:-1] + _uvarint(1 << 40),  # modinfo length lies
    ],
)
def test_lying_lengths_find_nothing(tail: bytes) -> None:
    data = binary(64, header() + tail, size=256)
    assert find_build_info(data) is None
    assert analyze(data).packages == []


def test_pre_118_header_is_a_warning() -> None:
    result = analyze(binary(64, header(flags=0x0) + bytes(16)))
    assert result.packages == []
    assert result.warnings == [f"{BIN}: {LEGACY_WARNING}"]


def test_scripts_and_data_are_not_scanned() -> None:
    script = b"#!/bin/sh\n" + bytes(64) + header() + inline(b"go1.22.1", b"path\tx\n")
    assert analyze(script).packages == []


def test_sentinels_are_stripped() -> None:
    modinfo = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6" + b"path\tx\nmod\tm\tv1.0.0\t\n"
    modinfo += b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
    build = find_build_info(binary(64, header() + inline(b"go1.21.0", modinfo)))
    assert isinstance(build, BuildInfo) and build.modinfo.main is not None
    assert (build.modinfo.path, build.modinfo.main.path) == ("x", "m")


def test_modinfo_lines() -> None:
    info = parse_modinfo(
        "path\tgithub.com/a/cmd\nmod\tgithub.com/a\t(devel)\t\ndep\tgolang.org/x/sys\tv0.1.0\th1:abc=\n"
        '=>\tgolang.org/x/sys\tv0.2.0\th1:def=\n\ndep\tbroken\n=>\nbuild\t-ldflags="-s -w"\nbuild\tCGO_ENABLED=0\n'
    )
    assert info.path == "github.com/a/cmd"
    assert info.settings == {"-ldflags": "-s -w", "CGO_ENABLED": "0"}
    assert [(d.path, d.version, d.replace and d.replace.version) for d in info.deps] == [
        ("golang.org/x/sys", "v0.1.0", "v0.2.0"),
        ("broken", "", None),
    ]


def test_unusable_module_lines_are_counted() -> None:
    modinfo = b"mod\t/\tv1\t\ndep\tok.example/a\tv1.0.0\t\ndep\tbad path\tv1\t\ndep\tok.example/b\tv 1\t\n"
    result = analyze(binary(64, header() + inline(b"go1.22.1", modinfo)))
    assert [p.name for p in result.packages] == ["stdlib", "ok.example/a"]
    assert result.warnings == [f"{BIN}: 3 unusable module lines in the build info"]


@pytest.mark.parametrize(
    ("ldflags", "version"),
    [
        ("-X main.version=1.2.3", "v1.2.3"),
        ("-s -w -X 'main.Version=v2.0.0-rc.1'", "v2.0.0-rc.1"),
        ("-X=main.version=0.9", "v0.9"),
        ("-X main.version=dev", "(devel)"),
        ("-X github.com/a/internal.version=1.2.3", "(devel)"),
        ("", "(devel)"),
    ],
)
def test_main_module_version_from_ldflags(ldflags: str, version: str) -> None:
    setting = f'build\t-ldflags="{ldflags}"\n'.encode()
    body = header() + inline(b"go1.22.1", b"path\tm\nmod\tgithub.com/a\t(devel)\t\n" + setting)
    main = analyze(binary(64, body)).packages[1]
    assert main.version == version
    assert (
        ("unmatchable", "version (devel)") in main.extra
        if version == "(devel)"
        else "unmatchable" not in dict(main.extra)
    )


@pytest.mark.parametrize(
    ("go_version", "stdlib"),
    [
        ("go1.23.4", "1.23.4"),
        ("go1.20.5 X:boringcrypto", "1.20.5"),
        ("devel go1.22-abcdef", "(devel)"),
        ("go", "(devel)"),
    ],
)
def test_stdlib_version(go_version: str, stdlib: str) -> None:
    assert stdlib_version(go_version) == stdlib


def test_many_unaligned_magics_finish_quickly() -> None:
    data = ELF + bytes(15) + (MAGIC + b"\x00\x02") * 300_000  # 16-byte units, each magic at offset 15 mod 16
    started = time.perf_counter()
    assert analyze(data).packages == []
    assert time.perf_counter() - started < 5


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_executables_never_raise(data: bytes) -> None:
    analyze(ELF + data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=512))
def test_random_bytes_after_an_aligned_header_never_raise(pointer_size: int, flags: int, tail: bytes) -> None:
    analyze(binary(64, header(flags, pointer_size) + tail, size=600))
