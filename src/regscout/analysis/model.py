"""What analysis produces: packages, the operating system, and per-layer results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..jsonable import Rebuild


@dataclass(frozen=True)
class OSRelease:
    """The image's operating system, from os-release or a distro-specific file."""

    id: str  # os-release ID: debian, ubuntu, alpine, rhel, rocky, almalinux, fedora, ...
    version_id: str = ""  # "12", "3.19.1", "9.3"
    name: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
    version_codename: str = ""
    source: str = ""  # the file it came from


@dataclass(frozen=True)
class Package:
    """One installed package.

    `ecosystem` is one of ECOSYSTEMS. `purl` is built by the analyzer without OS qualifiers
    (distro=...), which are added once the image's OS is known. For OS packages `source_name`
    and `source_version` carry the source package (dpkg Source, apk origin, rpm SOURCERPM):
    vulnerability data is keyed by them. `location` is the path of the file that declared the
    package (a package database, a metadata file, an archive or a binary)."""

    name: str
    version: str
    ecosystem: str
    purl: str
    location: str
    source_name: str | None = None
    source_version: str | None = None
    licenses: tuple[str, ...] = ()
    arch: str | None = None
    extra: tuple[tuple[str, str], ...] = ()  # ecosystem-specific facts, e.g. (("epoch", "1"),)

    def key(self) -> tuple[str, str, str, str]:
        return (self.ecosystem, self.name, self.version, self.location)


# Ecosystem names used in Package.ecosystem (OS package managers, then language ecosystems
# named as OSV names them where a language ecosystem exists).
ECOSYSTEMS = frozenset(
    {
        "deb",
        "apk",
        "rpm",
        "PyPI",
        "npm",
        "RubyGems",
        "Packagist",
        "Go",
        "Maven",
        "crates.io",
    }
)


@dataclass(frozen=True)
class CapturedFile:
    """A file an analyzer asked for, read from one layer (size-capped, in memory)."""

    path: str  # normalised: no leading "/", no "./", no ".." components
    data: bytes
    mode: int = 0o644
    size: int = 0  # the size the tar header declared


@dataclass
class AnalyzerResult:
    """What one analyzer found in one layer. Keyed by location at merge time."""

    packages: list[Package] = field(default_factory=list)
    os: OSRelease | None = None
    owned_files: set[str] = field(default_factory=set)  # paths owned by OS packages (for dedup)
    warnings: list[str] = field(default_factory=list)

    def absorb(self, other: AnalyzerResult) -> None:
        """Add another result of the same analyzer (from another file of the same layer)."""
        self.packages.extend(other.packages)
        self.os = other.os or self.os
        self.owned_files |= other.owned_files
        self.warnings.extend(other.warnings)

    def to_json(self) -> dict[str, Any]:
        return {
            "packages": [package_to_json(p) for p in self.packages],
            "os": None if self.os is None else {**self.os.__dict__, "id_like": list(self.os.id_like)},
            "owned_files": sorted(self.owned_files),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnalyzerResult:
        os_data = data.get("os")
        os = None
        if os_data:
            os = OSRelease(**{**os_data, "id_like": tuple(os_data.get("id_like", ()))})
        return cls(
            packages=[package_from_json(p) for p in data.get("packages", [])],
            os=os,
            owned_files=set(data.get("owned_files", [])),
            warnings=list(data.get("warnings", [])),
        )


def package_to_json(package: Package) -> dict[str, Any]:
    data = dict(package.__dict__)
    data["licenses"] = list(package.licenses)
    data["extra"] = [list(pair) for pair in package.extra]
    return data


def _extra(pairs: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in pairs)


_package = Rebuild(Package, {"licenses": tuple, "extra": _extra})


def package_from_json(data: dict[str, Any]) -> Package:
    return _package(data)
