"""Sortable keys for orders that pad the shorter version (Maven, RubyGems).

Such orders compare item by item and, where one version has run out, compare the other's items against an
implicit padding value. That is not plain tuple order: ``1`` vs ``1.0.5`` hinges on the item after the ``0``.
The fix: tag every item with the sign of "the rest of the version, from here, against padding" (the first item
that differs from padding decides it), end the key with a 0 tag, and strip trailing padding-equal items.
Where the tags differ the rests sit on opposite sides of the padding, which orders them; where they agree the
items themselves decide, exactly as the pairwise comparison would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def padded_key(items: Iterable[tuple[object, int]]) -> tuple[Any, ...]:
    """``items`` are ``(encoded item, sign of the item against padding)``; encoded items of the same kind must
    compare the way the scheme compares the items."""
    tagged: list[tuple[object, int]] = list(items)
    while tagged and tagged[-1][1] == 0:
        tagged.pop()
    out: list[object] = [0] * (2 * len(tagged) + 1)
    rest = 0
    for i in range(len(tagged) - 1, -1, -1):
        item, sign = tagged[i]
        if sign:
            rest = sign
        out[2 * i] = rest
        out[2 * i + 1] = item
    return tuple(out)


def padding_sign(key: tuple[Any, ...]) -> int:
    """The sign of a whole padded key against padding (used when a key is itself an item of another)."""
    sign: int = key[0]
    return sign
