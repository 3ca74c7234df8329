"""Packagist (Composer) order: Composer's ``VersionParser::normalize`` followed by PHP's ``version_compare``.

Our own code: univers ``ComposerVersion`` is SemVer-coerced, so it drops a fourth number (``1.0.0.1 == 1.0.0``),
sorts ``RC`` before ``beta`` (ASCII case) and puts ``-patch1`` below the release.
"""

from __future__ import annotations

import re

from .base import InvalidVersion, KeyedScheme

_VERSION = re.compile(
    r"[vV]?(?P<nums>[0-9]+(?:\.[0-9]+){0,3})"
    r"(?:[._-]?(?P<stability>stable|beta|b|rc|alpha|a|patch|pl|p)(?P<stability_nums>(?:[.-]?[0-9]+)*))?"
    r"(?P<dev>[.-]?dev)?",
    re.IGNORECASE,
)
# PHP version_compare ranks: dev < alpha < beta < RC < (a number) < patch.
_DEV, _ALPHA, _BETA, _RC, _NUMBER, _PATCH = 0, 1, 2, 3, 4, 5
_STABILITY = {
    "a": _ALPHA, "alpha": _ALPHA, "b": _BETA, "beta": _BETA, "rc": _RC, "p": _PATCH, "pl": _PATCH, "patch": _PATCH,
}  # fmt: skip
# version_compare: when one string runs out, a further number wins and a further word loses unless it is
# "patch"; an end marker of (number rank, -1) sits exactly there.
_END = (_NUMBER, -1)
_DIGITS = re.compile(r"[0-9]+")


def composer_key(version: str) -> tuple[int, ...]:
    # Build metadata is stripped by Composer before anything else.
    m = _VERSION.fullmatch(version.strip().split("+", 1)[0])
    if m is None:
        raise InvalidVersion(version)
    nums = [int(n) for n in m["nums"].split(".")]
    nums += [0] * (4 - len(nums))
    out: list[int] = []
    for n in nums:
        out += (_NUMBER, n)
    stability = (m["stability"] or "").lower()
    if stability and stability != "stable":
        out += (_STABILITY[stability], 0)
        for n in _DIGITS.findall(m["stability_nums"]):
            out += (_NUMBER, int(n))
    if m["dev"]:
        out += (_DEV, 0)
    out += _END
    return tuple(out)


COMPOSER = KeyedScheme("composer", composer_key)
