"""NuGet order: SemVer 2.0 with an optional fourth (revision) number and case-insensitive pre-release labels.

Our own code: univers ``NugetVersion`` orders correctly but hashes build metadata, so equal versions can land in
different dict slots.
"""

from __future__ import annotations

import re

from .base import InvalidVersion, KeyedScheme
from .semver import prerelease_key

_NUGET = re.compile(
    r"[vV]?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?"
)
_RELEASE: tuple[object, ...] = (1,)


def nuget_key(version: str) -> tuple[int, int, int, int, tuple[object, ...]]:
    m = _NUGET.fullmatch(version.strip())
    if m is None:
        raise InvalidVersion(version)
    major, minor, patch, revision, pre = m.groups()
    return (
        int(major),
        int(minor or 0),
        int(patch or 0),
        int(revision or 0),
        prerelease_key(pre, fold_case=True) if pre is not None else _RELEASE,
    )


NUGET = KeyedScheme("nuget", nuget_key)
