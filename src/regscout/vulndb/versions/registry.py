"""The one table from an OSV ecosystem (base name, before the first ':') to its version scheme."""

from __future__ import annotations

from .apk import APK
from .base import VersionScheme
from .composer import COMPOSER
from .dpkg import DPKG
from .maven import MAVEN
from .nuget import NUGET
from .pep440 import PEP440
from .rpm import RPM
from .rubygems import RUBYGEMS
from .semver import GO, SEMVER

SCHEMES: dict[str, VersionScheme] = {
    "Debian": DPKG,
    "Ubuntu": DPKG,
    "Alpine": APK,
    "Wolfi": APK,
    "Chainguard": APK,
    "Rocky Linux": RPM,
    "AlmaLinux": RPM,
    "Red Hat": RPM,
    "openSUSE": RPM,
    "SUSE": RPM,
    "Azure Linux": RPM,
    "Mariner": RPM,
    "Photon OS": RPM,
    "Oracle Linux": RPM,
    "Amazon Linux": RPM,
    "openEuler": RPM,
    "Mageia": RPM,
    "PyPI": PEP440,
    "npm": SEMVER,
    "crates.io": SEMVER,
    "Go": GO,
    "Maven": MAVEN,
    "RubyGems": RUBYGEMS,
    "Packagist": COMPOSER,
    "NuGet": NUGET,
}


def scheme_for(ecosystem: str) -> VersionScheme | None:
    """``"Debian:12"`` -> dpkg, ``"Alpine:v3.19"`` -> apk, ``"PyPI"`` -> pep440; None for an unknown ecosystem."""
    return SCHEMES.get(ecosystem.split(":", 1)[0].strip())
