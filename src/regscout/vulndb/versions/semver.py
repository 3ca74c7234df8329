"""SemVer 2.0 order for npm, crates.io, OSV ``SEMVER`` ranges, and Go modules.

Our own code rather than univers ``SemverVersion``: univers puts build metadata into the order (SemVer says
ignore it) and its objects hash unequally when they compare equal. Tolerated beyond strict SemVer: a leading
``v`` or ``=``, leading zeros, and missing minor/patch (``1.2`` = ``1.2.0``, as Go and npm coerce).
"""

from __future__ import annotations

import re

from .base import InvalidVersion, KeyedScheme

_SEMVER = re.compile(
    r"[vV=]?(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?"
)
_IDENTIFIER = re.compile(r"[0-9A-Za-z-]+")
# A release sorts above every pre-release of the same major.minor.patch.
_RELEASE: tuple[object, ...] = (1,)

SemverKey = tuple[int, int, int, tuple[object, ...]]


def prerelease_key(pre: str, fold_case: bool = False) -> tuple[object, ...]:
    """Pre-release identifiers: numeric ones compare as numbers and sort below alphanumeric ones."""
    ids: list[object] = [0]
    for ident in pre.split("."):
        if not _IDENTIFIER.fullmatch(ident):
            raise InvalidVersion(pre)
        if ident.isdigit():
            ids.append((0, int(ident)))
        else:
            ids.append((1, ident.lower() if fold_case else ident))
    return tuple(ids)


def semver_key(version: str) -> SemverKey:
    m = _SEMVER.fullmatch(version.strip())
    if m is None:
        raise InvalidVersion(version)
    pre = m["pre"]
    return (
        int(m["major"]),
        int(m["minor"] or 0),
        int(m["patch"] or 0),
        prerelease_key(pre) if pre is not None else _RELEASE,
    )


# Go toolchain names as recorded in binaries: go1.21.5, go1.22rc2 (= 1.22.0-rc.2 in OSV's stdlib records).
_GO_TOOLCHAIN = re.compile(r"go([0-9]+(?:\.[0-9]+){0,2})(?:(alpha|beta|rc)([0-9]+))?")


def go_key(version: str) -> SemverKey:
    """Go module versions (``v1.2.3``, ``+incompatible``, pseudo-versions are plain SemVer) and toolchain names."""
    m = _GO_TOOLCHAIN.fullmatch(version.strip())
    if m is not None:
        version = m[1] if m[2] is None else f"{m[1]}-{m[2]}.{m[3]}"
    return semver_key(version)


SEMVER = KeyedScheme("semver", semver_key)
GO = KeyedScheme("go", go_key)
