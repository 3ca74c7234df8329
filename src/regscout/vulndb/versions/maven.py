"""Maven order (``ComparableVersion``): univers' Maven parser, our own key.

univers ``MavenVersion`` gets three things wrong that we work around:
* ``release`` is not an alias of the bare version (``5.3.18.RELEASE`` sorted above ``5.3.18``; Maven: equal);
* a sub-list is compared with padding through its first item only (Maven fixed this in MNG-6964, so
  ``1-0.alpha`` equals ``1`` in univers but sorts below it in Maven);
* objects hash their original string, so ``1.0.0 == 1`` but they land in different dict slots.
"""

from __future__ import annotations

from typing import Any

from univers.maven import Version as _UniversMaven

from .base import InvalidVersion, KeyedScheme
from .padding import padded_key, padding_sign

# Qualifier order; unknown qualifiers sort after all of these, alphabetically.
_QUALIFIERS = {"alpha": 0, "beta": 1, "milestone": 2, "rc": 3, "snapshot": 4, "": 5, "sp": 6}
# univers already maps ga/final -> "" and cr -> rc; Maven also has release -> "".
_ALIASES = {"release": "", "ga": "", "final": "", "cr": "rc"}
_BARE = _QUALIFIERS[""]
_UNKNOWN = len(_QUALIFIERS)
# Item kinds at one position: a qualifier < a sub-list (after '-') < a number.
_STR, _LIST, _INT = 0, 1, 2


def _item(item: object) -> tuple[object, int]:
    if isinstance(item, int):
        return (_INT, item), int(item > 0)
    if isinstance(item, str):
        q = _ALIASES.get(item, item)
        rank = _QUALIFIERS.get(q, _UNKNOWN)
        value = (rank, q if rank == _UNKNOWN else "")
        return (_STR, value), (rank > _BARE) - (rank < _BARE)
    if isinstance(item, (list, tuple)):
        sub = _list_key(item)
        return (_LIST, sub), padding_sign(sub)
    raise InvalidVersion(repr(item))


def _list_key(items: list[object] | tuple[object, ...]) -> tuple[Any, ...]:
    return padded_key(_item(i) for i in items)


def maven_key(version: str) -> tuple[Any, ...]:
    v = version.strip().lower()
    if not v:
        raise InvalidVersion(version)
    parsed = _UniversMaven(v)._parsed  # type: ignore[no-untyped-call]
    return _list_key(parsed)


MAVEN = KeyedScheme("maven", maven_key)
