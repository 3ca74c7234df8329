"""DpkgAnalyzer on a real Debian 12 status file and a distroless-style layout made from real Debian packages."""

from __future__ import annotations

import json
import re
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from regscout.analysis.analyzers.dpkg import (
    DpkgAnalyzer,
    deb_purl,
    licenses_from_copyright,
    owned_files_from_md5sums,
    parse_deb822,
)
from regscout.analysis.model import AnalyzerResult, CapturedFile

from .conftest import FIXTURES

DISTROLESS = FIXTURES / "dpkg" / "distroless"
STATUS = "var/lib/dpkg/status"


def analyze(files: dict[str, bytes]) -> AnalyzerResult:
    analyzer = DpkgAnalyzer()
    assert all(analyzer.wants(path) for path in files), [p for p in files if not analyzer.wants(p)]
    return analyzer.analyze([CapturedFile(path=p, data=d, size=len(d)) for p, d in files.items()])


def set_status(status: bytes, package: str, value: str) -> bytes:
    pattern = rb"(Package: " + re.escape(package.encode()) + rb"\n(?:[^\n]+\n)*?Status: )[^\n]*"
    patched, count = re.subn(pattern, rb"\g<1>" + value.encode(), status)
    assert count == 1, package
    return patched


# --- the real status file ---------------------------------------------------------------------------------------


def test_real_status_file(debian_status: bytes) -> None:
    result = analyze({STATUS: debian_status})
    by_name = {p.name: p for p in result.packages}

    assert result.warnings == []
    assert len(result.packages) == 96 == debian_status.count(b"\nPackage: ") + 1
    bash = by_name["bash"]  # a binNMU: the binary version is +b13, the source keeps its own
    assert (bash.version, bash.source_name, bash.source_version, bash.arch) == (
        "5.2.15-2+b13",
        "bash",
        "5.2.15-2",
        "amd64",
    )
    assert bash.purl == "pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&upstream=bash%405.2.15-2"
    libc = by_name["libc6"]  # Source without a version: the binary version
    assert (libc.source_name, libc.source_version) == ("glibc", "2.36-9+deb12u14")
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&upstream=glibc"
    adduser = by_name["adduser"]  # no Source field: the package is its own source
    assert (adduser.source_name, adduser.source_version, adduser.arch) == ("adduser", "3.134", "all")
    assert adduser.purl == "pkg:deb/debian/adduser@3.134?arch=all"
    assert dict(libc.extra)["maintainer"] == "GNU Libc Maintainers <debian-glibc@lists.debian.org>"
    assert all(p.ecosystem == "deb" and p.location == STATUS for p in result.packages)


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        ("install ok installed", True),
        ("hold ok installed", True),
        ("install ok half-configured", True),
        ("install ok triggers-pending", True),
        ("install ok triggers-awaited", True),
        ("install ok unpacked", False),
        ("install ok half-installed", False),
        ("deinstall ok config-files", False),
        ("purge ok not-installed", False),
        ("install reinstreq", False),  # two words: malformed
    ],
)
def test_only_installed_packages_are_kept(debian_status: bytes, status: str, kept: bool) -> None:
    result = analyze({STATUS: set_status(debian_status, "bash", status)})

    assert ("bash" in {p.name for p in result.packages}) is kept
    assert len(result.packages) == 95 + kept
    assert result.warnings == []


def test_stanza_without_status_is_skipped_in_the_status_file(debian_status: bytes) -> None:
    patched = set_status(debian_status, "bash", "install ok installed").replace(
        b"Package: bash\nEssential: yes\nStatus: install ok installed\n", b"Package: bash\nEssential: yes\n"
    )
    assert patched != debian_status

    assert "bash" not in {p.name for p in analyze({STATUS: patched}).packages}


def test_junk_lines_and_incomplete_stanzas_are_warnings(debian_status: bytes) -> None:
    damaged = debian_status + b"\nthis is not a field\nPackage: lonely\nStatus: install ok installed\n"
    result = analyze({STATUS: damaged})

    assert len(result.packages) == 96
    assert result.warnings == [
        "var/lib/dpkg/status: 1 malformed line(s) skipped",
        "dpkg: 1 stanza(s) without a package name or version skipped",
    ]


def test_purl_namespace_follows_the_image_os(debian_status: bytes) -> None:
    bash = next(p for p in analyze({STATUS: debian_status}).packages if p.name == "bash")

    assert deb_purl(bash, "ubuntu") == "pkg:deb/ubuntu/bash@5.2.15-2%2Bb13?arch=amd64&upstream=bash%405.2.15-2"
    assert deb_purl(bash, None) == bash.purl


@settings(max_examples=200, deadline=1000)
@given(
    name=st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,20}", fullmatch=True),
    version=st.from_regex(r"([0-9]:)?[0-9][A-Za-z0-9.+~]{0,10}(-[A-Za-z0-9.+~]{1,8})?", fullmatch=True),
    arch=st.sampled_from([None, "amd64", "all", "arm64"]),
    source=st.sampled_from([None, "src", "other-src"]),
    source_version=st.sampled_from([None, "1.0-1", "2:3.4~rc1-1+b2"]),
)
def test_fast_purl_assembly_equals_packageurl(
    name: str, version: str, arch: str | None, source: str | None, source_version: str | None
) -> None:
    stanza = f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
    stanza += f"Architecture: {arch}\n" if arch else ""
    if source:
        stanza += f"Source: {source}" + (f" ({source_version})" if source_version else "") + "\n"
    (package,) = analyze({STATUS: stanza.encode()}).packages
    qualifiers = {"arch": arch} if arch else {}
    if package.source_version != version:
        qualifiers["upstream"] = f"{package.source_name}@{package.source_version}"
    elif package.source_name != name:
        qualifiers["upstream"] = str(package.source_name)
    expected = PackageURL(type="deb", namespace="debian", name=name, version=version, qualifiers=qualifiers)

    assert package.purl == expected.to_string()


# --- distroless status.d, md5sums and copyright -----------------------------------------------------------------


def distroless_files() -> dict[str, bytes]:
    return {
        str(path.relative_to(DISTROLESS)): path.read_bytes() for path in sorted(DISTROLESS.rglob("*")) if path.is_file()
    }


def test_distroless_status_d() -> None:
    result = analyze(distroless_files())
    by_name = {p.name: p for p in result.packages}

    assert result.warnings == []
    assert sorted(by_name) == ["base-files", "libssl3", "netbase", "zlib1g"]
    zlib = by_name["zlib1g"]
    assert (zlib.version, zlib.source_name, zlib.source_version, zlib.location) == (
        "1:1.2.13.dfsg-1",
        "zlib",
        "1:1.2.13.dfsg-1",
        "var/lib/dpkg/status.d/zlib1g",
    )
    assert zlib.purl == "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&upstream=zlib"
    assert by_name["libssl3"].source_name == "openssl"


def test_distroless_owned_files_come_from_every_md5sums_file() -> None:
    files = distroless_files()
    expected: set[str] = set()
    for path, data in files.items():
        if path.endswith(".md5sums"):
            expected |= {line.split("  ", 1)[1] for line in data.decode().splitlines()}
    result = analyze(files)

    assert result.owned_files == expected
    assert "usr/lib/x86_64-linux-gnu/libssl.so.3" in result.owned_files
    assert "usr/lib/os-release" in result.owned_files
    assert not any(path.startswith("/") for path in result.owned_files)


def test_licenses_from_real_copyright_files() -> None:
    licenses = {p.name: p.licenses for p in analyze(distroless_files()).packages}

    assert licenses == {
        "base-files": ("GPL",),  # free-form: only the /usr/share/common-licenses/GPL reference
        "libssl3": ("Apache-2.0", "Artistic-1.0-Perl", "GPL-1.0-or-later"),
        "netbase": ("GPL-2.0-only",),
        "zlib1g": ("Zlib",),
    }


def test_license_lines_count_only_in_machine_readable_files() -> None:
    free_form = b"Copyright 2001 Someone\nLicense: this is prose, not a field\nSee /usr/share/common-licenses/BSD.\n"
    dep5 = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nLicense: GPL-2+ or MIT\n"

    assert licenses_from_copyright(free_form) == ("BSD-3-Clause",)
    assert licenses_from_copyright(dep5) == ("GPL-2.0-or-later", "MIT")
    expression = dep5 + b"\nLicense: REGCOMP, and GPL-1+ | Expat\nLicense: GPL-3+ with Bison exception\n"
    assert licenses_from_copyright(expression) == (
        "GPL-2.0-or-later",
        "MIT",
        "REGCOMP",
        "GPL-1.0-or-later",
        "GPL-3+ with Bison exception",
    )
    assert licenses_from_copyright(b"\xff\xfe garbage") == ()


def test_info_md5sums_and_third_party_maintainers(debian_status: bytes) -> None:
    third_party = debian_status.replace(
        b"Maintainer: Matthias Klose <doko@debian.org>", b"Maintainer: NodeSource <gpg@nodesource.com>", 1
    )
    files = {
        STATUS: third_party,
        "var/lib/dpkg/info/bash.md5sums": b"0123456789abcdef0123456789abcdef  bin/bash\n",
        "var/lib/dpkg/info/libc6:amd64.md5sums": b"00112233445566778899aabbccddeeff  usr/lib/libc.so.6\n",
    }
    result = analyze(files)

    assert result.owned_files == {"usr/lib/libc.so.6"}


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("var/lib/dpkg/status", True),
        ("var/lib/dpkg/status.d/libssl3", True),
        ("var/lib/dpkg/status.d/libssl3.md5sums", True),
        ("var/lib/dpkg/info/bash.md5sums", True),
        ("var/lib/dpkg/info/libc6:amd64.md5sums", True),
        ("usr/share/doc/bash/copyright", True),
        ("usr/share/doc/bash/examples/copyright", False),
        ("usr/share/doc/copyright", False),
        ("opt/app/usr/share/doc/bash/copyright", False),
        ("var/lib/dpkg/info/bash.list", False),
        ("srv/data/thing.md5sums", False),
        ("var/lib/dpkg/status.d/nested/x", False),
    ],
)
def test_wanted_paths(path: str, wanted: bool) -> None:
    assert DpkgAnalyzer().wants(path) is wanted


def test_md5sums_parsing_tolerates_junk() -> None:
    data = b"d41d8cd98f00b204e9800998ecf8427e  usr/bin/a\nno-two-spaces\n\n  \nabc  /usr/bin/b\n"
    assert owned_files_from_md5sums(data) == {"usr/bin/a", "usr/bin/b"}


# --- hostile input and speed ---------------------------------------------------------------------------------------

FIELD_NAMES = ["Package", "Version", "Status", "Source", "Architecture", "Description", "package", "X"]
LINE = st.one_of(
    st.tuples(st.sampled_from(FIELD_NAMES), st.text(max_size=30)).map(lambda kv: f"{kv[0]}:{kv[1]}"),
    st.text(max_size=40),
    st.just(""),
    st.just(" continuation"),
)


@settings(max_examples=300, deadline=1000)
@given(lines=st.lists(LINE, max_size=60))
def test_malformed_status_never_raises(lines: list[str]) -> None:
    result = analyze({STATUS: "\n".join(lines).encode("utf-8", "surrogatepass")})

    assert all(p.name and p.version and " " not in p.name for p in result.packages)


@settings(max_examples=100, deadline=2000)
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    files = {
        STATUS: data,
        "var/lib/dpkg/status.d/x": data,
        "var/lib/dpkg/info/x.md5sums": data,
        "usr/share/doc/x/copyright": data,
    }
    analyze(files)


def test_huge_single_line_is_linear() -> None:
    data = b"Package: " + b"a" * 5_000_000 + b"\nVersion: 1\nStatus: install ok installed\n"
    tracemalloc.start()
    try:
        start = time.perf_counter()
        result = analyze({STATUS: data})
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [p.version for p in result.packages] == ["1"]
    assert elapsed < 2
    assert peak < 8 * len(data)


def large_status(base: bytes, size: int) -> bytes:
    copies: list[bytes] = []
    total = 0
    while total < size:
        copy = re.sub(rb"^Package: (.*)$", rb"Package: \1-" + str(len(copies)).encode(), base, flags=re.MULTILINE)
        copies.append(copy)
        total += len(copy) + 1
    return b"\n".join(copies)


def _cpu_seconds(data: bytes) -> float:
    """The least CPU time (not wall time: other processes share the machine) of three parses."""
    timings = []
    for _ in range(3):
        start = time.process_time()
        analyze({STATUS: data})
        timings.append(time.process_time() - start)
    return min(timings)


def test_a_2_mb_status_parses_in_time_linear_in_its_size(debian_status: bytes) -> None:
    big = large_status(debian_status, 2 * 1024 * 1024)
    small = large_status(debian_status, 256 * 1024)
    assert len(analyze({STATUS: big}).packages) > 2000
    # 8x the data may cost at most 16x the CPU: a quadratic parser would cost ~64x.
    assert _cpu_seconds(big) < 16 * max(_cpu_seconds(small), 0.001)


def test_parse_deb822_keeps_wanted_fields_only() -> None:
    text = "Package: a\nDescription: x\n more\nDepends: b,\n c\nPackage: dup\n\n\n\nPackage: z\n"
    assert list(parse_deb822(text)) == [({"package": "a", "depends": "b, c"}, 0), ({"package": "z"}, 0)]


def test_result_survives_the_cache_round_trip() -> None:
    result = analyze(distroless_files())

    assert AnalyzerResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_many_continuation_lines_stay_linear() -> None:
    def status(lines: int) -> bytes:
        return b"Package: a\nVersion: 1\nStatus: install ok installed\nDepends: x\n" + b" y,\n" * lines

    (package,) = analyze({STATUS: status(500_000)}).packages
    assert dict(package.extra)["depends"].count("y,") == 500_000
    # 10x the continuation lines may cost at most 25x the CPU (joining them one by one would be quadratic).
    assert _cpu_seconds(status(500_000)) < 25 * max(_cpu_seconds(status(50_000)), 0.001)
