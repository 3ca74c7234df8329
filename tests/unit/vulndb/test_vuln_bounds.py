"""The match pre-filter: encoded keys keep each scheme's order, and the interval stored per affected entry
never leaves out a version that evaluation finds affected."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from regscout.vulndb.bounds import (
    ALWAYS,
    ECOSYSTEM_ORDER,
    EMPTY_LOW,
    MAX_BOUND,
    NO_KEY,
    SEMVER_ORDER,
    Bounds,
    _ceiling,
    bounds_for,
    probe_key,
    range_interval,
)
from regscout.vulndb.ranges import Verdict, evaluate
from regscout.vulndb.sortkey import TOP, Unencodable, encode
from regscout.vulndb.versions import DPKG, GO, PEP440, SEMVER, KeyedScheme, scheme_for

from .test_versions import ALL, IDS, SEMVER_VERSIONS, pick

ECOSYSTEM_OF = {
    "dpkg": "Debian:12",
    "rpm": "Red Hat:enterprise_linux:9::appstream",
    "apk": "Alpine:v3.19",
    "pep440": "PyPI",
    "semver": "npm",
    "go": "Go",
    "maven": "Maven",
    "rubygems": "RubyGems",
    "composer": "Packagist",
    "nuget": "NuGet",
}


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


# --- the encoding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "versions"), ALL, ids=IDS)
def test_encoding_keeps_the_scheme_order(scheme: KeyedScheme, versions: st.SearchStrategy[str]) -> None:
    @settings(max_examples=300, deadline=None)
    @given(versions, versions)
    def check(a: str, b: str) -> None:
        ea, eb = encode(scheme.key(a)), encode(scheme.key(b))
        assert sign((ea > eb) - (ea < eb)) == scheme.compare(a, b)
        assert ea < TOP and ea + b"\x00" > ea

    check()


@given(st.recursive(st.integers() | st.text(), lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=12))
@settings(max_examples=300, deadline=None)
def test_encoding_keeps_tuple_int_and_text_order(value: Any) -> None:
    # same-shaped pairs only: Python does not order an int against a str
    other = _perturb(value)
    ea, eb = encode(value), encode(other)
    assert (ea < eb) == (value < other) and (ea == eb) == (value == other)


def _perturb(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value - 1
    if isinstance(value, str):
        return value[:-1] if value else "\x00"
    return (*value[:-1], _perturb(value[-1])) if value else ((),)


def test_pep440_tricky_pairs() -> None:
    ordered = ["1.0.dev0", "1.0a1.dev0", "1.0a1", "1.0a1.post1", "1.0b1", "1.0rc1", "1.0", "1.0+abc", "1.0+5",
               "1.0+5.a", "1.0.post0.dev0", "1.0.post0", "1.1", "1!0.1"]  # fmt: skip
    keys = [encode(Version(v)) for v in ordered]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert encode(PEP440.key("1.0")) == encode(PEP440.key("1.0.0"))


def test_unencodable_keys() -> None:
    with pytest.raises(Unencodable):
        encode((1 << 4096,))
    with pytest.raises(Unencodable):
        encode((1.5,))
    assert probe_key(DPKG, "not a version") == NO_KEY
    huge = "1." + "9" * 700
    assert probe_key(SEMVER, huge) == NO_KEY
    assert bounds_for("npm", [{"type": "SEMVER", "events": [{"introduced": huge}]}], []) == Bounds(ALWAYS)


# --- the interval never drops a match -----------------------------------------------------------------------


def _events(versions: st.SearchStrategy[str]) -> st.SearchStrategy[list[dict[str, str]]]:
    value = versions | pick("0", "*", "bogus version")
    kind = pick("introduced", "introduced", "fixed", "fixed", "last_affected", "limit")
    return st.lists(st.builds(lambda k, v: {k: v}, kind, value), min_size=1, max_size=6)


def _entry(versions: st.SearchStrategy[str], semver_ranges: bool) -> st.SearchStrategy[dict[str, Any]]:
    types = pick("ECOSYSTEM", "ECOSYSTEM", "GIT", *(("SEMVER",) if semver_ranges else ()))
    events = _events(versions | SEMVER_VERSIONS if semver_ranges else versions)
    one = st.builds(lambda t, e: {"type": t, "events": e}, types, events)
    return st.builds(
        lambda rs, listed: {"ranges": rs, "versions": listed},
        st.lists(one, max_size=3),
        st.lists(versions, max_size=2) | st.just([]),
    )


@pytest.mark.parametrize(("scheme", "versions"), ALL, ids=IDS)
def test_prefiltered_match_equals_unfiltered(scheme: KeyedScheme, versions: st.SearchStrategy[str]) -> None:
    ecosystem = ECOSYSTEM_OF[scheme.name]
    assert scheme_for(ecosystem) is scheme

    @settings(max_examples=200, deadline=None)
    @given(st.lists(_entry(versions, semver_ranges=True), min_size=1, max_size=4), versions)
    def check(entries: list[dict[str, Any]], installed: str) -> None:
        own = probe_key(scheme, installed)
        semver = probe_key(SEMVER, installed)
        for entry in entries:
            found = bounds_for(ecosystem, entry["ranges"], entry["versions"])
            kept = found.admits(own, semver)
            verdict = evaluate(entry, installed, scheme)
            # the pre-filter may keep entries that turn out unaffected, never drop an affected one
            assert kept or not verdict.affected, (entry, installed)
            if found.exact:
                _check_exact(found, kept, verdict, entry, installed)

    check()


def _check_exact(found: Bounds, kept: bool, verdict: Verdict, entry: dict[str, Any], installed: str) -> None:
    """An exact interval (template.py) decides alone: kept exactly when affected, with its one fix."""
    assert kept == verdict.affected, (entry, installed)
    if kept:
        assert verdict.fixed == ((found.fix,) if found.fix else ()), (entry, installed)
        assert verdict.state == ("fixed" if found.fix else "not-fixed"), (entry, installed)


def _simple_entry(
    versions: st.SearchStrategy[str], range_types: st.SearchStrategy[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """One introduced and at most one fixed or last_affected (the shape most OSV entries have), sometimes
    next to a GIT range, with versions that may not parse."""
    value = versions | pick("bogus version")
    no_end: list[dict[str, str]] = []
    end = st.builds(lambda k, v: [{k: v}], pick("fixed", "last_affected"), value) | st.just(no_end)
    events = st.builds(lambda start, rest: [{"introduced": start}, *rest], value | pick("0"), end)
    ordered = st.builds(lambda t, e: {"type": t, "events": e}, range_types, events)
    no_git: list[dict[str, Any]] = []
    git = st.just([{"type": "GIT", "events": [{"introduced": "abc"}]}]) | st.just(no_git)
    return st.builds(lambda one, extra: {"ranges": [one, *extra], "versions": []}, ordered, git)


LONG_FIX = "0.0.1-alpha.alpha.x-y+exp.sha.5114f85"


@pytest.mark.parametrize(("scheme", "versions"), ALL, ids=IDS)
def test_exact_intervals_decide_alone(scheme: KeyedScheme, versions: st.SearchStrategy[str]) -> None:
    ecosystem = ECOSYSTEM_OF[scheme.name]
    semver = scheme.name != SEMVER.name

    @settings(max_examples=300, deadline=None)
    @given(_simple_entry(versions | SEMVER_VERSIONS, pick("ECOSYSTEM", *(("SEMVER",) if semver else ()))), versions)
    # a fixed version whose Maven key is longer than MAX_BOUND: the interval is cut, so not exact
    @example(
        {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": LONG_FIX}]}], "versions": []}, "0"
    )
    def check(entry: dict[str, Any], installed: str) -> None:
        found = bounds_for(ecosystem, entry["ranges"], entry["versions"])
        if found.kind == ALWAYS:
            return  # a version that does not encode
        kept = found.admits(probe_key(scheme, installed), probe_key(SEMVER, installed))
        # exact unless `introduced` did not parse (an empty interval) or a bound was too long to keep: the
        # stored bounds are already cut to MAX_BOUND, so the length is the one of the interval before the cut
        ordered = entry["ranges"][0]
        interval = range_interval(ordered["events"], SEMVER if ordered["type"] == "SEMVER" and semver else scheme)
        too_long = interval is not None and max(len(interval[0]), len(interval[1])) > MAX_BOUND
        assert found.exact or found.low == EMPTY_LOW or too_long
        if found.exact:
            _check_exact(found, kept, evaluate(entry, installed, scheme), entry, installed)

    check()


def test_exact_intervals() -> None:
    def exact(*events: dict[str, str], ecosystem: str = "npm") -> tuple[bool, str | None]:
        found = bounds_for(ecosystem, [{"type": "ECOSYSTEM", "events": list(events)}], [])
        return found.exact, found.fix

    assert exact({"introduced": "0"}, {"fixed": "1.2.0"}) == (True, "1.2.0")
    assert exact({"introduced": "1.0.0"}, {"last_affected": "1.2.0"}) == (True, None)
    assert exact({"introduced": "1.0.0"}) == (True, None)
    assert exact({"introduced": "2.0.0"}, {"fixed": "1.0.0"}) == (True, None)  # the fix lies below: no fix
    assert exact({"introduced": "0"}, {"fixed": "bogus"}) == (True, None)  # evaluate skips the event
    assert exact({"introduced": "0"}, {"fixed": "1.0.0"}, {"introduced": "2.0.0"}) == (False, None)
    assert exact({"introduced": "0"}, {"limit": "1.0.0"}) == (False, None)
    assert exact({"fixed": "1.0.0"}) == (False, None)  # covers nothing
    assert not bounds_for("npm", [{"type": "SEMVER", "events": [{"introduced": "0"}]}] * 2, []).exact
    long = "1.0.0-" + ".".join(["a" * 20] * 15)
    assert not bounds_for("npm", [{"type": "SEMVER", "events": [{"introduced": long}]}], []).exact


@settings(max_examples=300, deadline=None)
@given(
    bounds=st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True),
    kinds=st.lists(pick("introduced", "fixed", "last_affected", "limit"), min_size=8, max_size=8),
    installed=st.integers(0, 41),
)
def test_interval_is_tight_on_a_single_range(bounds: list[int], kinds: list[str], installed: int) -> None:
    # one ECOSYSTEM range: the installed version at a fixed version (the usual up-to-date package) is left out
    events = [{kind: f"1.{n}.0"} for kind, n in zip(kinds, bounds, strict=False)]
    entry = {"ranges": [{"type": "ECOSYSTEM", "events": events}], "versions": []}
    found = bounds_for("npm", entry["ranges"], [])
    key = probe_key(SEMVER, f"1.{installed}.0")
    assert found.admits(key, key) or not evaluate(entry, f"1.{installed}.0", SEMVER).affected
    only_fixed_at = [n for kind, n in zip(kinds, bounds, strict=False) if kind == "fixed"]
    if only_fixed_at and installed >= max(bounds) and max(bounds) in only_fixed_at:
        assert not found.admits(key, key)


def test_kinds() -> None:
    dpkg = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2-1"}]}]
    found = bounds_for("Debian:12", dpkg, [])
    assert found.kind == ECOSYSTEM_ORDER and found.low == b"" and found.high == encode(DPKG.key("1.2-1"))
    assert found.admits(probe_key(DPKG, "1.1-9"), NO_KEY)
    assert not found.admits(probe_key(DPKG, "1.2-1"), NO_KEY)
    assert not found.admits(NO_KEY, NO_KEY)  # an installed version that does not parse is never in range
    go = [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]
    assert bounds_for("Go", go, []).kind == SEMVER_ORDER
    assert bounds_for("npm", go, []).kind == ECOSYSTEM_ORDER
    mixed = [*dpkg, {"type": "SEMVER", "events": [{"introduced": "0"}]}]
    assert bounds_for("Debian:12", mixed, []) == Bounds(ALWAYS)
    assert bounds_for("Debian:12", [], ["1.0-1"]) == Bounds(ALWAYS)  # versions[] lists are always evaluated
    assert bounds_for("NoSuchEcosystem", dpkg, []) == Bounds(ALWAYS)
    never = bounds_for("Debian:12", [{"type": "ECOSYSTEM", "events": [{"fixed": "1.0-1"}]}], [])
    assert not any(never.admits(probe_key(DPKG, v), NO_KEY) for v in ("0", "1.0-1", "9:9"))
    last_only = bounds_for(
        "PyPI", [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}]}], []
    )
    admitted = [
        v for v in ("0.9", "1.0", "1.4", "1.4.0", "1.4.post1") if last_only.admits(probe_key(PEP440, v), NO_KEY)
    ]
    assert admitted == ["1.0", "1.4", "1.4.0"]
    assert probe_key(GO, "go1.21.5") == probe_key(SEMVER, "1.21.5") != probe_key(SEMVER, "go1.21.5")


def test_semver_order_over_a_grid() -> None:
    grid = ["0", "0.9", "1.0", "1.0.0", "1.0.1-rc.1", "1.0.1", "1.10.0", "2.0.0-alpha", "2.0.0"]
    for a, b in itertools.product(grid, repeat=2):
        ea, eb = encode(SEMVER.key(a)), encode(SEMVER.key(b))
        assert sign((ea > eb) - (ea < eb)) == SEMVER.compare(a, b)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=400) | st.binary(max_size=300).map(lambda b: b + b"\xff" * 150))
def test_long_bounds_are_cut_to_looser_ones(high: bytes) -> None:
    cut = _ceiling(high)
    assert len(cut) <= MAX_BOUND and cut >= high


def test_a_long_version_still_matches() -> None:
    long = "1.0.0-" + ".".join(["a" * 20] * 15)
    found = bounds_for("npm", [{"type": "SEMVER", "events": [{"introduced": long}, {"fixed": long + "1"}]}], [])
    assert found.low is not None and found.high is not None
    assert len(found.low) <= MAX_BOUND and len(found.high) <= MAX_BOUND
    assert found.admits(probe_key(SEMVER, long), NO_KEY)
    assert not found.admits(probe_key(SEMVER, "0.9.0"), NO_KEY)
