"""DpkgAnalyzer and OSReleaseAnalyzer on a real Debian 12 root built by mmdebstrap, checked against dpkg-query."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from regscout.analysis.analyzers.dpkg import DpkgAnalyzer
from regscout.analysis.analyzers.os_release import OSReleaseAnalyzer
from regscout.analysis.model import CapturedFile
from tests.harness.debian import INSTALLED_STATES, debian_rootfs_tar, dpkg_query_rows


@pytest.fixture(scope="module")
def rootfs() -> dict[str, CapturedFile]:
    """The files the two analyzers ask for, read from the tar as the layer walker would hand them over."""
    dpkg, os_release = DpkgAnalyzer(), OSReleaseAnalyzer()
    wanted: dict[str, CapturedFile] = {}
    with tarfile.open(debian_rootfs_tar()) as tar:
        for member in tar:
            path = member.name.removeprefix("./").lstrip("/")
            if not member.isreg():
                continue
            if (dpkg.wants(path) and _matches(dpkg, path)) or path in os_release.interest.exact:
                data = tar.extractfile(member)
                assert data is not None
                wanted[path] = CapturedFile(path=path, data=data.read(), mode=member.mode, size=member.size)
    return wanted


def _matches(analyzer: DpkgAnalyzer, path: str) -> bool:
    interest = analyzer.interest
    return (
        path in interest.exact
        or path.endswith(interest.suffixes)
        or any(path.startswith(d) and "/" not in path[len(d) :] for d in interest.directories)
    )


@pytest.fixture(scope="module")
def dpkg_query(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """(package, version, abbreviated status) for every package, from Debian's own dpkg-query."""
    return dpkg_query_rows(debian_rootfs_tar(), tmp_path_factory.mktemp("debian-root"))


def test_package_set_equals_dpkg_query(rootfs: dict[str, CapturedFile], dpkg_query: list[tuple[str, str, str]]) -> None:
    result = DpkgAnalyzer().analyze([rootfs["var/lib/dpkg/status"]])
    installed = {(name, version) for name, version, status in dpkg_query if status[1:2] in INSTALLED_STATES}

    assert result.warnings == []
    assert len(installed) > 80
    assert {(p.name, p.version) for p in result.packages} == installed
    assert len(result.packages) == len(installed)


def test_whole_layer_gives_sources_owned_files_and_licenses(rootfs: dict[str, CapturedFile]) -> None:
    files = [f for p, f in rootfs.items() if DpkgAnalyzer().wants(p)]
    result = DpkgAnalyzer().analyze(files)
    by_name = {p.name: p for p in result.packages}

    assert sum(p.path.endswith(".md5sums") for p in files) > 80
    assert {"usr/bin/dpkg", "usr/lib/os-release", "usr/bin/apt"} <= result.owned_files
    assert by_name["libc6"].source_name == "glibc"
    assert by_name["dpkg"].licenses and "GPL-2.0-or-later" in by_name["dpkg"].licenses
    with_licenses = sum(bool(p.licenses) for p in result.packages)
    assert with_licenses >= 0.9 * len(result.packages), with_licenses


def test_os_release_of_the_root(rootfs: dict[str, CapturedFile]) -> None:
    # etc/os-release is a symlink in Debian: only the regular usr/lib/os-release is captured.
    files = [f for p, f in rootfs.items() if p in OSReleaseAnalyzer.interest.exact]
    assert "etc/os-release" not in {f.path for f in files}
    release = OSReleaseAnalyzer().analyze(files).os

    assert release is not None
    assert (release.id, release.version_id, release.version_codename, release.source) == (
        "debian",
        "12",
        "bookworm",
        "usr/lib/os-release",
    )


def test_the_tar_is_cached() -> None:
    first = debian_rootfs_tar()
    assert debian_rootfs_tar() == first
    assert isinstance(first, Path) and first.stat().st_size > 50 * 1024 * 1024
