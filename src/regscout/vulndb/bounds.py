"""The versions an ``affected[]`` entry can possibly cover, as one interval of encoded keys, stored at import.

The interval is a pre-filter: the store returns an entry for an installed version only when
``low <= encode(key) < high``, and the matcher then evaluates the entry with ``ranges.evaluate`` as before.
It is exact in one direction: every version that ``evaluate`` finds affected lies inside (the hull of the
entry's ranges, following ``evaluate``'s reading of the events); versions inside may still turn out not
affected. Entries whose ranges cannot be bounded that way (``versions[]`` lists, ranges ordered by two
different schemes, keys that do not encode) are stored as ALWAYS and are always evaluated.

Changing a scheme's order or the encoding makes stored intervals wrong: such a change needs a migration
that sets ``match_kind`` back to NULL (evaluated the old way until the next update).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .sortkey import TOP, Unencodable, encode
from .versions import SEMVER, InvalidVersion, KeyedScheme, VersionScheme, scheme_for
from .versions.base import CACHE_SIZE

# match_kind values; NULL (rows imported before these columns existed) is evaluated like ALWAYS
ALWAYS = 0  # no interval: always evaluated
ECOSYSTEM_ORDER = 1  # the interval is in the ecosystem's scheme
SEMVER_ORDER = 2  # the interval is in SemVer (SEMVER ranges of an ecosystem with another scheme, e.g. Go)

# an empty interval: no version is ever >= EMPTY_LOW
EMPTY_LOW, EMPTY_HIGH = TOP, b""
BOUNDED_KINDS = frozenset({ECOSYSTEM_ORDER, SEMVER_ORDER})
# the probe key of an installed version that does not parse: inside no interval
NO_KEY = TOP + TOP
# longer bounds are cut to a looser bound (a prefix of `low`, see _ceiling for `high`), so that
# an index entry stays far below PostgreSQL's limit of about 2,700 bytes
MAX_BOUND = 200


@dataclass(frozen=True, slots=True)
class Bounds:
    kind: int
    low: bytes | None = None
    high: bytes | None = None
    # the interval is exact (template.py): a version inside it is affected, with `fix` (if any) as its fix
    exact: bool = False
    fix: str | None = None

    def columns(self) -> dict[str, Any]:
        # match_fix: NULL = evaluate the ranges; "" = exact, no fix; else exact with this fix (versions in
        # events are never empty)
        fix = (self.fix or "") if self.exact else None
        return {"match_kind": self.kind, "match_low": self.low, "match_high": self.high, "match_fix": fix}

    def admits(self, own_key: bytes, semver_key: bytes) -> bool:
        return admits(self.kind, self.low, self.high, own_key, semver_key)


def admits(kind: int | None, low: bytes | None, high: bytes | None, own_key: bytes, semver_key: bytes) -> bool:
    """Whether a stored interval may hold the installed version whose probe keys (``probe_key`` in the
    ecosystem's scheme and in SemVer) are given. Rows without an interval always may."""
    if kind is None or kind == ALWAYS or low is None or high is None:
        return True
    return low <= (semver_key if kind == SEMVER_ORDER else own_key) < high


UNBOUNDED = Bounds(ALWAYS)


def bounds_for(ecosystem: str, ranges: Any, versions: Any) -> Bounds:
    """The interval of one stored affected row (its ecosystem, ``ranges`` and ``versions`` columns)."""
    scheme = scheme_for(ecosystem)
    if scheme is None or (isinstance(versions, list) and versions):
        return UNBOUNDED
    kinds: set[int] = set()
    intervals: list[tuple[bytes, bytes]] = []
    ordered: list[Mapping[str, Any]] = []
    for rng in ranges if isinstance(ranges, list) else ():
        if not isinstance(rng, Mapping) or rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges are not evaluated
        ordered.append(rng)
        semver = rng["type"] == "SEMVER" and scheme.name != SEMVER.name
        kinds.add(SEMVER_ORDER if semver else ECOSYSTEM_ORDER)
        try:
            interval = range_interval(rng.get("events"), SEMVER if semver else scheme)
        except Unencodable:
            return UNBOUNDED
        if interval is not None:
            intervals.append(interval)
    if len(kinds) > 1:
        return UNBOUNDED
    if not intervals:
        return Bounds(kinds.pop() if kinds else ECOSYSTEM_ORDER, EMPTY_LOW, EMPTY_HIGH)
    low, high = min(low for low, _ in intervals), max(high for _, high in intervals)
    if len(ordered) == 1 and len(low) <= MAX_BOUND and len(high) <= MAX_BOUND:
        simple = _simple_end(ordered[0].get("events"), high)
        if simple is not None:
            return Bounds(kinds.pop(), low, high, exact=True, fix=simple[0])
    return Bounds(kinds.pop(), low[:MAX_BOUND], _ceiling(high))


def _simple_end(events: Any, high: bytes) -> tuple[str | None] | None:
    """``(fixed version or None,)`` when a range (whose ``introduced`` parsed, giving ``[low, high)``) is one
    ``introduced`` and at most one ``fixed`` or ``last_affected``: then ``evaluate`` finds exactly the
    versions in ``[low, high)`` affected, with that fix. Else None.

    ``high`` is TOP when the end did not parse or lies below ``introduced``: ``evaluate`` then skips it or
    applies it before ``introduced``, and reports no fix above an affected version either way."""
    if not isinstance(events, list) or not 1 <= len(events) <= 2:
        return None
    first = events[0]
    if not isinstance(first, Mapping) or len(first) != 1 or not isinstance(first.get("introduced"), str):
        return None
    if len(events) == 1:
        return (None,)
    last = events[1]
    if not isinstance(last, Mapping) or len(last) != 1:
        return None
    if isinstance(fixed := last.get("fixed"), str):
        return (fixed if high != TOP else None,)
    if isinstance(last.get("last_affected"), str):
        return (None,)
    return None


def _ceiling(high: bytes) -> bytes:
    """At most MAX_BOUND bytes and >= `high` (a looser upper bound): keeps index entries small."""
    if len(high) <= MAX_BOUND:
        return high
    head = high[:MAX_BOUND].rstrip(b"\xff")
    # everything that starts with `head` sorts below head with its last byte raised
    return head[:-1] + bytes([head[-1] + 1]) if head else TOP


def probe_key(scheme: VersionScheme, version: str) -> bytes:
    """The encoded key of an installed version, compared with the stored intervals."""
    if isinstance(scheme, KeyedScheme):
        return _cached_probe_key(scheme, version)
    return _probe_key(scheme, version)


def _probe_key(scheme: VersionScheme, version: str) -> bytes:
    try:
        return encode(scheme.key(version))
    except (InvalidVersion, Unencodable):
        return NO_KEY


# cached like the schemes' keys: rematching meets the same installed versions again
_cached_probe_key = functools.lru_cache(maxsize=CACHE_SIZE)(_probe_key)


def _key(scheme: VersionScheme, value: str) -> bytes | None:
    parse = scheme.parse if isinstance(scheme, KeyedScheme) else scheme.key
    try:
        return encode(parse(value))
    except InvalidVersion:
        return None  # evaluate skips events whose version does not parse


def range_interval(events: Any, scheme: VersionScheme) -> tuple[bytes, bytes] | None:
    """``(low, high)``: every version ``evaluate`` finds inside the range is in ``[low, high)``; None when the
    range covers nothing (no usable ``introduced``)."""
    introduced: list[bytes] = []  # b"" for "0"
    fixed: list[bytes] = []
    last_affected: list[bytes] = []
    limits: list[bytes] = []  # TOP for "*"
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, Mapping):
            continue
        for kind, value in event.items():
            if not isinstance(value, str):
                continue
            if kind == "introduced" and value == "0":
                introduced.append(b"")
            elif kind == "limit" and value == "*":
                limits.append(TOP)
            elif kind in ("introduced", "fixed", "last_affected", "limit"):
                key = _key(scheme, value)
                if key is not None:
                    {"introduced": introduced, "fixed": fixed, "last_affected": last_affected, "limit": limits}[
                        kind
                    ].append(key)
    if not introduced:
        return None
    return min(introduced), min(_upper(introduced, fixed, last_affected), max(limits, default=TOP))


def _upper(introduced: list[bytes], fixed: list[bytes], last_affected: list[bytes]) -> bytes:
    ends = fixed + last_affected
    if not ends or max(introduced) > max(ends):
        return TOP  # an introduced after every fix: open to the top
    top = max(ends)
    # evaluate orders introduced before fixed/last_affected at equal versions, so at the highest end
    # version a fixed event closes the range; only last_affected events alone leave that version inside
    if top in fixed:
        return top
    return top + b"\x00"  # the next byte string after `top`: version <= top
