"""Version schemes: order properties over realistic generated versions, independent oracles, tricky pairs."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
import semver as python_semver
from hypothesis import given, settings
from hypothesis import strategies as st
from univers.gem import GemVersion
from univers.maven import Version as UniversMaven
from univers.rpm import compare_rpm_versions
from univers.versions import DebianVersion, NugetVersion

from regscout.vulndb.versions import (
    APK,
    COMPOSER,
    DPKG,
    GO,
    MAVEN,
    NUGET,
    PEP440,
    RPM,
    RUBYGEMS,
    SCHEMES,
    SEMVER,
    InvalidVersion,
    KeyedScheme,
    scheme_for,
)


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


def repeated(part: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    return st.lists(part, max_size=max_size).map("".join)


def pick(*options: str) -> st.SearchStrategy[str]:
    return st.sampled_from(options)


# Small alphabets on purpose: they produce equal and near-equal pairs, where orders go wrong.
NUM = pick("0", "1", "2", "10", "9")

DPKG_VERSIONS = joined(
    pick("", "", "1:", "2:", "0:"),
    NUM,
    repeated(
        joined(pick(".", ".", "~", "+", "~rc", "+dfsg", "a", "b", "+git", "~~", "+really", ".p"), pick("", *"0129")), 4
    ),
    pick("", "", "-1", "-0", "-2", "-10", "-1+deb12u", "-1ubuntu", "-1~bpo12+", "-0.1", "-1build"),
    pick("", "1", "4", "10"),
)
RPM_VERSIONS = joined(
    pick("", "", "0:", "1:", "2:"),
    NUM,
    repeated(joined(pick(".", ".", "~", "^", "_", "+", "a", "p", "~rc", "^post", ".git", ".."), pick("", *"0129")), 4),
    pick("", "-1", "-2", "-10", "-1.el8", "-1.el8_2", "-1.el9_6.1", "-0.rc1", "-1~beta", "-1^20230101", "-1.fc39"),
)
APK_VERSIONS = joined(
    pick("0", "1", "2", "10", "01"),
    repeated(joined(pick("."), pick("0", "1", "2", "10", "01", "05", "00", "9")), 3),
    pick("", "", "a", "b", "z"),
    repeated(
        joined(
            pick("_"),
            pick("alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"),
            pick("", "0", "1", "2", "20230717"),
        ),
        2,
    ),
    pick("", "", "~abc", "~0f", "~abd"),
    pick("", "-r0", "-r1", "-r9", "-r10"),
)
PEP440_VERSIONS = joined(
    pick("", "", "1!", "0!"),
    NUM,
    repeated(joined(pick("."), NUM), 3),
    pick("", "", "a1", "b2", "rc1", "a", "rc", "c1", "alpha2"),
    pick("", "", ".post1", ".post0", "-1", ".post"),
    pick("", "", ".dev0", ".dev1", ".dev"),
    pick("", "", "+local", "+ubuntu.1", "+1", "+abc.2"),
)
PRERELEASE_IDS = pick("alpha", "beta", "rc", "0", "1", "2", "10", "x-y", "a1", "RC")
SEMVER_VERSIONS = joined(
    pick("", "", "v"),
    NUM,
    pick("."),
    NUM,
    pick("."),
    NUM,
    st.lists(PRERELEASE_IDS, max_size=3).map(lambda ids: "-" + ".".join(ids) if ids else ""),
    pick("", "", "+build", "+001", "+exp.sha.5114f85"),
)
GO_VERSIONS = joined(
    pick("v", "", "v"),
    NUM,
    pick("."),
    NUM,
    pick("."),
    NUM,
    pick(
        "",
        "",
        "-0.20191109021931-daa7c04131f5",
        "-0.20201109021931-aaa7c04131f5",
        "-20191109021931-daa7c04131f5",
        "-pre.0.20191109021931-daa7c04131f5",
        "-rc.1",
        "-beta.2",
    ),
    pick("", "", "+incompatible"),
)
MAVEN_TOKENS = pick(
    "1", "0", "2", "10", "alpha", "beta", "rc", "cr", "milestone", "snapshot", "ga", "final", "release", "sp", "foo",
    "a1", "b2", "m3", "RELEASE", "Final", "SNAPSHOT", "v20210516",
)  # fmt: skip
MAVEN_VERSIONS = joined(NUM, repeated(joined(pick(".", "-", ""), MAVEN_TOKENS), 4))
GEM_VERSIONS = joined(
    NUM, repeated(joined(pick(".", ".", "-"), pick("0", "1", "2", "10", "a", "b", "pre", "rc", "beta")), 4)
)
NUGET_VERSIONS = joined(
    NUM,
    repeated(joined(pick("."), NUM), 3),
    st.lists(pick("alpha", "Alpha", "beta", "BETA", "rc", "0", "1", "10", "beta01"), max_size=2).map(
        lambda ids: "-" + ".".join(ids) if ids else ""
    ),
)

# Composer: generated as (raw string, Composer-normalized string); the normalized one feeds the PHP oracle.
STABILITIES = {"alpha": "alpha", "a": "alpha", "beta": "beta", "b": "beta", "RC": "RC", "rc": "RC"}
STABILITIES |= {"patch": "patch", "pl": "patch", "p": "patch", "stable": ""}


@st.composite
def composer_versions(draw: st.DrawFn) -> tuple[str, str]:
    nums = draw(st.lists(NUM, min_size=1, max_size=4))
    stability = draw(pick("", "", *STABILITIES))
    stab_num = draw(pick("", "1", "2", "10")) if stability else ""
    dev = draw(pick("", "", "-dev"))
    raw = draw(pick("", "v")) + ".".join(nums) + (draw(pick("-", "", ".")) + stability + stab_num if stability else "")
    raw += dev
    normalized = ".".join(str(int(n)) for n in nums + ["0"] * (4 - len(nums)))
    if STABILITIES.get(stability):
        normalized += "-" + STABILITIES[stability] + stab_num
    return raw + draw(pick("", "+build.1")), normalized + ("-dev" if dev else "")


COMPOSER_VERSIONS = composer_versions().map(lambda pair: pair[0])

ALL = [
    (DPKG, DPKG_VERSIONS),
    (RPM, RPM_VERSIONS),
    (APK, APK_VERSIONS),
    (PEP440, PEP440_VERSIONS),
    (SEMVER, SEMVER_VERSIONS),
    (GO, GO_VERSIONS),
    (MAVEN, MAVEN_VERSIONS),
    (RUBYGEMS, GEM_VERSIONS),
    (COMPOSER, COMPOSER_VERSIONS),
    (NUGET, NUGET_VERSIONS),
]
IDS = [scheme.name for scheme, _ in ALL]


# --- order properties -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "versions"), ALL, ids=IDS)
def test_order_is_total_and_consistent(scheme: KeyedScheme, versions: st.SearchStrategy[str]) -> None:
    @settings(max_examples=300, deadline=None)
    @given(versions, versions, versions)
    def check(a: str, b: str, c: str) -> None:
        ka, kb, kc = scheme.key(a), scheme.key(b), scheme.key(c)
        assert scheme.compare(a, a) == 0
        ab, bc, ac = scheme.compare(a, b), scheme.compare(b, c), scheme.compare(a, c)
        assert scheme.compare(b, a) == -ab
        assert (ka == kb) == (ab == 0)
        if ka == kb:
            assert hash(ka) == hash(kb)
        if ab <= 0 and bc <= 0:
            assert ac <= 0
        if ab == 0 and bc == 0:
            assert ac == 0
        ordered = sorted([a, b, c], key=scheme.key)
        assert all(scheme.compare(x, y) <= 0 for x, y in itertools.pairwise(ordered))
        assert kc == scheme.key(c)  # cached and recomputed keys agree

    check()


@pytest.mark.parametrize(("scheme", "versions"), ALL, ids=IDS)
def test_generated_versions_are_valid(scheme: KeyedScheme, versions: st.SearchStrategy[str]) -> None:
    """Guards the property test: a generator whose strings were all invalid would test nothing."""

    @settings(max_examples=200, deadline=None)
    @given(versions)
    def check(v: str) -> None:
        scheme.key(v)

    check()


# --- independent oracles ----------------------------------------------------------------------------------


def univers_dpkg(a: str, b: str) -> int:
    va, vb = DebianVersion(a), DebianVersion(b)
    return (va > vb) - (va < vb)


def univers_gem(a: str, b: str) -> int:
    result: int = GemVersion(a).__cmp__(GemVersion(b))  # type: ignore[no-untyped-call]
    return result


def univers_nuget(a: str, b: str) -> int:
    va, vb = NugetVersion(a), NugetVersion(b)
    return (va > vb) - (va < vb)


def python_semver_cmp(a: str, b: str) -> int:
    result: int = python_semver.Version.parse(a.lstrip("v")).compare(b.lstrip("v"))
    return result


ORACLES: list[tuple[KeyedScheme, st.SearchStrategy[str], Callable[[str, str], int]]] = [
    (DPKG, DPKG_VERSIONS, univers_dpkg),
    (RPM, RPM_VERSIONS, compare_rpm_versions),
    (RUBYGEMS, GEM_VERSIONS, univers_gem),
    (NUGET, NUGET_VERSIONS, univers_nuget),
    (SEMVER, SEMVER_VERSIONS, python_semver_cmp),
]


@pytest.mark.parametrize(("scheme", "versions", "oracle"), ORACLES, ids=[s.name for s, _, _ in ORACLES])
def test_agrees_with_an_independent_implementation(
    scheme: KeyedScheme, versions: st.SearchStrategy[str], oracle: Callable[[str, str], int]
) -> None:
    @settings(max_examples=500, deadline=None)
    @given(versions, versions)
    def check(a: str, b: str) -> None:
        assert scheme.compare(a, b) == sign(oracle(a, b)), (a, b)

    check()


# apk: a direct token-by-token comparison following apk-tools' version.c, to check the flattened key against.
INITIAL, DIGIT, LETTER, SUFFIX, SUFFIX_NO, HASH, REVISION, END = range(8)
APK_SUFFIXES = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}


def apk_tokens(s: str) -> list[tuple[int, Any]]:
    m = re.match(r"[0-9]+", s)
    assert m is not None
    tokens: list[tuple[int, Any]] = [(INITIAL, m.group())]
    i, last = m.end(), INITIAL
    while i < len(s):
        c = s[i]
        if c.islower() and last <= DIGIT:
            tokens.append((LETTER, c))
            i, last = i + 1, LETTER
        elif c == "." and last <= DIGIT:
            m = re.compile(r"[0-9]+").match(s, i + 1)
            assert m is not None
            tokens.append((DIGIT, m.group()))
            i, last = m.end(), DIGIT
        elif c.isdigit() and last == SUFFIX:
            m = re.compile(r"[0-9]+").match(s, i)
            assert m is not None
            tokens.append((SUFFIX_NO, m.group()))
            i, last = m.end(), SUFFIX_NO
        elif c == "_" and last <= SUFFIX_NO:
            m = re.compile(r"[a-z]*").match(s, i + 1)
            assert m is not None
            tokens.append((SUFFIX, APK_SUFFIXES[m.group()]))
            i, last = m.end(), SUFFIX
        elif c == "~" and last < HASH:
            m = re.compile(r"[0-9a-f]+").match(s, i + 1)
            assert m is not None
            tokens.append((HASH, m.group()))
            i, last = m.end(), HASH
        elif s.startswith("-r", i) and last < REVISION:
            m = re.compile(r"[0-9]+").match(s, i + 2)
            assert m is not None
            tokens.append((REVISION, m.group()))
            i, last = m.end(), REVISION
        else:
            raise AssertionError(f"invalid apk version {s!r}")
    tokens.append((END, None))
    return tokens


def apk_reference(a: str, b: str) -> int:
    for (ta, va), (tb, vb) in zip(apk_tokens(a), apk_tokens(b), strict=False):
        if ta != tb or ta == END:
            break
        if (ta == DIGIT and (va[0] == "0" or vb[0] == "0")) or ta in (LETTER, HASH):
            r = int(va > vb) - int(va < vb)
        elif ta == SUFFIX:
            r = sign(va - vb)
        else:
            r = sign(int(va) - int(vb))
        if r:
            return r
    if ta == tb:
        return 0
    if ta == SUFFIX and va < 5:
        return -1
    if tb == SUFFIX and vb < 5:
        return 1
    return -1 if ta > tb else 1


# Maven: ComparableVersion's item-by-item comparison (with MNG-6964: a list against padding looks at every
# item), run on univers' parse.
MAVEN_QUALIFIERS = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"]


def maven_qualifier(q: str) -> str:
    q = {"release": "", "ga": "", "final": "", "cr": "rc"}.get(q, q)
    return str(MAVEN_QUALIFIERS.index(q)) if q in MAVEN_QUALIFIERS else f"{len(MAVEN_QUALIFIERS)}-{q}"


def maven_item_cmp(a: Any, b: Any) -> int:
    if a is None:
        return 0 if b is None else -maven_item_cmp(b, None)
    if isinstance(a, int):
        if b is None:
            return sign(a)
        return sign(a - b) if isinstance(b, int) else 1
    if isinstance(a, str):
        if b is None:
            b = ""
        if not isinstance(b, str):
            return -1
        qa, qb = maven_qualifier(a), maven_qualifier(b)
        return (qa > qb) - (qa < qb)
    if b is None:
        return next((r for r in (maven_item_cmp(x, None) for x in a) if r), 0)
    if isinstance(b, int):
        return -1
    if isinstance(b, str):
        return 1
    return next((r for r in itertools.starmap(maven_item_cmp, itertools.zip_longest(a, b)) if r), 0)


def maven_reference(a: str, b: str) -> int:
    parsed_a = UniversMaven(a.lower())._parsed  # type: ignore[no-untyped-call]
    parsed_b = UniversMaven(b.lower())._parsed  # type: ignore[no-untyped-call]
    return maven_item_cmp(parsed_a, parsed_b)


def php_version_compare(a: str, b: str) -> int:
    """PHP version_compare on Composer-normalized strings (which hold only alphanumerics, '.' and '-')."""
    forms = [("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2), ("RC", 3), ("rc", 3), ("#", 4), ("pl", 5)]
    forms.append(("p", 5))

    def special(form: str) -> int:
        return next((order for name, order in forms if form.startswith(name)), -1)

    pa, pb = re.findall(r"[0-9]+|[A-Za-z]+", a), re.findall(r"[0-9]+|[A-Za-z]+", b)
    for x, y in zip(pa, pb, strict=False):
        if x.isdigit() and y.isdigit():
            r = sign(int(x) - int(y))
        else:
            r = sign(special("#" if x.isdigit() else x) - special("#" if y.isdigit() else y))
        if r:
            return r
    if len(pa) > len(pb):
        rest = pa[len(pb)]
        return 1 if rest.isdigit() else sign(special(rest) - special("#"))
    if len(pb) > len(pa):
        rest = pb[len(pa)]
        return -1 if rest.isdigit() else sign(special("#") - special(rest))
    return 0


@settings(max_examples=500, deadline=None)
@given(APK_VERSIONS, APK_VERSIONS)
def test_apk_agrees_with_reference_comparison(a: str, b: str) -> None:
    assert APK.compare(a, b) == apk_reference(a, b), (a, b)


@settings(max_examples=1000, deadline=None)
@given(MAVEN_VERSIONS, MAVEN_VERSIONS)
def test_maven_agrees_with_reference_comparison(a: str, b: str) -> None:
    ours, theirs = MAVEN.compare(a, b), maven_reference(a, b)
    if ours == theirs:
        return

    # Maven's pairwise order is not transitive: "0.alpha" > "0-1" (a number beats a sub-list), yet
    # "0.alpha" < "0" < "0-1". A key has to pick a side; ours follows the comparisons through the common
    # prefix. Every disagreement must be such a cycle, with a prefix of either string as the witness.
    def through(p: str) -> bool:
        steps = {maven_reference(a, p), maven_reference(p, b)}
        return steps == {ours} or (ours != EQ and steps == {ours, EQ})

    prefixes = {s[:i] for s in (a, b) for i in range(1, len(s))}
    assert any(through(p) for p in prefixes), (a, b, ours)


def test_maven_intransitive_corner_follows_the_common_prefix() -> None:
    assert maven_reference("0.alpha", "0-1") == GT  # Maven itself...
    assert maven_reference("0.alpha", "0") == LT
    assert maven_reference("0", "0-1") == LT
    assert MAVEN.compare("0.alpha", "0-1") == LT  # ...and our total order


@settings(max_examples=500, deadline=None)
@given(composer_versions(), composer_versions())
def test_composer_agrees_with_php_version_compare(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert COMPOSER.compare(a[0], b[0]) == php_version_compare(a[1], b[1]), (a, b)


# --- tricky pairs -----------------------------------------------------------------------------------------

LT, EQ, GT = -1, 0, 1

PAIRS: dict[str, list[tuple[str, int, str]]] = {
    "dpkg": [
        ("1.0~rc1", LT, "1.0"),
        ("1:1.0", GT, "2.0"),
        ("1.0+deb12u4", LT, "1.0+deb12u10"),
        ("1.0+dfsg-1", GT, "1.0-1"),
        ("2.36-9+deb12u4", LT, "2.36-9+deb12u10"),
        ("1.0~~", LT, "1.0~"),
        ("1.0~", LT, "1.0"),
        ("1.0", LT, "1.0a"),
        ("1.0a", LT, "1.0+"),
        ("1.0", EQ, "1.0-0"),
        ("0:1.0", EQ, "1.0"),
        ("1.0", LT, "1.0.0"),
        ("1.01", EQ, "1.1"),
        ("3.0.13-1~deb12u1", LT, "3.0.13-1"),
        ("1.2.3-1ubuntu0.1", GT, "1.2.3-1"),
        ("1.2.3-1build1", LT, "1.2.3-1ubuntu1"),
    ],
    "rpm": [
        ("1.0-1.el8", LT, "1.0-1.el8_2"),
        ("1.0~rc1", LT, "1.0"),
        ("1.0^post", GT, "1.0"),
        ("1.0^post", LT, "1.0.1"),
        ("0:1.2-3", EQ, "1.2-3"),
        ("1:1.0-1", GT, "2.0-1"),
        ("1.0a", LT, "1.0.1"),
        ("1.0", EQ, "1_0"),
        ("1.010", EQ, "1.10"),
        ("2.0-10.el9", GT, "2.0-9.el9"),
        ("1.9.5p2-10.el9_6.1", GT, "1.9.5p2-10.el9_6"),
        ("1.0~rc1", LT, "1.0~rc2"),
        ("1.0-1", GT, "1.0"),
    ],
    "apk": [
        ("1.2.4_git20230717-r4", GT, "1.2.4-r4"),
        ("1.2.4_git20230717-r4", LT, "1.2.5-r0"),
        ("1.2.4_rc1", LT, "1.2.4"),
        ("1.2.4-r10", GT, "1.2.4-r9"),
        ("1.2.4a", GT, "1.2.4"),
        ("1.2.4a", LT, "1.2.4.1"),
        ("1.0_alpha", LT, "1.0_beta"),
        ("1.0_pre1", LT, "1.0_rc1"),
        ("1.0_cvs1", LT, "1.0_svn1"),
        ("1.0_svn1", LT, "1.0_git1"),
        ("1.0_git1", LT, "1.0_hg1"),
        ("1.0_hg1", LT, "1.0_p1"),
        ("1.0", LT, "1.0-r1"),
        ("1.0-r0", GT, "1.0"),
        ("1.2-r1", LT, "1.2~ab"),
        ("1.2~ab", LT, "1.2_p1"),
        ("1.05", LT, "1.5"),
        ("006", EQ, "6"),
        ("0.1.0_alpha_pre2", LT, "0.1.0_alpha"),
    ],
    "pep440": [
        ("1.0.dev1", LT, "1.0a1"),
        ("1.0a1", LT, "1.0"),
        ("1.0", LT, "1.0.post1"),
        ("1!0.1", GT, "2.0"),
        ("1.0", EQ, "1.0.0"),
        ("1.0+local", GT, "1.0"),
        ("1.0rc1", EQ, "1.0c1"),
        ("1.0a1.dev1", LT, "1.0a1"),
        ("1.0.post1.dev1", LT, "1.0.post1"),
        ("1.0-1", EQ, "1.0.post1"),
        ("1.0.dev1", LT, "1.0a1.dev1"),
    ],
    "semver": [
        ("1.0.0-alpha", LT, "1.0.0"),
        ("1.0.0+build.1", EQ, "1.0.0+build.2"),
        ("1.0.0-alpha", LT, "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", LT, "1.0.0-alpha.beta"),
        ("1.0.0-alpha.beta", LT, "1.0.0-beta"),
        ("1.0.0-beta.2", LT, "1.0.0-beta.11"),
        ("1.0.0-beta.11", LT, "1.0.0-rc.1"),
        ("1.0.0-rc.1", LT, "1.0.0"),
        ("v1.2.3", EQ, "1.2.3"),
        ("1.2", EQ, "1.2.0"),
        ("1.0.0-RC.1", LT, "1.0.0-rc.1"),
    ],
    "go": [
        ("v1.2.3+incompatible", EQ, "1.2.3"),
        ("v2.0.0+incompatible", GT, "v1.9.9"),
        ("v0.0.0-20191109021931-daa7c04131f5", LT, "v0.0.0-20201109021931-aaa7c04131f5"),
        ("v0.0.0-20191109021931-daa7c04131f5", LT, "v0.0.1"),
        ("v1.2.4-0.20191109021931-daa7c04131f5", GT, "v1.2.3"),
        ("v1.2.4-0.20191109021931-daa7c04131f5", LT, "v1.2.4"),
        ("v1.2.4-pre.0.20191109021931-daa7c04131f5", GT, "v1.2.4-pre"),
        ("go1.21.5", EQ, "1.21.5"),
        ("go1.22rc2", EQ, "1.22.0-rc.2"),
        ("go1.22rc2", LT, "1.22.0"),
        ("go1.22", EQ, "1.22.0"),
    ],
    "maven": [
        ("5.3.18.RELEASE", EQ, "5.3.18"),
        ("1.0-alpha", LT, "1.0-beta"),
        ("1.0-beta", LT, "1.0-milestone"),
        ("1.0-milestone", LT, "1.0-rc"),
        ("1.0-rc", EQ, "1.0-cr"),
        ("1.0-rc", LT, "1.0-SNAPSHOT"),
        ("1.0-SNAPSHOT", LT, "1.0"),
        ("1.0", LT, "1.0-sp1"),
        ("1.0.0", EQ, "1"),
        ("1.0.Final", EQ, "1.0"),
        ("1.0-ga", EQ, "1.0"),
        ("1.0a1", EQ, "1.0-alpha-1"),
        ("1.0-sp1", LT, "1.0-foo"),
        ("2.13.4.1", GT, "2.13.4"),
        ("1-0.alpha", LT, "1"),
        ("9.4.41.v20210516", GT, "9.4.41"),
        ("1-1", LT, "1.1"),
    ],
    "rubygems": [
        ("1.0.0", EQ, "1"),
        ("1.0.a", LT, "1.0"),
        ("1.0.a", LT, "1.0.b"),
        ("1.0.a10", GT, "1.0.a9"),
        ("1.0-rc1", LT, "1.0"),
        ("1.0.0.rc1", GT, "1.0.0.beta2"),
        ("3.10", GT, "3.2"),
        ("0.9", LT, "1.0.b1"),
        ("1.0.0.1", GT, "1.0"),
    ],
    "composer": [
        ("1.0.0-RC1", GT, "1.0.0-beta1"),
        ("1.0.0.1", GT, "1.0.0"),
        ("1.0.0-patch1", GT, "1.0.0"),
        ("v2.0", EQ, "2.0.0"),
        ("1.0.0-dev", LT, "1.0.0-alpha1"),
        ("1.0.0-beta2-dev", LT, "1.0.0-beta2"),
        ("1.0.0-beta2-dev", GT, "1.0.0-beta1"),
        ("1.0.0-b2", EQ, "1.0.0-beta2"),
        ("1.0.0-alpha", LT, "1.0.0-alpha1"),
        ("1.0.0-stable", EQ, "1.0.0"),
        ("1.0.0+build", EQ, "1.0.0"),
        ("1.0.0-pl1", EQ, "1.0.0-patch1"),
    ],
    "nuget": [
        ("1.0.0-Beta", EQ, "1.0.0-beta"),
        ("1.0.0.0", EQ, "1.0.0"),
        ("1.0.0+abc", EQ, "1.0.0"),
        ("1.0.0.1", GT, "1.0.0"),
        ("1.0.01", EQ, "1.0.1"),
        ("1.0.0-alpha", LT, "1.0.0"),
        ("1.0.0-beta.2", LT, "1.0.0-beta.10"),
        ("1.0", EQ, "1.0.0"),
        ("1.0.0-rc.1", LT, "1.0.0.1-alpha"),
    ],
}

TABLE = [(name, a, op, b) for name, rows in PAIRS.items() for a, op, b in rows]
BY_NAME = {scheme.name: scheme for scheme, _ in ALL}


def test_every_scheme_has_a_table_of_at_least_eight_pairs() -> None:
    assert set(PAIRS) == set(BY_NAME)
    assert all(len(rows) >= 8 for rows in PAIRS.values())


@pytest.mark.parametrize(("name", "a", "expected", "b"), TABLE)
def test_tricky_pairs(name: str, a: str, expected: int, b: str) -> None:
    scheme = BY_NAME[name]
    assert scheme.compare(a, b) == expected
    assert scheme.compare(b, a) == -expected


# A selection of apk-tools' own test/version.data (valid versions only).
APK_TOOLS_DATA = """
2.34 > 0.1.0_alpha
0.1.0_alpha2 > 0.1.0_alpha
1.1 > 1.1_alpha1
1.2.1 > 1.2
1.3_alpha2 < 1.3_alpha3
0.12.3 > 0.12
3.1_p16 < 3.1_p17
1.06-r6 < 006
2.59 < 20050718-r1
3.9.8-r5 > 2.01.01_alpha10
1.00_beta2 > 0.9.2
4.2.52_p2-r1 < 4.2.52_p4-r2
2.5.1-r8 < 2.5.1a-r1
1.3.5-r10 > 1.3.5-r8
1.2.07.8 < 1.2.12.04
0.20070118 < 0.20070207_rc1
1.0.1 > 1.0.0
3.0.0-r2 < 021109-r3
0.9.28-r2 < 0.9.28.1
087-r1 < 103
2.12r-r4 < 2.12r-r5
1.07-r1 < 1.07.5
1.3_pre1-r1 < 1.3.2
1.0_p10-r0 > 1.0_p9-r0
0.1.0_alpha_pre2 < 0.1.0_alpha
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0
6.0_pre1 < 6.0
6.1_p1 > 6.1
1.0.2 > 1.0.1
4.5_p1-r1 > 4.5_p1
1.7 < 1.7b
""".strip().splitlines()


@pytest.mark.parametrize("line", APK_TOOLS_DATA)
def test_apk_tools_version_data(line: str) -> None:
    a, op, b = line.split()
    assert APK.compare(a, b) == {"<": LT, "=": EQ, ">": GT}[op]


# --- invalid input ----------------------------------------------------------------------------------------

INVALID = {
    "dpkg": ["", "a:1.0", "1.0 1", "-1", "1.0\t1"],
    "rpm": ["", "x:1.0", "-1", "1 0"],
    "apk": ["", "1.0-1", "1.0_foo", "a1.0", "1.0A", "1.2a3", "1.0-r", "1.0~"],
    "pep440": ["", "1.0-foo-bar", "not a version"],
    "semver": ["", "1.2.3.4", "1.0.0-", "1.0.0-a..b", "x"],
    "go": ["", "v1.2.3.4", "latest"],
    "maven": ["", "   "],
    "rubygems": ["", "1.0 x", "=1.0"],
    "composer": ["", "dev-master", "1.x-dev", "1.0.0-foo"],
    "nuget": ["", "1.0.0.0.0", "1.0-", "abc"],
}


@pytest.mark.parametrize(("name", "version"), [(n, v) for n, vs in INVALID.items() for v in vs])
def test_invalid_versions_raise(name: str, version: str) -> None:
    scheme = BY_NAME[name]
    with pytest.raises(InvalidVersion):
        scheme.key(version)
    with pytest.raises(InvalidVersion):  # the failure is cached, and still raised
        scheme.compare(version, "1")


def test_non_string_is_invalid_not_a_crash() -> None:
    with pytest.raises(InvalidVersion):
        DPKG.key(["1.0"])  # type: ignore[arg-type]
    with pytest.raises(InvalidVersion):
        RPM.key(None)  # type: ignore[arg-type]


def test_keys_are_cached() -> None:
    calls: list[str] = []

    def parse(v: str) -> int:
        calls.append(v)
        if not v.isdigit():
            raise ValueError(v)
        return int(v)

    scheme = KeyedScheme("counting", parse)
    for _ in range(3):
        assert scheme.key("12") == 12
        with pytest.raises(InvalidVersion):
            scheme.key("x")
    assert calls == ["12", "x"]


# --- registry ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecosystem", "name"),
    [
        ("Debian:12", "dpkg"),
        ("Ubuntu:22.04:LTS", "dpkg"),
        ("Ubuntu:Pro:18.04:LTS", "dpkg"),
        ("Alpine:v3.19", "apk"),
        ("Wolfi", "apk"),
        ("Chainguard", "apk"),
        ("Rocky Linux:9", "rpm"),
        ("AlmaLinux:8", "rpm"),
        ("Red Hat:enterprise_linux:9::baseos", "rpm"),
        ("openSUSE:Leap 15.5", "rpm"),
        ("SUSE:Linux Enterprise Server 15 SP5", "rpm"),
        ("Azure Linux:3.0", "rpm"),
        ("Mariner:2.0", "rpm"),
        ("Photon OS:5.0", "rpm"),
        ("Oracle Linux:9", "rpm"),
        ("Amazon Linux:2023", "rpm"),
        ("PyPI", "pep440"),
        ("npm", "semver"),
        ("crates.io", "semver"),
        ("Go", "go"),
        ("Maven", "maven"),
        ("RubyGems", "rubygems"),
        ("Packagist", "composer"),
        ("NuGet", "nuget"),
    ],
)
def test_scheme_for(ecosystem: str, name: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    assert scheme.name == name


@pytest.mark.parametrize("ecosystem", ["Hex", "Pub", "GIT", "", "debian:12", "Unknown:1"])
def test_scheme_for_unknown(ecosystem: str) -> None:
    assert scheme_for(ecosystem) is None


def test_every_registered_scheme_is_tested() -> None:
    assert {s.name for s in SCHEMES.values()} == set(BY_NAME)


@pytest.mark.parametrize("scheme", [scheme for scheme, _ in ALL], ids=IDS)
def test_arbitrary_text_gives_a_key_or_invalid_version(scheme: KeyedScheme) -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=20) | st.text(alphabet="0123456789.-_~^+:abcrpvRELASE ", max_size=20))
    def check(text: str) -> None:
        try:
            k = scheme.key(text)
        except InvalidVersion:
            return
        assert scheme.compare(text, text) == 0
        assert k == scheme.key(text)

    check()
