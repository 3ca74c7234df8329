"""Which OSV ecosystem and package name an installed package is looked up under.

OS packages are keyed by the release's ecosystem string and their *source* package (dpkg Source,
apk origin, rpm source RPM), compared at the source version: that is how the distributions
publish their data. Language packages keep their ecosystem and a normalised name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..analysis.model import OSRelease, Package


@dataclass(frozen=True)
class Lookup:
    ecosystems: tuple[str, ...]  # OSV ecosystem strings to query, most specific first
    name: str  # the name as the OSV data spells it
    version: str  # the version to compare


def _major(version_id: str) -> str:
    return version_id.split(".")[0]


def os_ecosystems(os: OSRelease | None) -> tuple[str, ...]:
    """The OSV ecosystem strings for an image's OS release (empty when the OS has no OSV data)."""
    if os is None or not os.version_id:
        return ()
    ident, version = os.id.lower(), os.version_id
    if ident == "debian":
        return (f"Debian:{_major(version)}",) if _major(version).isdigit() else ()
    if ident == "ubuntu":
        lts = "LTS" in f"{os.pretty_name} {os.name}"
        return (f"Ubuntu:{version}:LTS",) if lts else (f"Ubuntu:{version}",)
    if ident == "alpine":
        parts = version.split(".")
        return (f"Alpine:v{parts[0]}.{parts[1]}",) if len(parts) >= 2 else ()
    if ident == "rocky":
        return (f"Rocky Linux:{_major(version)}",)
    if ident == "almalinux":
        return (f"AlmaLinux:{_major(version)}",)
    if ident == "rhel":
        major = _major(version)
        return (f"Red Hat:enterprise_linux:{major}::baseos", f"Red Hat:enterprise_linux:{major}::appstream")
    if ident in ("wolfi", "chainguard"):
        return (ident.capitalize(),)
    return ()


_PEP503 = re.compile(r"[-_.]+")


def normalise_name(ecosystem: str, name: str) -> str:
    """Names as OSV spells them: PyPI per PEP 503; everything else as declared."""
    return _PEP503.sub("-", name).lower() if ecosystem == "PyPI" else name


LANGUAGE_ECOSYSTEMS = frozenset({"PyPI", "npm", "RubyGems", "Packagist", "Go", "Maven", "crates.io", "NuGet"})


def lookup_for(package: Package, os: OSRelease | None) -> Lookup | None:
    """How to look this package up, or None when it cannot be matched reliably."""
    if dict(package.extra).get("unmatchable"):
        return None
    if package.ecosystem in ("deb", "apk", "rpm"):
        ecosystems = os_ecosystems(os)
        if not ecosystems:
            return None
        name = package.source_name or package.name
        version = package.source_version or package.version
        if package.ecosystem == "rpm" and version and ":" not in version:
            epoch = dict(package.extra).get("epoch")
            if epoch:
                version = f"{epoch}:{version}"
        return Lookup(ecosystems, name, version)
    if package.ecosystem in LANGUAGE_ECOSYSTEMS:
        if not package.version or package.version == "(devel)":
            return None
        return Lookup((package.ecosystem,), normalise_name(package.ecosystem, package.name), package.version)
    return None
