from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.selection import (
    Candidate,
    PullSettings,
    created_cutoff,
    decide,
    escape_pattern,
    months_before,
    parse_pattern,
    pattern_matches,
)

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)


def cand(
    ref: str,
    *,
    days_ago: float | None = 1,
    created: datetime | None = None,
    source: Literal["build", "push"] = "build",
    digest: str | None = None,
) -> Candidate:
    repository, _, tag = ref.rpartition(":")
    if created is None and days_ago is not None:
        created = NOW - timedelta(days=days_ago)
    return Candidate(repository, tag, digest, created, source if created is not None else None)


def run(refs: list[Candidate], now: datetime = NOW, **settings: Any) -> dict[str, tuple[bool, str]]:
    scanned = settings.pop("_scanned", {})
    decisions = decide(refs, PullSettings(**settings), now, previously_scanned=scanned)
    return {d.candidate.reference: (d.selected, d.rule) for d in decisions}


def selected(refs: list[Candidate], now: datetime = NOW, **settings: Any) -> set[str]:
    return {ref for ref, (ok, _) in run(refs, now, **settings).items() if ok}


IMAGES = [
    cand(r)
    for r in (
        "alpine:3.19",
        "alpine:4",
        "alpine:latest",
        "library/alpine:4",
        "nginx:4",
        "nginx:1.25-rc1",
        "team/app:1.0",
        "team/sub/app:1.1",
        "other/app:2.0-rc2",
        "a+b:1",
        "aab:1",
        "c.d:1",
        "cxd:1",
    )
]


# ---------------------------------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("alpine", {"alpine:3.19", "alpine:4", "alpine:latest"}),
        (":4", {"alpine:4", "library/alpine:4", "nginx:4"}),
        ("alpine:4", {"alpine:4"}),
        ("team/*", {"team/app:1.0", "team/sub/app:1.1"}),
        ("*/app", {"team/app:1.0", "team/sub/app:1.1", "other/app:2.0-rc2"}),
        ("team/*/app", {"team/sub/app:1.1"}),
        (":1.*", {"team/app:1.0", "team/sub/app:1.1", "nginx:1.25-rc1"}),
        (":*-rc*", {"nginx:1.25-rc1", "other/app:2.0-rc2"}),
        ("*app:2.*", {"other/app:2.0-rc2"}),
        ("*", {c.reference for c in IMAGES}),
        ("*:*", {c.reference for c in IMAGES}),
        ("a+b", {"a+b:1"}),
        ("c.d", {"c.d:1"}),
        ("*alpine", {"alpine:3.19", "alpine:4", "alpine:latest", "library/alpine:4"}),
        ("alp", set()),
        (":lat", set()),
        ("ALPINE", set()),
    ],
)
def test_pattern_forms(pattern: str, expected: set[str]) -> None:
    assert {c.reference for c in IMAGES if pattern_matches(pattern, c.repository, c.tag)} == expected


@pytest.mark.parametrize(
    ("pattern", "repository", "tag", "expected"),
    [
        ("registry:5000/app", "registry:5000/app", "1", True),
        ("registry:5000/app:1", "registry:5000/app", "1", True),
        ("registry:5000/app:1", "registry:5000/app", "2", False),
        (r"a\*b", "a*b", "x", True),
        (r"a\*b", "axxb", "x", False),
        (r"a\:b", "a:b", "x", True),
        ("a*", "a\nb", "x", True),
        (r"a\\b", "a\\b", "x", True),
    ],
)
def test_pattern_ports_and_escapes(pattern: str, repository: str, tag: str, expected: bool) -> None:
    assert pattern_matches(pattern, repository, tag) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (":", "empty tag"),
        ("alpine:", "empty tag"),
        ("alpine\\", "lone backslash"),
    ],
)
def test_invalid_patterns(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_pattern(text)


@given(st.text(min_size=1), st.text(min_size=1))
def test_escaped_reference_matches_itself_literally(repository: str, tag: str) -> None:
    pattern = parse_pattern(escape_pattern(repository, tag))
    assert pattern_matches(pattern, repository, tag)
    assert not pattern_matches(pattern, repository + "x", tag)
    assert not pattern_matches(pattern, repository, "x" + tag)
    assert pattern_matches(parse_pattern(escape_pattern(repository)), repository, "anything")


@given(st.text(), st.text(), st.text())
def test_arbitrary_text_never_raises_anything_but_value_error(text: str, repository: str, tag: str) -> None:
    try:
        pattern = parse_pattern(text)
    except ValueError:
        return
    assert isinstance(pattern_matches(pattern, repository, tag), bool)


# ---------------------------------------------------------------------------------------- criteria, never, always


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, {c.reference for c in IMAGES}),
        ({"include": ["alpine", "nginx:4"]}, {"alpine:3.19", "alpine:4", "alpine:latest", "nginx:4"}),
        ({"include": ["alpine"], "never": [":latest"]}, {"alpine:3.19", "alpine:4"}),
        ({"never": ["*"], "always": ["nginx"]}, {"nginx:4", "nginx:1.25-rc1"}),
        ({"include": ["alpine"], "always": ["c.d"]}, {"alpine:3.19", "alpine:4", "alpine:latest", "c.d:1"}),
        # always wins over never, even for the very same pattern
        (
            {"include": ["alpine"], "never": ["alpine:4"], "always": ["alpine:4"]},
            {"alpine:3.19", "alpine:4", "alpine:latest"},
        ),
        ({"include": ["nothing"]}, set()),
    ],
)
def test_criteria_never_always(settings: dict[str, Any], expected: set[str]) -> None:
    assert selected(IMAGES, **settings) == expected


def test_rules_name_the_deciding_pattern() -> None:
    result = run(
        IMAGES, include=["alpine", "team/*"], never=["*:latest"], always=["nginx:*"], condition="latest", latest=1
    )
    assert result["nginx:4"] == (True, "always: nginx:*")
    assert result["alpine:latest"] == (False, "never: *:latest")
    assert result["c.d:1"] == (False, "criteria: no pattern matches")
    assert run(IMAGES)["c.d:1"] == (True, "no criteria: all match")
    assert run(IMAGES, include=["x", "c.d"])["c.d:1"] == (True, "criteria: c.d")


def test_always_overrides_created_within_and_latest() -> None:
    old = [cand("app:1", days_ago=400), cand("app:2", days_ago=1)]
    assert selected(old, condition="created_within", always=["app:1"]) == {"app:1", "app:2"}
    assert selected(old, condition="latest", latest=1, always=["app:1"]) == {"app:1", "app:2"}
    assert selected([cand("app:1", days_ago=None)], condition="created_within", always=["app"]) == {"app:1"}


# ---------------------------------------------------------------------------------------------------- created within


@pytest.mark.parametrize(
    ("days_ago", "source", "expected"),
    [
        (59.99, "build", (True, "created within 60d (build time)")),
        (60, "build", (True, "created within 60d (build time)")),  # exactly on the edge: inclusive
        (60 + 1 / 86400, "push", (False, "older than 60d (push time 2024-05-01)")),
        (61, "build", (False, "older than 60d (build time 2024-04-30)")),
        (-1, "push", (True, "created within 60d (push time)")),  # clock skew: a future time is within
    ],
)
def test_created_within_days_edge(
    days_ago: float, source: Literal["build", "push"], expected: tuple[bool, str]
) -> None:
    assert run([cand("app:1", days_ago=days_ago, source=source)], condition="created_within") == {"app:1": expected}


def test_created_within_without_creation_time() -> None:
    result = run([cand("app:1", days_ago=None)], condition="created_within")
    assert result == {"app:1": (False, "no creation time: kept out by created_within")}


@pytest.mark.parametrize(
    ("now", "period", "cutoff"),
    [
        (datetime(2024, 1, 31, 8, tzinfo=UTC), "1m", datetime(2023, 12, 31, 8, tzinfo=UTC)),
        (datetime(2024, 3, 31, 8, tzinfo=UTC), "1m", datetime(2024, 2, 29, 8, tzinfo=UTC)),
        (datetime(2023, 3, 31, 8, tzinfo=UTC), "1m", datetime(2023, 2, 28, 8, tzinfo=UTC)),
        (datetime(2024, 5, 31, 8, tzinfo=UTC), "3m", datetime(2024, 2, 29, 8, tzinfo=UTC)),
        (datetime(2024, 1, 15, 8, tzinfo=UTC), "13m", datetime(2022, 12, 15, 8, tzinfo=UTC)),
        (datetime(2024, 2, 29, 8, tzinfo=UTC), "1y", datetime(2023, 2, 28, 8, tzinfo=UTC)),
        (datetime(2024, 2, 29, 8, tzinfo=UTC), "4y", datetime(2020, 2, 29, 8, tzinfo=UTC)),
        (datetime(2024, 3, 1, 8, tzinfo=UTC), "1d", datetime(2024, 2, 29, 8, tzinfo=UTC)),
        (datetime(2024, 3, 1, 8, tzinfo=UTC), "9999y", None),
    ],
)
def test_calendar_cutoff(now: datetime, period: str, cutoff: datetime | None) -> None:
    assert created_cutoff(now, period) == cutoff


def test_month_edge_selection_across_month_end() -> None:
    now = datetime(2024, 1, 31, 8, tzinfo=UTC)
    images = [
        cand("app:edge", created=datetime(2023, 12, 31, 8, tzinfo=UTC)),
        cand("app:before", created=datetime(2023, 12, 31, 7, 59, 59, tzinfo=UTC)),
    ]
    assert selected(images, now, condition="created_within", created_within="1m") == {"app:edge"}


def test_calendar_arithmetic_uses_the_settings_time_zone() -> None:
    # 2024-03-31 01:00 UTC is 2024-03-31 03:00 in Berlin (CEST); one month back on Berlin's clock is
    # 2024-02-29 03:00 CET = 02:00 UTC, not 01:00 UTC.
    now = datetime(2024, 3, 31, 1, tzinfo=UTC)
    assert created_cutoff(now, "1m", "Europe/Berlin") == datetime(2024, 2, 29, 2, tzinfo=UTC)
    assert months_before(datetime(2024, 3, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------- latest N


def test_latest_three_with_ties() -> None:
    images = [
        cand("app:a", days_ago=5),
        cand("app:b", days_ago=1),
        cand("app:c", days_ago=2),
        cand("app:d", days_ago=2),  # tie with c: the greater tag name ranks first
        cand("app:e", days_ago=9),
        cand("web:x", days_ago=30),
    ]
    result = run(images, condition="latest", latest=3)
    assert result == {
        "app:b": (True, "latest 3 of app (rank 1)"),
        "app:d": (True, "latest 3 of app (rank 2)"),
        "app:c": (True, "latest 3 of app (rank 3)"),
        "app:a": (False, "not in latest 3 of app (rank 4)"),
        "app:e": (False, "not in latest 3 of app (rank 5)"),
        "web:x": (True, "latest 3 of web (rank 1)"),  # per repository
    }


def test_latest_ranks_only_what_passed_criteria_and_never() -> None:
    images = [cand("app:latest", days_ago=0), cand("app:dev", days_ago=1), cand("app:1", days_ago=2)]
    assert selected(images, condition="latest", latest=1, never=[":latest"]) == {"app:dev"}
    assert selected(images, condition="latest", latest=1, include=["app:1"]) == {"app:1"}


def test_latest_by_creation_needs_a_creation_time() -> None:
    result = run([cand("app:1", days_ago=None), cand("app:2", days_ago=3)], condition="latest", latest=5)
    assert result == {
        "app:1": (False, "no creation time: kept out by latest"),
        "app:2": (True, "latest 5 of app (rank 1)"),
    }


@pytest.mark.parametrize(
    ("tags", "latest", "expected"),
    [
        (["1.2.0", "1.9.0", "1.10.0"], 2, {"1.10.0", "1.9.0"}),
        (["2.0.0-rc.1", "1.9.9", "2.0.0"], 1, {"2.0.0"}),
        (["1.0.0", "2.0.0-rc.2", "2.0.0-rc.10"], 1, {"2.0.0-rc.10"}),
        (["v1.2", "1.2.5", "1.3"], 2, {"1.3", "1.2.5"}),
        (["latest", "stable", "0.0.1"], 1, {"0.0.1"}),  # non-versions rank below every version
        (["latest", "stable", "0.0.1"], 2, {"0.0.1", "latest"}),  # then newest first
    ],
)
def test_latest_by_semver(tags: list[str], latest: int, expected: set[str]) -> None:
    # tags listed newest first, so creation order disagrees with version order
    images = [cand(f"app:{t}", days_ago=i) for i, t in enumerate(tags)]
    assert selected(images, condition="latest", latest=latest) != {f"app:{t}" for t in expected}
    got = selected(images, condition="latest", latest=latest, order_by="semver")
    assert got == {f"app:{t}" for t in expected}


def test_semver_rule_and_no_creation_time_needed() -> None:
    result = run(
        [cand("app:1.0", days_ago=None), cand("app:2.0", days_ago=None)], condition="latest", order_by="semver"
    )
    assert result == {
        "app:2.0": (True, "latest 1 of app by semver (rank 1)"),
        "app:1.0": (False, "not in latest 1 of app by semver (rank 2)"),
    }


# ---------------------------------------------------------------------------------------------------- rescan


@pytest.mark.parametrize(
    ("rescan", "scanned", "settings", "expected"),
    [
        (False, {"app:1": "sha256:a"}, {}, (False, "unchanged digest, rescan off")),
        (False, {"app:1": "sha256:old"}, {}, (True, "no criteria: all match")),
        (False, {}, {}, (True, "no criteria: all match")),
        (True, {"app:1": "sha256:a"}, {}, (True, "no criteria: all match")),
        (False, {"app:latest": "sha256:a"}, {}, (False, "digest already scanned as app:latest, rescan off")),
        # always says what to scan, not what to scan again
        (False, {"app:1": "sha256:a"}, {"always": ["app"]}, (False, "unchanged digest, rescan off")),
        (True, {"app:1": "sha256:a"}, {"always": ["app"]}, (True, "always: app")),
        # a rejection for another reason keeps that reason
        (False, {"app:1": "sha256:a"}, {"never": ["app"]}, (False, "never: app")),
    ],
)
def test_rescan(rescan: bool, scanned: dict[str, str], settings: dict[str, Any], expected: tuple[bool, str]) -> None:
    result = run([cand("app:1", digest="sha256:a")], rescan=rescan, _scanned=scanned, **settings)
    assert result == {"app:1": expected}


def test_without_digest_nothing_counts_as_scanned() -> None:
    assert run([cand("app:1")], _scanned={"app:1": "sha256:a"}) == {"app:1": (True, "no criteria: all match")}


def test_unchanged_candidates_keep_their_latest_rank() -> None:
    images = [cand("app:2", days_ago=1, digest="sha256:2"), cand("app:1", days_ago=2, digest="sha256:1")]
    result = run(images, condition="latest", latest=1, _scanned={"app:2": "sha256:2"})
    assert result == {
        "app:2": (False, "unchanged digest, rescan off"),
        "app:1": (False, "not in latest 1 of app (rank 2)"),
    }


# ---------------------------------------------------------------------------------------------------- decide misc


def test_manual_mode_still_decides_and_keeps_input_order() -> None:
    images = [cand("b:1"), cand("a:1"), cand("b:1")]
    decisions = decide(images, PullSettings(mode="manual", include=["b"]), NOW)
    assert [(d.candidate.reference, d.selected) for d in decisions] == [("b:1", True), ("a:1", False), ("b:1", True)]


def test_duplicate_candidates_rank_separately() -> None:
    images = [cand("app:1", days_ago=1)] * 2
    decisions = decide(images, PullSettings(condition="latest", latest=1), NOW)
    assert [d.rule for d in decisions] == ["latest 1 of app (rank 1)", "not in latest 1 of app (rank 2)"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: decide([], PullSettings(), datetime(2024, 1, 1)), "now must be timezone-aware"),
        (lambda: Candidate("a", "1", None, datetime(2024, 1, 1), "build"), "no time zone"),
        (lambda: Candidate("a", "1", None, NOW, None), "together"),
        (lambda: Candidate("a", "1", None, None, "push"), "together"),
    ],
)
def test_naive_times_and_half_given_creation_rejected(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


# ---------------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"latest": 0}, "greater than 0"),
        ({"latest": -3}, "greater than 0"),
        ({"scan_timeout_minutes": 0}, "greater than 0"),
        ({"max_concurrency": 0}, "greater than 0"),
        ({"requests_per_second": 0}, "greater than 0"),
        ({"requests_per_second": float("inf")}, "finite"),
        ({"created_within": "60"}, "number followed by d \\(days\\), m \\(months\\) or y \\(years\\)"),
        ({"created_within": "60w"}, "number followed by d"),
        ({"created_within": "-5d"}, "number followed by d"),
        ({"created_within": "0d"}, "longer than zero"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../etc/passwd"}, "unknown time zone"),
        ({"schedule": "* * *"}, "5-field cron expression \\(it has 3 fields\\)"),
        ({"schedule": "61 * * * *"}, "cron minute 61 is outside 0-59"),
        ({"schedule": "0 24 * * *"}, "cron hour 24 is outside 0-23"),
        ({"schedule": "0 0 0 * *"}, "cron day of month 0 is outside 1-31"),
        ({"schedule": "0 0 * foo *"}, "cron month 'foo' is not a number"),
        ({"schedule": "*/0 * * * *"}, "step '0' must be a positive number"),
        ({"schedule": "0 5-2 * * *"}, "runs backwards"),
        ({"schedule": "0h"}, "longer than zero"),
        ({"schedule": "6 hours"}, "neither an interval"),
        ({"mode": "automatic"}, "automatic mode needs a schedule"),
        ({"include": ["alpine:"]}, "invalid pattern 'alpine:'.*empty tag"),
        ({"never": [""]}, "invalid pattern '': pattern is empty"),
        ({"always": ["x\\"]}, "lone backslash"),
        ({"platforms": []}, "at least one platform"),
        ({"platforms": ["amd64"]}, "os/arch"),
        ({"condition": "oldest"}, "'none', 'created_within' or 'latest'"),
        ({"order_by": "name"}, "'created' or 'semver'"),
        ({"lastest": 3}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        PullSettings(**settings)


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "automatic", "schedule": "6h"},
        {"mode": "automatic", "schedule": "*/15 2-5,22 1 jan-mar mon-fri", "timezone": "Europe/Berlin"},
        {"mode": "automatic", "schedule": "@daily"},
        {"schedule": "0 0 * * 7"},
        {"created_within": "3m", "condition": "created_within"},
        {"created_within": "2y"},
        {"platforms": ["linux/amd64", "linux/arm64/v8"], "requests_per_second": 2.5},
        {"include": ["  alpine  "]},
    ],
)
def test_valid_settings(settings: dict[str, Any]) -> None:
    PullSettings(**settings)


def test_patterns_are_stripped_on_input() -> None:
    assert PullSettings(include=["  alpine  "]).include == ["alpine"]
