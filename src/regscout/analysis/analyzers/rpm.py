"""RPM: installed packages from the rpmdb (SQLite, NDB or BerkeleyDB hash), read in pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB
from .rpmdb import (
    TAG_ARCH,
    TAG_BASENAMES,
    TAG_DIRINDEXES,
    TAG_DIRNAMES,
    TAG_EPOCH,
    TAG_LICENSE,
    TAG_MODULARITYLABEL,
    TAG_NAME,
    TAG_OLDFILENAMES,
    TAG_RELEASE,
    TAG_SOURCERPM,
    TAG_VENDOR,
    TAG_VERSION,
    Header,
    RpmdbError,
    read_blobs,
)

HEADER_TAGS = frozenset({
    TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH, TAG_VENDOR, TAG_LICENSE, TAG_SOURCERPM,
    TAG_MODULARITYLABEL, TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES, TAG_OLDFILENAMES,
})  # fmt: skip
MAX_WARNINGS = 20  # per database: a damaged file should not produce a warning per slot

DB_DIRS = ("var/lib/rpm", "usr/lib/sysimage/rpm", "usr/share/rpm")
DB_NAMES = ("rpmdb.sqlite", "Packages.db", "Packages")  # the order of preference when one dir holds several

# Vendors whose packages are the distribution's own (Trivy's list): only their files count as OS-owned, so
# language packages shipped inside third-party RPMs are still reported.
OFFICIAL_VENDORS = (
    "red hat",
    "centos",
    "rocky",
    "almalinux",
    "cloudlinux",
    "fedora project",
    "oracle america",
    "amazon",
    "suse",
    "opensuse",
    "vmware",
    "microsoft corporation",
)

# purl namespace from the vendor, used until the image's OS is known (rpm_purl(package, os_id) rewrites it).
VENDOR_NAMESPACES = (
    ("red hat", "redhat"),
    ("centos", "centos"),
    ("rocky", "rocky"),
    ("almalinux", "almalinux"),
    ("fedora project", "fedora"),
    ("oracle america", "oracle"),
    ("amazon", "amazon"),
    ("opensuse", "opensuse"),
    ("suse", "suse"),
    ("vmware", "photon"),
    ("microsoft corporation", "mariner"),
)


class RpmAnalyzer(Analyzer):
    name = "rpm"
    version = 1
    interest = Interest(
        exact=frozenset(f"{d}/{n}" for d in DB_DIRS for n in DB_NAMES),
        max_size=512 * MiB,
    )

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for captured in _preferred_databases(files, result.warnings):
            _analyze_database(captured, result)
        return result


def _preferred_databases(files: Sequence[CapturedFile], warnings: list[str]) -> list[CapturedFile]:
    """One database per directory: rpm reads only its configured backend, the others are leftovers."""
    by_dir: dict[str, CapturedFile] = {}
    for captured in sorted(files, key=_preference):
        directory = captured.path.rpartition("/")[0]
        if directory in by_dir:
            warnings.append(f"{captured.path}: ignored, {by_dir[directory].path} is in the same directory")
            continue
        by_dir[directory] = captured
    return list(by_dir.values())


def _preference(captured: CapturedFile) -> int:
    basename = captured.path.rpartition("/")[2]
    return DB_NAMES.index(basename) if basename in DB_NAMES else len(DB_NAMES)


def _analyze_database(captured: CapturedFile, result: AnalyzerResult) -> None:
    try:
        blobs, warnings = read_blobs(captured.data)
    except RpmdbError as exc:
        result.warnings.append(f"{captured.path}: {exc}")
        return
    result.warnings.extend(f"{captured.path}: {w}" for w in warnings[:MAX_WARNINGS])
    if len(warnings) > MAX_WARNINGS:
        result.warnings.append(f"{captured.path}: {len(warnings) - MAX_WARNINGS} more damaged record(s) skipped")
    bad_headers = 0
    for blob in blobs:
        try:
            header = Header(blob, HEADER_TAGS)
        except RpmdbError:
            bad_headers += 1
            continue
        package = package_from_header(header, captured.path)
        if package is None:
            continue
        result.packages.append(package)
        if is_official_vendor(header.string(TAG_VENDOR), package.version):
            result.owned_files.update(owned_files(header))
    if bad_headers:
        result.warnings.append(f"{captured.path}: {bad_headers} unreadable package header(s) skipped")


def package_from_header(header: Header, location: str) -> Package | None:
    name = header.string(TAG_NAME)
    version = header.string(TAG_VERSION)
    release = header.string(TAG_RELEASE)
    if not name or version is None or release is None or name == "gpg-pubkey":  # gpg-pubkey: imported keys
        return None
    epoch = header.int32(TAG_EPOCH) if header.has(TAG_EPOCH) else None
    evr = _evr(epoch, version, release)
    arch = header.string(TAG_ARCH) or None
    sourcerpm = header.string(TAG_SOURCERPM) or ""
    source = split_sourcerpm(sourcerpm)
    extra: list[tuple[str, str]] = []
    if epoch is not None:
        extra.append(("epoch", str(epoch)))
    if source is not None:
        extra.append(("sourcerpm", sourcerpm))
    for key, tag in (("vendor", TAG_VENDOR), ("modularitylabel", TAG_MODULARITYLABEL)):
        value = header.string(tag)
        if value:
            extra.append((key, value))
    license_ = header.string(TAG_LICENSE)
    package = Package(
        name=name,
        version=evr,
        ecosystem="rpm",
        purl="",
        location=location,
        source_name=source[0] if source else None,
        source_version=_evr(epoch, source[1], source[2]) if source else None,
        licenses=(license_,) if license_ else (),
        arch=arch,
        extra=tuple(extra),
    )
    return replace(package, purl=rpm_purl(package, None))


def _evr(epoch: int | None, version: str, release: str) -> str:
    return f"{'' if epoch is None else f'{epoch}:'}{version}-{release}"


def split_sourcerpm(sourcerpm: str) -> tuple[str, str, str] | None:
    """`name-version-release.src.rpm` → (name, version, release), split from the right; None if malformed."""
    if not sourcerpm.endswith(".rpm") or sourcerpm == "(none)":
        return None
    stem = sourcerpm[: -len(".rpm")].rpartition(".")[0]  # drop the arch (src / nosrc)
    rest, _, release = stem.rpartition("-")
    name, _, version = rest.rpartition("-")
    if not (name and version and release):
        return None
    return name, version, release


def is_official_vendor(vendor: str | None, version: str) -> bool:
    lowered = (vendor or "").lower()
    return lowered.startswith(OFFICIAL_VENDORS) or "amzn" in version


def owned_files(header: Header) -> set[str]:
    """Owned paths without the leading "/": DIRNAMES[DIRINDEXES[i]] + BASENAMES[i] (or legacy OLDFILENAMES)."""
    basenames = header.strings(TAG_BASENAMES)
    if not basenames:
        return {p.lstrip("/") for p in header.strings(TAG_OLDFILENAMES) if p.strip("/")}
    dirnames = header.strings(TAG_DIRNAMES)
    indexes = header.int32s(TAG_DIRINDEXES)
    paths: set[str] = set()
    for basename, index in zip(basenames, indexes, strict=False):
        if 0 <= index < len(dirnames):
            path = (dirnames[index] + basename).lstrip("/")
            if path:
                paths.add(path)
    return paths


def rpm_purl(package: Package, os_id: str | None) -> str:
    """The package's purl with the namespace of `os_id` (the image's os-release ID) or, without it, of its vendor.

    `pkg:rpm/<ns>/<name>@<version>-<release>?arch=..&epoch=..&upstream=<source rpm>` (the epoch is a qualifier,
    as in the purl spec and Syft). The `distro=` qualifier is left to the caller."""
    extra = dict(package.extra)
    namespace = os_id.lower() if os_id else _vendor_namespace(extra.get("vendor", ""))
    qualifiers: dict[str, str] = {}
    if package.arch:
        qualifiers["arch"] = package.arch
    if "epoch" in extra:
        qualifiers["epoch"] = extra["epoch"]
    if "sourcerpm" in extra:
        qualifiers["upstream"] = extra["sourcerpm"]
    version = package.version.partition(":")[2] if "epoch" in extra else package.version
    return PackageURL(
        type="rpm", namespace=namespace, name=package.name, version=version, qualifiers=qualifiers
    ).to_string()


def _vendor_namespace(vendor: str) -> str | None:
    lowered = vendor.lower()
    for prefix, namespace in VENDOR_NAMESPACES:
        if lowered.startswith(prefix):
            return namespace
    return None
