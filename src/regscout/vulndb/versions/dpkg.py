"""Debian / Ubuntu version order (dpkg ``verrevcmp``), as a flat sortable key.

Our own code rather than univers ``DebianVersion``: the same order, about twice as fast to build.
"""

from __future__ import annotations

import re
import string

from .base import InvalidVersion, KeyedScheme

# dpkg orders the characters of a non-digit run as: '~' < end of run < letters < everything else.
# Translating each run so that code points sort the same way lets one str comparison do a whole run.
_END = "\x02"
_TABLE = str.maketrans(
    {"~": "\x01"} | {c: chr(ord(c) + 256) for c in string.punctuation if c != "~"},
)
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")

DpkgKey = tuple[int, tuple[str | int, ...], tuple[str | int, ...]]


def _part_key(part: str) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for text, digits in _RUNS.findall(part.translate(_TABLE)):
        # findall ends with an empty match; the first run is kept even when empty so that "" == "0".
        if not text and not digits and out:
            continue
        out.append(text + _END)
        out.append(int(digits) if digits else 0)
    # The next run of a longer version starts with '~' (older) or a letter or mark (newer) and never
    # with the bare end marker, so a final _END settles prefixes the way dpkg does.
    out.append(_END)
    return tuple(out)


def dpkg_key(version: str) -> DpkgKey:
    v = version.strip()
    if not v or not v.isascii() or not v.isprintable() or " " in v:
        raise InvalidVersion(version)
    epoch = 0
    if ":" in v:
        head, v = v.split(":", 1)
        if not head.isdigit():
            raise InvalidVersion(version)
        epoch = int(head)
    upstream, dash, revision = v.rpartition("-")
    if not dash:
        upstream, revision = v, ""
    if not upstream:
        raise InvalidVersion(version)
    return (epoch, _part_key(upstream), _part_key(revision))


DPKG = KeyedScheme("dpkg", dpkg_key)
