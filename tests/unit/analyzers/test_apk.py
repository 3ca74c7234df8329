"""ApkAnalyzer on an installed database in apk-tools' format (tests/fixtures/os/README.md says how it was made)."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.apk import ApkAnalyzer, apk_purl, parse_installed
from regscout.analysis.model import AnalyzerResult, CapturedFile

from .conftest import FIXTURES

INSTALLED = (FIXTURES / "apk" / "installed").read_bytes()
PATH = "lib/apk/db/installed"


def analyze(data: bytes, path: str = PATH) -> AnalyzerResult:
    assert path in ApkAnalyzer.interest.exact
    return ApkAnalyzer().analyze([CapturedFile(path=path, data=data, size=len(data))])


def test_installed_database() -> None:
    result = analyze(INSTALLED)
    by_name = {p.name: p for p in result.packages}

    assert result.warnings == []
    assert list(by_name) == ["alpine-baselayout-data", "musl", "busybox", "libcrypto3", "libssl3", "py3-requests"]
    libssl = by_name["libssl3"]  # a sub-package: its origin is the source package
    assert (libssl.version, libssl.source_name, libssl.source_version, libssl.arch, libssl.licenses) == (
        "3.1.4-r5",
        "openssl",
        "3.1.4-r5",
        "x86_64",
        ("Apache-2.0",),
    )
    assert libssl.purl == "pkg:apk/alpine/libssl3@3.1.4-r5?arch=x86_64&upstream=openssl"
    musl = by_name["musl"]
    assert musl.version == "1.2.4_git20230717-r4"
    assert musl.purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&upstream=musl"
    assert dict(musl.extra)["maintainer"] == "Timo Teräs <timo.teras@iki.fi>"
    assert by_name["alpine-baselayout-data"].source_name == "alpine-baselayout"
    assert all(p.ecosystem == "apk" and p.location == PATH for p in result.packages)


def test_owned_files_join_f_and_r_lines() -> None:
    owned = analyze(INSTALLED).owned_files

    assert {"lib/ld-musl-x86_64.so.1", "bin/sh", "etc/shadow", "lib/libssl.so.3"} <= owned
    assert "usr/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA" in owned
    assert "etc" not in owned and "lib" not in owned  # directories are not owned files
    assert len(owned) == INSTALLED.count(b"\nR:")


def test_usr_lib_location() -> None:
    result = analyze(INSTALLED, "usr/lib/apk/db/installed")

    assert {p.location for p in result.packages} == {"usr/lib/apk/db/installed"}


def test_duplicate_names_keep_the_first_record() -> None:
    duplicate = b"P:musl\nV:9.9.9-r0\nA:x86_64\nF:lib\nR:evil.so\n\n"
    result = analyze(INSTALLED + duplicate)

    assert [p.version for p in result.packages if p.name == "musl"] == ["1.2.4_git20230717-r4"]
    assert "lib/evil.so" not in result.owned_files


def test_incomplete_records_and_junk_are_warnings() -> None:
    data = b"P:nover\nA:x86_64\n\nthis line is junk\nP:ok\nV:1-r0\n\r\n"
    result = analyze(data)

    assert [(p.name, p.source_name, p.arch) for p in result.packages] == [("ok", "ok", None)]
    assert result.packages[0].purl == "pkg:apk/alpine/ok@1-r0?upstream=ok"
    assert result.warnings == [
        "lib/apk/db/installed: 1 malformed line(s) skipped",
        "lib/apk/db/installed: 1 record(s) without a name or version skipped",
    ]


@pytest.mark.parametrize(("os_id", "namespace"), [("wolfi", "wolfi"), ("Chainguard", "chainguard"), (None, "alpine")])
def test_purl_namespace_follows_the_image_os(os_id: str | None, namespace: str) -> None:
    musl = next(p for p in analyze(INSTALLED).packages if p.name == "musl")

    assert apk_purl(musl, os_id) == f"pkg:apk/{namespace}/musl@1.2.4_git20230717-r4?arch=x86_64&upstream=musl"


def test_parse_installed_counts_records_and_junk() -> None:
    records, junk = parse_installed("P:a\nV:1\n\n\n\nP:b\nV:2\nF:x\nR:y\nbad\n")

    assert [(r.fields["P"], r.files) for r in records] == [("a", []), ("b", ["x/y"])]
    assert junk == 1


LINE = st.one_of(
    st.tuples(st.sampled_from("PVAoLmFRaZCDp"), st.text(max_size=20)).map(lambda kv: f"{kv[0]}:{kv[1]}"),
    st.text(max_size=30),
    st.just(""),
)


@settings(max_examples=300, deadline=1000)
@given(lines=st.lists(LINE, max_size=80))
def test_malformed_database_never_raises(lines: list[str]) -> None:
    result = analyze("\n".join(lines).encode("utf-8", "surrogatepass"))

    assert len({p.name for p in result.packages}) == len(result.packages)
    assert all(p.name and p.version for p in result.packages)


@settings(max_examples=100, deadline=1000)
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    analyze(data)


def test_memory_stays_proportional_to_the_input() -> None:
    data = b"".join(b"P:p%d\nV:1-r0\nF:d\nR:f\n\n" % i for i in range(5_000))
    tracemalloc.start()
    try:
        result = analyze(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert len(result.packages) == 5_000
    assert peak < 60 * len(data)


def test_result_survives_the_cache_round_trip() -> None:
    result = analyze(INSTALLED)

    assert AnalyzerResult.from_json(json.loads(json.dumps(result.to_json()))) == result
