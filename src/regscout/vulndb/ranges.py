"""OSV ``affected[]`` evaluation: is an installed version affected, and which versions fix it.

Follows the OSV schema's evaluation pseudocode. ``ECOSYSTEM`` ranges use the ecosystem's scheme, ``SEMVER``
ranges always use SemVer, ``GIT`` ranges are ignored. Bad records never raise: an event whose version does not
parse is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .versions import SEMVER, InvalidVersion, VersionScheme

FixState = Literal["fixed", "not-fixed", "unknown"]


@dataclass(frozen=True, slots=True)
class Verdict:
    affected: bool
    # Fixed versions above the installed one, lowest first, from the ranges that make it affected.
    fixed: tuple[str, ...]
    # Affected: "fixed" when a fix is known, else "not-fixed". Not affected: "fixed", or "unknown" when the
    # installed version could not be compared.
    state: FixState
    # The lowest last_affected at or above the installed version, from the ranges that make it affected.
    last_affected: str | None = None


NOT_AFFECTED = Verdict(False, (), "fixed")
UNKNOWN = Verdict(False, (), "unknown")

_INTRODUCED, _FIXED, _LAST_AFFECTED, _LIMIT = "introduced", "fixed", "last_affected", "limit"
# At equal versions "introduced" is applied first, so introduced X + fixed X is an empty range.
_EVENT_ORDER = {_INTRODUCED: 0, _FIXED: 1, _LAST_AFFECTED: 1}
_ZERO = (0,)  # sorts below (1, key) for every key


@dataclass(slots=True)
class _RangeHit:
    """What one range that makes the version affected says about fixes."""

    fixed: list[tuple[Any, str]]
    last_affected: list[tuple[Any, str]]


def evaluate(affected: Mapping[str, Any], version: str, scheme: VersionScheme) -> Verdict:
    """Evaluate one OSV ``affected[]`` entry for ``version`` (for OS packages: the source version)."""
    keys: dict[str, Any] = {}  # installed key per scheme name; None = does not parse

    def installed_key(sch: VersionScheme) -> Any:
        if sch.name not in keys:
            keys[sch.name] = _try_key(sch, version)
        return keys[sch.name]

    # Fix versions are tagged with their range's scheme (0 = the ecosystem's, 1 = SemVer) so that keys of two
    # different schemes are never compared with each other.
    fixed: dict[tuple[int, Any], str] = {}
    last_affected: list[tuple[tuple[int, Any], str]] = []
    hit = False
    unparsed = installed_key(scheme) is None
    ranges = affected.get("ranges")
    for rng in ranges if isinstance(ranges, list) else ():
        if not isinstance(rng, Mapping):
            continue
        kind = rng.get("type")
        if kind == "ECOSYSTEM":
            sch, tag = scheme, 0
        elif kind == "SEMVER":
            sch, tag = SEMVER, int(scheme.name != SEMVER.name)
        else:
            continue
        vkey = installed_key(sch)
        if vkey is None:
            unparsed = True
            continue
        found = _evaluate_range(rng.get("events"), vkey, sch)
        if found is None:
            continue
        hit = True
        for k, v in found.fixed:
            fixed.setdefault((tag, k), v)
        last_affected += (((tag, k), v) for k, v in found.last_affected)

    if not hit:
        if _listed(affected.get("versions"), version, installed_key(scheme), scheme):
            return Verdict(True, (), "unknown" if unparsed else "not-fixed")
        return UNKNOWN if unparsed else NOT_AFFECTED
    return Verdict(
        affected=True,
        fixed=tuple(fixed[k] for k in sorted(fixed)),
        state="fixed" if fixed else "not-fixed",
        last_affected=min(last_affected)[1] if last_affected else None,
    )


def _try_key(scheme: VersionScheme, version: Any) -> Any:
    try:
        return scheme.key(version)
    except InvalidVersion:
        return None


def _listed(versions: Any, version: str, vkey: Any, scheme: VersionScheme) -> bool:
    if not isinstance(versions, list) or not versions:
        return False
    if version in versions:
        return True
    if vkey is None:
        return False
    return any(isinstance(v, str) and _try_key(scheme, v) == vkey for v in versions)


def _evaluate_range(events: Any, vkey: Any, scheme: VersionScheme) -> _RangeHit | None:
    """None if ``vkey`` is not inside the range, else the range's fix information above ``vkey``."""
    limits: list[Any] = []
    ordered: list[tuple[tuple[Any, ...], int, str, Any, str]] = []
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, Mapping):
            continue
        for kind, value in event.items():
            if not isinstance(value, str):
                continue
            if kind == _LIMIT:
                if value == "*":
                    limits.append(None)
                elif (k := _try_key(scheme, value)) is not None:
                    limits.append(k)
            elif kind in _EVENT_ORDER:
                if kind == _INTRODUCED and value == "0":
                    ordered.append((_ZERO, 0, kind, None, value))
                elif (k := _try_key(scheme, value)) is not None:
                    ordered.append(((1, k), _EVENT_ORDER[kind], kind, k, value))

    if limits and not any(lim is None or vkey < lim for lim in limits):
        return None
    ordered.sort(key=lambda e: (e[0], e[1]))

    vulnerable = False
    for _, _, kind, k, _ in ordered:
        if kind == _INTRODUCED:
            if k is None or vkey >= k:
                vulnerable = True
        elif kind == _FIXED:
            if vkey >= k:
                vulnerable = False
        elif vkey > k:  # last_affected
            vulnerable = False
    if not vulnerable:
        return None
    return _RangeHit(
        fixed=[(k, s) for _, _, kind, k, s in ordered if kind == _FIXED and k > vkey],
        last_affected=[(k, s) for _, _, kind, k, s in ordered if kind == _LAST_AFFECTED and k >= vkey],
    )
