"""Alpine / Wolfi / Chainguard (apk) version order, following the rules of apk-tools ``src/version.c``.

Grammar: ``digits{.digits}[letter]{_suffix[digits]}[~hex]{-rN}``. Our own code because univers' Gentoo-based
``AlpineLinuxVersion`` rejects the ``_cvs``/``_svn``/``_git``/``_hg`` suffixes (musl ``1.2.4_git20230717-r4``).

apk compares token by token. While both versions have a token of the same kind, values decide. At the first
difference in kind, a pre-release suffix (alpha, beta, pre, rc) loses; otherwise the version whose next token
is *later* in the grammar (end of string being the latest) is the older one:
``1.2_rc1 < 1.2 < 1.2-r1 < 1.2~ab < 1.2_p1 < 1.2a < 1.2.1``.
"""

from __future__ import annotations

import re

from .base import InvalidVersion, KeyedScheme

# Rank of each token kind at a difference in kind; lower = older version.
_PRE, _END, _REVISION, _HASH, _SUFFIX_NO, _POST, _LETTER, _DIGIT = range(8)

_NO_SUFFIX = 5
_SUFFIXES = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}

_VERSION = re.compile(
    r"(?P<initial>[0-9]+)(?P<digits>(?:\.[0-9]+)*)(?P<letter>[a-z]?)"
    r"(?P<suffixes>(?:_[a-z]+[0-9]*)*)(?:~(?P<hash>[0-9a-fA-F]+))?(?:-r(?P<revision>[0-9]+))?"
)
_SUFFIX = re.compile(r"_([a-z]+)([0-9]*)")

ApkKey = tuple[object, ...]


def apk_key(version: str) -> ApkKey:
    m = _VERSION.fullmatch(version.strip())
    if m is None:
        raise InvalidVersion(version)
    out: list[object] = [int(m["initial"])]
    for digits in m["digits"].split(".")[1:]:
        # With a leading zero on either side apk compares the digits as strings (Gentoo's rule), so
        # "1.05" < "1.5"; such strings all sort below digit runs without one, hence the (0, str) / (1, int).
        out += (_DIGIT, (0, digits) if digits[0] == "0" else (1, int(digits)))
    if m["letter"]:
        out += (_LETTER, m["letter"])
    for name, number in _SUFFIX.findall(m["suffixes"]):
        value = _SUFFIXES.get(name)
        if value is None:
            raise InvalidVersion(version)
        out += (_PRE if value < _NO_SUFFIX else _POST, value)
        if number:
            out += (_SUFFIX_NO, int(number))
    if m["hash"] is not None:
        out += (_HASH, m["hash"])
    if m["revision"] is not None:
        out += (_REVISION, int(m["revision"]))
    out.append(_END)
    return tuple(out)


APK = KeyedScheme("apk", apk_key)
