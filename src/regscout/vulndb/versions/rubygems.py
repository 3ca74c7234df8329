"""RubyGems order: univers ``GemVersion`` (a port of ``Gem::Version``) parses; we turn its canonical segments
into a sortable key, because comparing ``GemVersion`` objects re-splits both strings on every comparison."""

from __future__ import annotations

from typing import Any

from univers.gem import GemVersion, InvalidVersionError

from .base import InvalidVersion, KeyedScheme
from .padding import padded_key

# Gem::Version#<=> pads with 0; a string segment (a pre-release) sorts below any number.
_STR, _INT = 0, 1


def _item(segment: int | str) -> tuple[object, int]:
    if isinstance(segment, int):
        return (_INT, segment), (segment > 0) - (segment < 0)
    return (_STR, segment), -1


def rubygems_key(version: str) -> tuple[Any, ...]:
    if not version.strip():
        # Gem::Version reads "" as "0"; in vulnerability data it is a missing version.
        raise InvalidVersion(version)
    try:
        segments = GemVersion(version).canonical_segments  # type: ignore[no-untyped-call]
    except InvalidVersionError as exc:
        raise InvalidVersion(version) from exc
    return padded_key(_item(s) for s in segments)


RUBYGEMS = KeyedScheme("rubygems", rubygems_key)
