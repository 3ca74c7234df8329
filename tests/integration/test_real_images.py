"""Real package metadata through the whole pipeline: pushed to the real registry, streamed once,
walked, analysed and merged. Expectations come from Debian's dpkg-query and from each analyzer run
directly on the same files, never from the pipeline itself."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from isal import igzip

from regscout.analysis.analyzers.registry import default_analyzers
from regscout.analysis.capture import CapturePlan
from regscout.analysis.image import ImageAnalyzer, ImageReport
from regscout.analysis.model import CapturedFile
from regscout.registries.distribution import RegistryClient
from tests.harness.debian import debian_rootfs_tar, dpkg_installed
from tests.harness.images import Image, Layer, Pusher, TarEntry, build_image, sha256_digest, tar_layer
from tests.harness.lang_fixtures import fixture_bytes, go_hello_binary, tree
from tests.harness.registry import RunningRegistry
from tests.harness.rpm_fixtures import rpm_databases

from .conftest import FAST

pytestmark = pytest.mark.anyio
OS_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "os"


@pytest.fixture(scope="module")
def debian() -> Layer:
    raw = debian_rootfs_tar().read_bytes()
    data = igzip.compress(raw, compresslevel=1)
    return Layer(
        "application/vnd.oci.image.layer.v1.tar+gzip", data, sha256_digest(data), len(data), sha256_digest(raw)
    )


async def analyze(registry: RunningRegistry, repository: str, image: Image) -> ImageReport:
    with Pusher(registry) as pusher:
        pusher.push(repository, "t", image)
    async with RegistryClient(registry.url, options=FAST) as client:
        return await ImageAnalyzer(default_analyzers()).analyze(client, repository, "t")


def by_ecosystem(report: ImageReport, ecosystem: str) -> set[tuple[str, str]]:
    return {(f.package.name, f.package.version) for f in report.inventory.packages if f.package.ecosystem == ecosystem}


async def test_debian_image_matches_dpkg_query(
    registry_anonymous: RunningRegistry, debian: Layer, tmp_path: Path
) -> None:
    report = await analyze(registry_anonymous, "real/debian", build_image([debian]))
    expected = dpkg_installed(debian_rootfs_tar(), tmp_path)
    assert len(expected) > 80
    assert by_ecosystem(report, "deb") == expected
    os = report.inventory.os
    assert os is not None and (os.id, os.version_id) == ("debian", "12")
    assert all("distro=debian-12" in f.package.purl for f in report.inventory.packages)
    assert {f.layer.index for f in report.inventory.packages} == {0}


async def test_a_package_removed_in_an_upper_layer_disappears(
    registry_anonymous: RunningRegistry, debian: Layer
) -> None:
    status = next(f for f in tree_of_debian() if f.path == "var/lib/dpkg/status").data
    stanzas = status.strip().split(b"\n\n")
    removed = next(s for s in stanzas if b"\nPriority: optional" in s and b"Status: install ok installed" in s)
    removed_name = removed.split(b"\n", 1)[0].removeprefix(b"Package: ").decode()
    upper = tar_layer({"var/lib/dpkg/status": b"\n\n".join(s for s in stanzas if s is not removed) + b"\n"})
    report = await analyze(registry_anonymous, "real/debian-minus", build_image([debian, upper]))
    names = {name for name, _ in by_ecosystem(report, "deb")}
    assert removed_name not in names and len(names) > 80
    # the other packages were already there in layer 0: that is where they came from
    assert {f.layer.index for f in report.inventory.packages} == {0}

    gone = tar_layer({"var/lib/dpkg": TarEntry.whiteout()})
    wiped = await analyze(registry_anonymous, "real/debian-wiped", build_image([debian, gone]))
    assert by_ecosystem(wiped, "deb") == set()
    assert wiped.inventory.os is not None and wiped.inventory.os.id == "debian"


def tree_of_debian() -> Iterator[CapturedFile]:
    with tarfile.open(debian_rootfs_tar()) as tar:
        for member in tar:
            if member.name.removeprefix("./") == "var/lib/dpkg/status":
                handle = tar.extractfile(member)
                assert handle is not None
                yield CapturedFile("var/lib/dpkg/status", handle.read(), member.mode, member.size)


def direct(files: Sequence[CapturedFile]) -> set[tuple[str, str, str]]:
    """What each analyzer finds when handed the matching files directly, without the pipeline."""
    found = set()
    for analyzer in default_analyzers():
        plan = CapturePlan([analyzer])
        wanted = [f for f in files if plan.match(f.path, f.mode, f.size)]
        if wanted:
            found |= {(p.ecosystem, p.name, p.version) for p in analyzer.analyze(wanted).packages}
    return found


def language_files() -> list[CapturedFile]:
    files = [*tree("python"), *tree("node"), *tree("ruby"), *tree("php"), *tree("java")]
    for path, data in [
        ("usr/local/bin/hello", go_hello_binary()),
        ("usr/bin/go-md2man", fixture_bytes("go/go-md2man.xz")),
        ("usr/local/bin/audit-demo", fixture_bytes("rust/audit-demo.xz")),
    ]:
        files.append(CapturedFile(path, data, 0o755, len(data)))
    return files


async def test_language_packages_end_to_end(registry_anonymous: RunningRegistry) -> None:
    files = language_files()
    layer = tar_layer({f.path: TarEntry.file(f.data, f.mode) for f in files}, "zstd")
    report = await analyze(registry_anonymous, "real/languages", build_image([layer]))
    found = {(f.package.ecosystem, f.package.name, f.package.version) for f in report.inventory.packages}
    assert found == direct(files)
    ecosystems = {ecosystem for ecosystem, _, _ in found}
    assert ecosystems >= {"PyPI", "npm", "RubyGems", "Packagist", "Maven", "Go", "crates.io"}


@pytest.mark.parametrize("db", ["sqlite", "bdb", "ndb"])
async def test_rpm_databases_end_to_end(registry_anonymous: RunningRegistry, db: str) -> None:
    databases = rpm_databases()
    path = {
        "sqlite": "var/lib/rpm/rpmdb.sqlite",
        "bdb": "var/lib/rpm/Packages",
        "ndb": "usr/lib/sysimage/rpm/Packages.db",
    }[db]
    source = {"sqlite": databases.sqlite, "bdb": databases.bdb, "ndb": databases.ndb}[db]
    os_release = b'ID="rocky"\nVERSION_ID="9.3"\nID_LIKE="rhel centos fedora"\n'
    layer = tar_layer({path: source.read_bytes(), "etc/os-release": os_release})
    report = await analyze(registry_anonymous, f"real/rpm-{db}", build_image([layer]))
    expected = {(name, version) for _, name, version in direct([CapturedFile(path, source.read_bytes())])}
    assert len(expected) >= 3 and by_ecosystem(report, "rpm") == expected
    assert all("distro=rocky-9.3" in f.package.purl for f in report.inventory.packages)


async def test_alpine_image(registry_anonymous: RunningRegistry) -> None:
    installed = (OS_FIXTURES / "apk" / "installed").read_bytes()
    layer = tar_layer(
        {
            "lib/apk/db/installed": installed,
            "etc/alpine-release": b"3.19.1\n",
            "etc/os-release": b'ID=alpine\nVERSION_ID=3.19.1\nNAME="Alpine Linux"\n',
        }
    )
    report = await analyze(registry_anonymous, "real/alpine", build_image([layer]))
    expected = {(name, version) for _, name, version in direct([CapturedFile("lib/apk/db/installed", installed)])}
    assert len(expected) > 5 and by_ecosystem(report, "apk") == expected
    musl = [f.package for f in report.inventory.packages if f.package.name == "musl"]
    assert musl and "distro=alpine-3.19.1" in musl[0].purl
