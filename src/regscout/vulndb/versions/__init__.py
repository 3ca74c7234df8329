"""Version ordering per ecosystem: each scheme turns a version string into a cached, totally ordered key."""

from .apk import APK
from .base import InvalidVersion, KeyedScheme, VersionScheme
from .composer import COMPOSER
from .dpkg import DPKG
from .maven import MAVEN
from .nuget import NUGET
from .pep440 import PEP440
from .registry import SCHEMES, scheme_for
from .rpm import RPM
from .rubygems import RUBYGEMS
from .semver import GO, SEMVER

__all__ = [
    "APK",
    "COMPOSER",
    "DPKG",
    "GO",
    "MAVEN",
    "NUGET",
    "PEP440",
    "RPM",
    "RUBYGEMS",
    "SCHEMES",
    "SEMVER",
    "InvalidVersion",
    "KeyedScheme",
    "VersionScheme",
    "scheme_for",
]
