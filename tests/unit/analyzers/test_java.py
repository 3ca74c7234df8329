from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.java import (
    JavaAnalyzer,
    Limits,
    central_directory_size,
    identity_from_file_name,
    parse_manifest,
)
from regscout.analysis.model import AnalyzerResult
from tests.harness.lang_fixtures import (
    captured,
    fixture_bytes,
    nested_chain,
    tree,
    war_of,
    zeros_member_zip,
    zip_bytes,
)

LIB = "usr/share/java"
SLF4J = fixture_bytes(f"java/{LIB}/slf4j-api.jar")
CLI = fixture_bytes(f"java/{LIB}/commons-cli.jar")
JZLIB = fixture_bytes(f"java/{LIB}/jzlib-1.1.3.jar")
GiB = 1 << 30


def analyze(data: bytes, path: str, limits: Limits | None = None) -> AnalyzerResult:
    return JavaAnalyzer(limits).analyze([captured(data, path)])


def coordinates(result: AnalyzerResult) -> set[tuple[str, str, str]]:
    return {(p.location, p.name, p.version) for p in result.packages}


def test_real_debian_jars() -> None:
    result = JavaAnalyzer().analyze(tree("java"))
    assert result.warnings == []
    found = {(p.location.rsplit("/", 1)[-1], p.name, p.version, p.purl, p.extra) for p in result.packages}
    no_group = ("unmatchable", "no groupId")
    assert found == {
        (
            "slf4j-api.jar",
            "org.slf4j:slf4j-api",
            "1.7.32",
            "pkg:maven/org.slf4j/slf4j-api@1.7.32",
            (("identity", "pom.properties"),),
        ),
        (
            "commons-cli.jar",
            "commons-cli:commons-cli",
            "1.5.0",
            "pkg:maven/commons-cli/commons-cli@1.5.0",
            (("identity", "pom.properties"),),
        ),
        # Bundle-SymbolicName is not taken for a groupId: for hamcrest it would give "org".
        (
            "jzlib-1.1.3.jar",
            "jzlib",
            "1.1.3",
            "pkg:maven/jzlib@1.1.3",
            (("identity", "manifest"), ("bundle_symbolic_name", "com.jcraft.jzlib"), no_group),
        ),
        (
            "hamcrest-2.2.jar",
            "hamcrest",
            "2.2",
            "pkg:maven/hamcrest@2.2",
            (("identity", "manifest"), ("bundle_symbolic_name", "org.hamcrest"), no_group),
        ),
        (
            "jcip-annotations-1.0.jar",
            "jcip-annotations",
            "1.0",
            "pkg:maven/jcip-annotations@1.0",
            (("identity", "filename"), no_group),
        ),
        (
            "hamcrest-integration-1.3.1-SNAPSHOT.jar",
            "hamcrest-integration",
            "1.3.1-SNAPSHOT",
            "pkg:maven/hamcrest-integration@1.3.1-SNAPSHOT",
            (("identity", "filename"), no_group),
        ),
    }
    assert {p.ecosystem for p in result.packages} == {"Maven"}


def test_war_and_ear_of_real_jars_report_nested_locations() -> None:
    war = war_of({"slf4j-api.jar": SLF4J, "commons-cli-1.5.0.jar": CLI, "jzlib-1.1.3.jar": JZLIB})
    ear = zip_bytes([("META-INF/application.xml", b"<application/>"), ("shop-2.0.war", war)])
    result = analyze(ear, "opt/shop.ear")
    assert result.warnings == []
    assert coordinates(result) == {
        ("opt/shop.ear!/shop-2.0.war", "shop", "2.0"),  # no pom, no manifest version: the file name
        ("opt/shop.ear!/shop-2.0.war!/WEB-INF/lib/slf4j-api.jar", "org.slf4j:slf4j-api", "1.7.32"),
        ("opt/shop.ear!/shop-2.0.war!/WEB-INF/lib/commons-cli-1.5.0.jar", "commons-cli:commons-cli", "1.5.0"),
        ("opt/shop.ear!/shop-2.0.war!/WEB-INF/lib/jzlib-1.1.3.jar", "jzlib", "1.1.3"),
    }


def test_shaded_jar_yields_one_package_per_pom_properties() -> None:
    members = []
    for jar in (SLF4J, CLI):
        with zipfile.ZipFile(io.BytesIO(jar)) as archive:
            names = [n for n in archive.namelist() if n.startswith("META-INF/maven/") and not n.endswith("/")]
            members += [(n, archive.read(n)) for n in names]
    manifest = b"Manifest-Version: 1.0\r\nBundle-License: Apache-2.0\r\nImplementation-Version: 9\r\n\r\n"
    shaded = zip_bytes([("META-INF/MANIFEST.MF", manifest), *members])
    result = analyze(shaded, "app/uber-9.jar")
    assert {(p.name, p.version, p.licenses) for p in result.packages} == {
        ("org.slf4j:slf4j-api", "1.7.32", ()),  # the manifest's licence is the uber jar's, not theirs
        ("commons-cli:commons-cli", "1.5.0", ()),
    }


def test_manifest_identity_with_vendor_id_and_licence() -> None:
    manifest = (
        b"Manifest-Version: 1.0\r\nImplementation-Title: Demo Library\r\nImplementation-Vendor-Id: org.exa\r\n"
        b" mple\r\nImplementation-Version: ${project.version}\r\nBundle-Version: 3.1.4\r\n"
        b"Bundle-License: https://www.apache.org/licenses/LICENSE-2.0.txt\r\n\r\nName: org/demo/\r\n"
        b"Implementation-Version: 9.9\r\n"
    )
    (package,) = analyze(zip_bytes([("META-INF/MANIFEST.MF", manifest)]), "lib/demo-lib.jar").packages
    assert (package.name, package.version, package.purl) == (
        "org.example:demo-lib",
        "3.1.4",
        "pkg:maven/org.example/demo-lib@3.1.4",
    )
    assert package.licenses == ("https://www.apache.org/licenses/LICENSE-2.0.txt",)


def test_manifest_continuation_lines_join_without_separator() -> None:
    text = (
        "Manifest-Version: 1.0\nBundle-Description: Apache Commons Lang, a package of Java utility class\n"
        " es for\n\nName: x\n"
    )
    assert parse_manifest(text) == {
        "Manifest-Version": "1.0",
        "Bundle-Description": "Apache Commons Lang, a package of Java utility classes for",
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("commons-lang3-3.12.0.jar", ("commons-lang3", "3.12.0")),
        ("hamcrest-integration-1.3.1-SNAPSHOT.jar", ("hamcrest-integration", "1.3.1-SNAPSHOT")),
        ("spring-core-5.3.18.RELEASE.jar", ("spring-core", "5.3.18.RELEASE")),
        ("app.war", None),
        ("no-version.jar", None),
        ("x-1.0.zip", None),
    ],
)
def test_file_name_identity(name: str, expected: tuple[str, str] | None) -> None:
    identity = identity_from_file_name(name)
    assert (None if identity is None else (identity.artifact, identity.version)) == expected


def test_long_hostile_member_names_finish() -> None:
    name = "lib/" + "a-1" * 20_000 + " .jar"
    outer = zip_bytes([(name, zip_bytes([("x", b"")]))], zipfile.ZIP_STORED)
    started = time.perf_counter()
    result = analyze(outer, "app/outer.jar")
    assert result.packages == [] and time.perf_counter() - started < 2


def test_flat_bomb_is_skipped_before_inflating() -> None:
    bomb = zeros_member_zip("META-INF/MANIFEST.MF", GiB)
    tracemalloc.start()
    started = time.perf_counter()
    result = analyze(bomb, "app/bomb-1.0.jar")
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert coordinates(result) == {("app/bomb-1.0.jar", "bomb", "1.0")}  # falls back to the file name
    assert any("over the 1048576 limit" in w for w in result.warnings)
    assert elapsed < 2 and peak < 16 * (1 << 20)


def _lie_about_size(archive: bytes, member: str, declared: int) -> bytes:
    """Rewrite the uncompressed size in the member's local and central headers."""
    data = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as parsed:
        info = parsed.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def test_member_inflating_past_its_declared_size_is_cut_off() -> None:
    honest = zip_bytes([("META-INF/MANIFEST.MF", bytes(32 << 20))])
    lying = _lie_about_size(honest, "META-INF/MANIFEST.MF", 100)
    tracemalloc.start()
    result = analyze(lying, "app/liar-2.0.jar")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert coordinates(result) == {("app/liar-2.0.jar", "liar", "2.0")}
    assert result.warnings and peak < 8 * (1 << 20)


def test_nested_bomb_is_rejected_by_ratio_before_reading() -> None:
    inner = zip_bytes([("zeros.bin", bytes(32 << 20))], zipfile.ZIP_STORED)  # 32 MiB, under the size limit
    outer = zip_bytes([("WEB-INF/lib/evil-1.0.jar", inner), ("WEB-INF/lib/slf4j-api.jar", SLF4J)])
    result = analyze(outer, "app/site.war")
    assert coordinates(result) == {("app/site.war!/WEB-INF/lib/slf4j-api.jar", "org.slf4j:slf4j-api", "1.7.32")}
    assert any("compression ratio over 100" in w and "evil-1.0.jar" in w for w in result.warnings)


def test_nested_archive_over_the_size_limit_is_skipped() -> None:
    outer = zip_bytes([("lib/big-1.0.jar", zeros_member_zip("META-INF/MANIFEST.MF", GiB))], zipfile.ZIP_STORED)
    result = analyze(outer, "app/outer.jar", Limits(max_nested_size=512 * 1024))
    assert result.packages == []
    assert any("over the 524288 limit" in w for w in result.warnings)


def test_nesting_depth_is_capped() -> None:
    chain = nested_chain(8, SLF4J)
    result = analyze(chain, "app/deep.jar")
    assert result.packages == []
    assert any("nested deeper than 4 archives" in w for w in result.warnings)
    shallow = analyze(nested_chain(4, SLF4J), "app/deep.jar")
    assert [p.name for p in shallow.packages] == ["org.slf4j:slf4j-api"]


def test_total_budget_stops_many_copies() -> None:
    copies = zip_bytes([(f"lib/copy-{i}.jar", SLF4J) for i in range(200)], zipfile.ZIP_STORED)
    result = analyze(copies, "app/copies.jar", Limits(max_total=10 * len(SLF4J)))
    assert 0 < len(result.packages) < 200
    assert sum("archive limits reached" in w for w in result.warnings) == 1


def test_member_count_budget() -> None:
    copies = zip_bytes([(f"lib/copy-{i}.jar", SLF4J) for i in range(50)], zipfile.ZIP_STORED)
    result = analyze(copies, "app/copies.jar", Limits(max_reads=20))
    assert 0 < len(result.packages) < 50
    assert any("archive limits reached" in w for w in result.warnings)


def test_oversized_central_directory_is_refused() -> None:
    many = zip_bytes([(f"classes/C{i}.class", b"") for i in range(2000)], zipfile.ZIP_STORED)
    declared = central_directory_size(many)
    assert declared is not None and declared > 2000 * 46
    result = analyze(many, "app/many-1.0.jar", Limits(max_central_directory=64 * 1024))
    assert result.packages == []
    assert any("central directory" in w for w in result.warnings)


def test_zip64_end_record_is_understood() -> None:
    many = zip_bytes([(f"c/{i}", b"") for i in range(70_000)], zipfile.ZIP_STORED)  # over 65535: zip64 records
    end = many.rfind(b"PK\x05\x06")
    assert many.rfind(b"PK\x06\x06") >= 0
    declared = central_directory_size(many)
    # Writers may put 0xFFFFFFFF in the classic record and the real size only in the zip64 one.
    masked = many[: end + 12] + b"\xff\xff\xff\xff" + many[end + 16 :]
    assert declared is not None and declared > 70_000 * 46
    assert central_directory_size(masked) == declared


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.999])
def test_truncated_real_jar_is_a_warning(cut: float) -> None:
    result = analyze(SLF4J[: int(len(SLF4J) * cut)], "app/slf4j-api-1.7.32.jar")
    assert result.packages == []
    assert len(result.warnings) == 1


def test_encrypted_member_is_a_warning() -> None:
    data = bytearray(zip_bytes([("META-INF/maven/g/a/pom.properties", b"groupId=g\nartifactId=a\nversion=1\n")]))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as parsed:
        info = parsed.getinfo("META-INF/maven/g/a/pom.properties")
    for offset in (info.header_offset + 6, data.find(b"PK\x01\x02") + 8):  # general-purpose flag bit 0
        data[offset] |= 1
    result = analyze(bytes(data), "app/locked.jar")
    assert result.packages == [] and result.warnings


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    analyze(data, "app/random.jar")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(CLI) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_real_jar_never_raises(flips: list[tuple[int, int]]) -> None:
    data = bytearray(CLI)
    for position, value in flips:
        data[position] = value
    analyze(bytes(data), "app/mutated.jar")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_random_metadata_in_a_valid_zip_never_raises(manifest: bytes, pom: bytes) -> None:
    data = zip_bytes([("META-INF/MANIFEST.MF", manifest), ("META-INF/maven/g/a/pom.properties", pom)])
    analyze(data, "app/x-1.0.jar")
