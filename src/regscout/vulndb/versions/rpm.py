"""RPM ``[epoch:]version[-release]`` order (``rpmvercmp`` with ``~`` and ``^``), as a flat sortable key.

Our own code rather than univers ``RpmVersion``: the same order, faster to build, and a hashable tuple.
A missing epoch is 0. A missing release sorts below every release (rpm itself would skip the release
comparison, which is not a total order).
"""

from __future__ import annotations

import re

from .base import InvalidVersion, KeyedScheme

# rpmvercmp skips separators, then compares token by token; at the first difference the token kinds
# order as '~' < end of string < '^' < letters < digits. A kind code per token (and 1 for the end)
# turns that into plain tuple comparison.
_TILDE, _END, _CARET, _ALPHA, _NUM = 0, 1, 2, 3, 4
_TOKENS = re.compile(r"([A-Za-z]+)|([0-9]+)|(~)|(\^)")

RpmKey = tuple[int, tuple[str | int, ...], tuple[str | int, ...]]


def _vercmp_key(part: str) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for alpha, num, tilde, _caret in _TOKENS.findall(part):
        if alpha:
            out += (_ALPHA, alpha)
        elif num:
            out += (_NUM, int(num))
        else:
            out.append(_TILDE if tilde else _CARET)
    out.append(_END)
    return tuple(out)


def rpm_key(version: str) -> RpmKey:
    v = version.strip()
    if not v or " " in v:
        raise InvalidVersion(version)
    epoch = 0
    if ":" in v:
        head, v = v.split(":", 1)
        if not head.isdigit() or not head.isascii():
            raise InvalidVersion(version)
        epoch = int(head)
    ver, _, release = v.rpartition("-") if "-" in v else (v, "", "")
    if not ver:
        raise InvalidVersion(version)
    return (epoch, _vercmp_key(ver), _vercmp_key(release))


RPM = KeyedScheme("rpm", rpm_key)
