"""Version ranges in package criteria, compared by each ecosystem's own order (regscout.vulndb.versions)."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..vulndb.ecosystems import normalise_name
from ..vulndb.versions import APK, DPKG, RPM, InvalidVersion, VersionScheme, scheme_for

__all__ = ["Comparison", "VersionRange", "normalise_name", "parse_range", "scheme_for_ecosystem"]

# Package.ecosystem names the OS package managers; the language ecosystems are named as OSV names them.
_OS_SCHEMES: dict[str, VersionScheme] = {"deb": DPKG, "apk": APK, "rpm": RPM}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}
_PART = re.compile(r"(<=|>=|==|!=|<|>|=)?\s*(\S+)")


@functools.cache
def scheme_for_ecosystem(ecosystem: str) -> VersionScheme | None:
    """The version order of a Package/Finding ecosystem (``deb``, ``PyPI``, ...) or an OSV one (``Debian:12``)."""
    return _OS_SCHEMES.get(ecosystem) or scheme_for(ecosystem)


@dataclass(frozen=True)
class Comparison:
    op: str
    version: str
    key: Any

    def holds(self, key: Any) -> bool:
        return _OPS[self.op](key, self.key)


@dataclass(frozen=True)
class VersionRange:
    text: str
    comparisons: tuple[Comparison, ...]

    def contains(self, key: Any) -> bool:
        return all(c.holds(key) for c in self.comparisons)


def parse_range(text: str, scheme: VersionScheme) -> VersionRange:
    """``>=1.0, <2.0`` → a range; a bare version is ``==``. ValueError (InvalidVersion) naming the bad part."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError("a range is comparisons joined by commas, like '>=1.0, <2.0'")
    comparisons = []
    for part in parts:
        m = _PART.fullmatch(part)
        if m is None:
            raise ValueError(f"{part!r} is not a comparison like '<2.0' or '>=1.4.2'")
        op, version = m[1] or "==", m[2]
        if version[0] in "<>=!":
            raise ValueError(f"{part!r} has more than one comparison operator; use <, <=, >, >=, == or !=")
        try:
            key = scheme.key(version)
        except InvalidVersion:
            raise InvalidVersion(f"{version!r} is not a valid {scheme.name} version") from None
        comparisons.append(Comparison(op, version, key))
    return VersionRange(text.strip(), tuple(comparisons))
