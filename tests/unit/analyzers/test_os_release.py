"""OSReleaseAnalyzer: os-release and the distribution-specific release files."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.os_release import OSReleaseAnalyzer, parse_os_release
from regscout.analysis.model import AnalyzerResult, CapturedFile, OSRelease

from .conftest import FIXTURES

DEBIAN_12 = (FIXTURES / "os-release" / "debian-12").read_bytes()  # from the mmdebstrap bookworm root

UBUNTU_2204 = b"""PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
"""

ALPINE_319 = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""

ROCKY_9 = b"""NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
"""

DEBIAN_SID = b"""PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
"""


def analyze(files: dict[str, bytes]) -> AnalyzerResult:
    assert set(files) <= OSReleaseAnalyzer.interest.exact
    return OSReleaseAnalyzer().analyze([CapturedFile(path=p, data=d, size=len(d)) for p, d in files.items()])


def test_real_debian_os_release() -> None:
    result = analyze({"usr/lib/os-release": DEBIAN_12, "etc/debian_version": b"12.15\n"})

    assert result.os == OSRelease(
        id="debian",
        version_id="12",
        name="Debian GNU/Linux",
        pretty_name="Debian GNU/Linux 12 (bookworm)",
        version_codename="bookworm",
        source="usr/lib/os-release",
    )
    assert result.warnings == []
    assert result.packages == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (UBUNTU_2204, ("ubuntu", "22.04", ("debian",), "jammy", "Ubuntu 22.04.3 LTS")),
        (ALPINE_319, ("alpine", "3.19.1", (), "", "Alpine Linux v3.19")),
        (ROCKY_9, ("rocky", "9.3", ("rhel", "centos", "fedora"), "", "Rocky Linux 9.3 (Blue Onyx)")),
    ],
)
def test_os_release_fields(data: bytes, expected: tuple[object, ...]) -> None:
    release = analyze({"etc/os-release": data}).os

    assert release is not None
    assert (release.id, release.version_id, release.id_like, release.version_codename, release.pretty_name) == expected
    assert release.source == "etc/os-release"


def test_etc_wins_over_usr_lib_and_os_release_over_distro_files() -> None:
    result = analyze(
        {
            "usr/lib/os-release": DEBIAN_12,
            "etc/os-release": UBUNTU_2204,
            "etc/lsb-release": b"DISTRIB_ID=Other\nDISTRIB_RELEASE=1\n",
            "etc/alpine-release": b"3.19.1\n",
        }
    )

    assert result.os is not None and (result.os.id, result.os.source) == ("ubuntu", "etc/os-release")
    only_usr_lib = analyze({"usr/lib/os-release": DEBIAN_12, "etc/alpine-release": b"3.19.1\n"}).os
    assert only_usr_lib is not None and only_usr_lib.source == "usr/lib/os-release"


def test_debian_testing_takes_its_version_from_debian_version() -> None:
    release = analyze({"etc/os-release": DEBIAN_SID, "etc/debian_version": b"trixie/sid\n"}).os

    assert release is not None
    assert (release.id, release.version_id, release.version_codename) == ("debian", "trixie/sid", "trixie")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"etc/alpine-release": b"3.18.4\n"}, ("alpine", "3.18.4", (), "")),
        ({"etc/debian_version": b"11.8\n"}, ("debian", "11", (), "")),
        (
            {
                "etc/lsb-release": b"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\nDISTRIB_CODENAME=focal\n"
                b'DISTRIB_DESCRIPTION="Ubuntu 20.04.6 LTS"\n'
            },
            ("ubuntu", "20.04", (), "focal"),
        ),
        ({"etc/system-release-cpe": b"cpe:/o:centos:linux:6:GA\n"}, ("centos", "6", ("rhel",), "")),
        ({"etc/system-release-cpe": b"cpe:2.3:o:amazon:amazon_linux:2023\n"}, ("amzn", "2023", ("rhel",), "")),
        ({"etc/redhat-release": b"CentOS release 6.10 (Final)\n"}, ("centos", "6.10", ("rhel",), "Final")),
        (
            {"etc/redhat-release": b"Red Hat Enterprise Linux release 8.9 (Ootpa)\n"},
            ("rhel", "8.9", (), "Ootpa"),
        ),
        (
            {
                "etc/redhat-release": b"Rocky Linux release 9.3 (Blue Onyx)\n",
                "etc/rocky-release": b"Rocky Linux release 9.3 (Blue Onyx)\n",
            },
            ("rocky", "9.3", ("rhel",), "Blue Onyx"),
        ),
        ({"etc/centos-release": b"CentOS Stream release 9\n"}, ("centos", "9", ("rhel",), "")),
        (
            {"etc/almalinux-release": b"AlmaLinux release 8.9 (Midnight Oncilla)\n"},
            ("almalinux", "8.9", ("rhel",), "Midnight Oncilla"),
        ),
    ],
)
def test_distribution_release_files(files: dict[str, bytes], expected: tuple[object, ...]) -> None:
    release = analyze(files).os

    assert release is not None
    assert (release.id, release.version_id, release.id_like, release.version_codename) == expected


def test_rocky_release_is_read_before_redhat_release() -> None:
    release = analyze(
        {
            "etc/redhat-release": b"Red Hat Enterprise Linux release 9.3 (Plow)\n",
            "etc/rocky-release": b"Rocky Linux release 9.3 (Blue Onyx)\n",
        }
    ).os

    assert release is not None and (release.id, release.source) == ("rocky", "etc/rocky-release")


def test_shell_quoting_and_escapes() -> None:
    text = "\n".join(
        [
            "# a comment",
            'NAME="Quoted \\"name\\" with \\$dollar and \\\\backslash"',
            "ID='single quoted \\n stays'",
            "VERSION_ID=1.0 # trailing comment",
            "HOME_URL=https://example.org/#anchor",
            "PRETTY_NAME=Unquoted spaces kept",
            'BROKEN="unclosed',
            "not an assignment",
            "BAD KEY=x",
            "",
        ]
    )

    assert parse_os_release(text) == {
        "NAME": 'Quoted "name" with $dollar and \\backslash',
        "ID": "single quoted \\n stays",
        "VERSION_ID": "1.0",
        "HOME_URL": "https://example.org/#anchor",
        "PRETTY_NAME": "Unquoted spaces kept",
        "BROKEN": "unclosed",
    }


@pytest.mark.parametrize(
    "files",
    [
        {"etc/os-release": b"NAME=nothing\n"},
        {"etc/alpine-release": b"edge\n"},
        {"etc/redhat-release": b"Some Other Linux release 1\n"},
        {"etc/system-release-cpe": b"cpe:/a:vendor:app:1\n"},
        {"etc/debian_version": b""},
    ],
)
def test_files_without_an_os_are_warnings(files: dict[str, bytes]) -> None:
    result = analyze(files)

    assert result.os is None
    assert result.warnings == [f"{next(iter(files))}: no operating system found in it"]


def test_no_files_no_os() -> None:
    assert analyze({}) == AnalyzerResult()


@settings(max_examples=300, deadline=1000)
@given(
    path=st.sampled_from(sorted(OSReleaseAnalyzer.interest.exact)),
    data=st.one_of(st.binary(max_size=512), st.text(max_size=512).map(lambda t: t.encode("utf-8", "surrogatepass"))),
)
def test_garbage_never_raises(path: str, data: bytes) -> None:
    result = analyze({path: data})

    assert result.os is None or result.os.id


def test_result_survives_the_cache_round_trip() -> None:
    result = analyze({"etc/os-release": ROCKY_9})

    assert AnalyzerResult.from_json(json.loads(json.dumps(result.to_json()))) == result
