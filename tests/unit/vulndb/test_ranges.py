"""OSV affected[] evaluation on OSV-shaped records."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.vulndb.ranges import NOT_AFFECTED, UNKNOWN, Verdict, evaluate
from regscout.vulndb.versions import APK, DPKG, GO, MAVEN, NUGET, PEP440, RPM, SEMVER


def eco(*events: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "package": {"ecosystem": "x", "name": "p"},
        "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
    } | extra


def ranges(*rngs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"package": {"ecosystem": "x", "name": "p"}, "ranges": list(rngs)} | extra


def rng(kind: str, *events: dict[str, str]) -> dict[str, Any]:
    return {"type": kind, "events": list(events)}


def intro(v: str) -> dict[str, str]:
    return {"introduced": v}


def fixed(v: str) -> dict[str, str]:
    return {"fixed": v}


def last(v: str) -> dict[str, str]:
    return {"last_affected": v}


def limit(v: str) -> dict[str, str]:
    return {"limit": v}


# --- introduced / fixed -----------------------------------------------------------------------------------

DEBIAN_GLIBC = eco(intro("0"), fixed("2.36-9+deb12u4"))


@pytest.mark.parametrize(
    ("installed", "verdict"),
    [
        ("2.36-9+deb12u3", Verdict(True, ("2.36-9+deb12u4",), "fixed")),
        ("2.36-9", Verdict(True, ("2.36-9+deb12u4",), "fixed")),
        ("2.36-9+deb12u4", NOT_AFFECTED),  # fixed at the installed version
        ("2.36-9+deb12u10", NOT_AFFECTED),  # u10 > u4: a string comparison would get this wrong
        ("1:2.30-1", NOT_AFFECTED),  # epoch beats everything
    ],
)
def test_introduced_zero_fixed(installed: str, verdict: Verdict) -> None:
    assert evaluate(DEBIAN_GLIBC, installed, DPKG) == verdict


def test_introduced_zero_only_is_not_fixed() -> None:
    assert evaluate(eco(intro("0")), "1.2.3-1", DPKG) == Verdict(True, (), "not-fixed")


def test_introduced_above_installed_is_not_affected() -> None:
    assert evaluate(eco(intro("2.0"), fixed("2.5")), "1.9", PEP440) == NOT_AFFECTED
    assert evaluate(eco(intro("2.0"), fixed("2.5")), "2.0", PEP440).affected


def test_alpine_git_suffix_fix() -> None:
    record = eco(intro("0"), fixed("1.2.4_git20230717-r4"))
    assert evaluate(record, "1.2.4-r4", APK) == Verdict(True, ("1.2.4_git20230717-r4",), "fixed")
    assert evaluate(record, "1.2.4_git20230717-r4", APK) == NOT_AFFECTED
    assert evaluate(record, "1.2.5-r0", APK) == NOT_AFFECTED


def test_red_hat_explicit_epoch() -> None:
    record = eco(intro("0"), fixed("1:3.0.7-27.el9"))
    # An installed binary without an epoch has epoch 0, which is below 1.
    assert evaluate(record, "3.0.7-28.el9", RPM).affected
    assert evaluate(record, "1:3.0.7-27.el9_4", RPM) == NOT_AFFECTED


# --- several ranges, several intervals --------------------------------------------------------------------

GHSA_TWO_BRANCHES = ranges(
    rng("ECOSYSTEM", intro("0"), fixed("1.2.5")),
    rng("ECOSYSTEM", intro("2.0.0"), fixed("2.1.3")),
)


@pytest.mark.parametrize(
    ("installed", "verdict"),
    [
        ("1.2.0", Verdict(True, ("1.2.5",), "fixed")),  # only the fix of the range that makes it affected
        ("1.5.0", NOT_AFFECTED),
        ("2.0.0", Verdict(True, ("2.1.3",), "fixed")),
        ("2.1.3", NOT_AFFECTED),
        ("3.0.0", NOT_AFFECTED),
    ],
)
def test_several_ranges(installed: str, verdict: Verdict) -> None:
    assert evaluate(GHSA_TWO_BRANCHES, installed, PEP440) == verdict


def test_several_intervals_in_one_range() -> None:
    record = eco(intro("1.0"), fixed("1.5"), intro("2.0"), fixed("2.3"))
    assert evaluate(record, "1.2", PEP440) == Verdict(True, ("1.5", "2.3"), "fixed")
    assert evaluate(record, "1.7", PEP440) == NOT_AFFECTED
    assert evaluate(record, "2.1", PEP440) == Verdict(True, ("2.3",), "fixed")
    assert evaluate(record, "0.9", PEP440) == NOT_AFFECTED


def test_fixes_are_ordered_by_version_and_deduplicated() -> None:
    record = ranges(
        rng("ECOSYSTEM", intro("0"), fixed("1.10")),
        rng("ECOSYSTEM", intro("0"), fixed("1.9")),
        rng("ECOSYSTEM", intro("1.0"), fixed("1.9.0")),  # the same version as 1.9, spelled differently
    )
    assert evaluate(record, "1.1", PEP440) == Verdict(True, ("1.9", "1.10"), "fixed")


def test_unsorted_events() -> None:
    record = eco(fixed("2.3"), intro("2.0"), fixed("1.5"), intro("1.0"))
    assert evaluate(record, "1.2", PEP440) == Verdict(True, ("1.5", "2.3"), "fixed")
    assert evaluate(record, "1.7", PEP440) == NOT_AFFECTED
    assert evaluate(eco(fixed("1.5"), intro("0")), "1.0", PEP440) == Verdict(True, ("1.5",), "fixed")


def test_introduced_and_fixed_at_the_same_version_is_empty() -> None:
    assert evaluate(eco(fixed("1.0"), intro("1.0")), "1.0", PEP440) == NOT_AFFECTED


# --- last_affected and limit ------------------------------------------------------------------------------


def test_last_affected() -> None:
    record = eco(intro("0"), last("1.4.2"))
    assert evaluate(record, "1.4.2", SEMVER) == Verdict(True, (), "not-fixed", last_affected="1.4.2")
    assert evaluate(record, "1.0.0", SEMVER) == Verdict(True, (), "not-fixed", last_affected="1.4.2")
    assert evaluate(record, "1.4.3", SEMVER) == NOT_AFFECTED
    assert evaluate(record, "1.4.3-rc.1", SEMVER) == NOT_AFFECTED


def test_last_affected_unsorted_with_reintroduction() -> None:
    record = eco(last("2.4"), intro("2.0"), last("1.4"), intro("1.0"))
    assert evaluate(record, "1.2", PEP440) == Verdict(True, (), "not-fixed", last_affected="1.4")
    assert evaluate(record, "1.6", PEP440) == NOT_AFFECTED
    assert evaluate(record, "2.4", PEP440) == Verdict(True, (), "not-fixed", last_affected="2.4")


@pytest.mark.parametrize(
    ("events", "installed", "affected"),
    [
        ([intro("1.0"), limit("2.0")], "1.5", True),
        ([intro("1.0"), limit("2.0")], "2.0", False),  # the limit is exclusive
        ([intro("1.0"), limit("2.0")], "2.5", False),
        ([intro("1.0"), limit("*")], "2.5", True),
        ([intro("1.0"), limit("2.0"), limit("3.0")], "2.5", True),  # below some limit is enough
        ([intro("0"), fixed("1.5"), limit("3.0")], "1.0", True),
        ([intro("0"), fixed("1.5"), limit("3.0")], "1.5", False),
    ],
)
def test_limit(events: list[dict[str, str]], installed: str, affected: bool) -> None:
    assert evaluate(eco(*events), installed, PEP440).affected is affected


# --- versions[] -------------------------------------------------------------------------------------------


def test_versions_only() -> None:
    record = {"package": {"ecosystem": "PyPI", "name": "p"}, "versions": ["1.0.0", "1.0.1", "1.1"]}
    assert evaluate(record, "1.0.1", PEP440) == Verdict(True, (), "not-fixed")
    assert evaluate(record, "1.1.0", PEP440) == Verdict(True, (), "not-fixed")  # key-equal to "1.1"
    assert evaluate(record, "1.0.2", PEP440) == NOT_AFFECTED


def test_versions_key_equal_under_the_scheme() -> None:
    record = {"versions": ["0:2.4.1-1", "5.3.18.RELEASE"]}
    assert evaluate(record, "2.4.1-1", DPKG).affected
    assert evaluate(record, "5.3.18", MAVEN).affected
    assert not evaluate(record, "2.4.1-2", DPKG).affected


def test_versions_and_ranges_combine_with_or() -> None:
    # Ubuntu shape: a range plus the list of known affected versions.
    record = eco(intro("0"), fixed("1.2-3ubuntu0.2"), versions=["1.2-3", "1.2-3ubuntu0.1", "0.9-1"])
    assert evaluate(record, "1.2-3ubuntu0.1", DPKG) == Verdict(True, ("1.2-3ubuntu0.2",), "fixed")
    assert evaluate(record, "1.2-3ubuntu0.2", DPKG) == NOT_AFFECTED
    # Listed but outside every range: affected, with no fix from a range that makes it affected.
    listed_only = eco(intro("1.0-1"), fixed("1.2-3ubuntu0.2"), versions=["0.9-1"])
    assert evaluate(listed_only, "0.9-1", DPKG) == Verdict(True, (), "not-fixed")


# --- unparseable and malformed ----------------------------------------------------------------------------


def test_unparseable_installed_version() -> None:
    record = eco(intro("0"), fixed("1.2-r0"), versions=["weird version"])
    assert evaluate(record, "not a version", APK) == UNKNOWN == Verdict(False, (), "unknown")
    assert evaluate(record, "weird version", APK) == Verdict(True, (), "unknown")


def test_unparseable_event_versions_are_skipped() -> None:
    assert evaluate(eco(intro("0"), fixed("not-a-version")), "1.0", PEP440) == Verdict(True, (), "not-fixed")
    assert evaluate(eco(intro("bogus"), fixed("2.0")), "1.0", PEP440) == NOT_AFFECTED
    assert evaluate(eco(intro("0"), limit("bogus")), "1.0", PEP440).affected  # no usable limit: no cap
    assert evaluate(eco(intro("0"), fixed("2.0"), last("bogus")), "1.0", PEP440).state == "fixed"


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"ranges": None, "versions": None},
        {"ranges": "ECOSYSTEM", "versions": "1.0"},
        {"ranges": [None, 1, "x", {}]},
        {"ranges": [{"type": "ECOSYSTEM"}]},
        {"ranges": [{"type": "ECOSYSTEM", "events": None}]},
        {"ranges": [{"type": "ECOSYSTEM", "events": [None, 3, "introduced", [], {}]}]},
        {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": 0}, {"fixed": None}, {"fixed": ["1"]}]}]},
        {"ranges": [{"type": "ECOSYSTEM", "events": [{"bogus": "1.0"}, {"fixed": "2.0"}]}]},
        {"ranges": [{"type": None, "events": [{"introduced": "0"}]}]},
        {"versions": [None, 1, {"a": 1}, ["1.0"]]},
    ],
)
def test_malformed_records_never_raise(record: dict[str, Any]) -> None:
    assert evaluate(record, "1.0", PEP440) == NOT_AFFECTED


def test_event_with_two_keys_is_read_as_two_events() -> None:
    record = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "2.0"}]}]}
    assert evaluate(record, "1.0", PEP440) == Verdict(True, ("2.0",), "fixed")


def test_git_ranges_are_ignored() -> None:
    sha = "6879efc2c1596d11a6a6ad296f80063b558d5e0f"
    record = ranges(rng("GIT", intro("0"), fixed(sha)) | {"repo": "https://example.org/x.git"})
    assert evaluate(record, "1.0", PEP440) == NOT_AFFECTED
    assert evaluate(record, sha, PEP440) == UNKNOWN  # not a version at all: still no error
    mixed = ranges(rng("GIT", intro("0")), rng("ECOSYSTEM", intro("0"), fixed("1.1")))
    assert evaluate(mixed, "1.0", PEP440) == Verdict(True, ("1.1",), "fixed")


# --- SEMVER ranges ----------------------------------------------------------------------------------------


def test_semver_ranges_use_semver_whatever_the_ecosystem() -> None:
    record = ranges(rng("SEMVER", intro("0"), fixed("1.0.0")))
    # SemVer: a pre-release sorts below its release. dpkg would read "-beta" as a revision, above 1.0.0.
    assert DPKG.compare("1.0.0-beta", "1.0.0") > 0
    assert evaluate(record, "1.0.0-beta", DPKG) == Verdict(True, ("1.0.0",), "fixed")
    assert evaluate(record, "1.0.0", DPKG) == NOT_AFFECTED


def test_go_semver_range_with_v_prefix_pseudo_version_and_incompatible() -> None:
    record = ranges(rng("SEMVER", intro("0"), fixed("0.17.0")), rng("SEMVER", intro("2.0.0"), fixed("2.1.0")))
    assert evaluate(record, "v0.0.0-20220722155217-630584e8d5aa", GO) == Verdict(True, ("0.17.0",), "fixed")
    assert evaluate(record, "v0.17.0", GO) == NOT_AFFECTED
    assert evaluate(record, "v2.0.5+incompatible", GO) == Verdict(True, ("2.1.0",), "fixed")


def test_semver_range_with_an_installed_version_semver_cannot_read() -> None:
    record = ranges(rng("SEMVER", intro("0"), fixed("2.0.0")))
    assert evaluate(record, "1.0.post1", PEP440) == UNKNOWN


def test_fixes_from_semver_and_ecosystem_ranges_together() -> None:
    record = ranges(rng("ECOSYSTEM", intro("0"), fixed("1.1.0")), rng("SEMVER", intro("0"), fixed("1.2.0")))
    verdict = evaluate(record, "1.0.0", NUGET)
    assert verdict.affected
    assert set(verdict.fixed) == {"1.1.0", "1.2.0"}


# --- against a model: affected iff inside some [introduced, fixed) interval -------------------------------


@settings(max_examples=300, deadline=None)
@given(
    bounds=st.lists(st.integers(0, 60), min_size=2, max_size=10, unique=True).map(sorted),
    installed=st.integers(0, 61),
    seed=st.integers(),
    open_end=st.booleans(),
)
def test_matches_an_interval_model(bounds: list[int], installed: int, seed: int, open_end: bool) -> None:
    def version(n: int) -> str:
        return f"1.{n}.0"

    pairs = list(zip(bounds[::2], bounds[1::2], strict=False))
    events: list[dict[str, str]] = []
    for lo, hi in pairs:
        events += [intro(version(lo)), fixed(version(hi))]
    tail = bounds[-1] if len(bounds) % 2 and open_end else None
    if tail is not None:
        events.append(intro(version(tail)))
    random.Random(seed).shuffle(events)

    inside = [(lo, hi) for lo, hi in pairs if lo <= installed < hi]
    verdict = evaluate(eco(*events), version(installed), SEMVER)
    if tail is not None and installed >= tail:
        assert verdict == Verdict(True, (), "not-fixed")
    elif inside:
        expected = tuple(version(hi) for _, hi in pairs if hi > installed)
        assert verdict == Verdict(True, expected, "fixed")
    else:
        assert verdict == NOT_AFFECTED
