"""evaluate(): scopes, actions, acceptances by image, repository, registry and everywhere, and their expiry."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.jsonable import plain
from regscout.policy import Acceptance, Evaluation, default_policies, evaluate
from regscout.policy.evaluate import compile_policies, covers_subject
from regscout.policy.patterns import compile_glob, name_pattern, registry_matches, registry_pattern
from regscout.selection import escape_pattern
from tests.unit.test_policy_support import DIGEST, LOG4J, NOW, REQUESTS, details, finding, policy, subject

OTHER_DIGEST = "sha256:" + "e" * 64


def outcome(s: Any, *policies: Any, acceptances: list[Acceptance] | None = None, now: datetime = NOW) -> Evaluation:
    return evaluate(list(policies), s, acceptances or [], now)


# ---------------------------------------------------------------------------------------------------- scope


@pytest.mark.parametrize(
    ("scope", "registry", "repository", "tag", "in_scope"),
    [
        ({}, "quay.io", "any/thing", "x", True),
        ({"registries": ["ghcr.io"]}, "ghcr.io", "team/app", "v1", True),
        ({"registries": ["GHCR.io"]}, "ghcr.io", "team/app", "v1", True),  # hosts compare case-insensitively
        ({"registries": ["ghcr.io"]}, "quay.io", "team/app", "v1", False),
        ({"registries": ["*.example.com"]}, "registry.example.com", "a", "b", True),
        ({"registries": ["*.example.com"]}, "example.com", "a", "b", False),
        ({"registries": ["localhost:5000"]}, "localhost:5000", "a", "b", True),
        ({"registries": ["localhost:5000"]}, "localhost:5001", "a", "b", False),
        ({"registries": ["docker.io"]}, "registry-1.docker.io", "library/nginx", "1", True),  # Docker Hub aliases
        ({"registries": ["index.docker.io"]}, "docker.io", "library/nginx", "1", True),
        ({"registries": ["quay.io", "ghcr.io"]}, "ghcr.io", "a", "b", True),  # OR inside a list
        ({"repositories": ["team/*"]}, "ghcr.io", "team/app", "v1", True),
        ({"repositories": ["team/*"]}, "ghcr.io", "other/app", "v1", False),
        ({"repositories": ["team/app:v*"]}, "ghcr.io", "team/app", "v1", True),
        ({"repositories": ["team/app:v*"]}, "ghcr.io", "team/app", "latest", False),
        ({"repositories": [":latest"]}, "ghcr.io", "whatever", "latest", True),
        ({"repositories": ["team/app"]}, "ghcr.io", "team/app2", "v1", False),  # whole-name match
        ({"tags": ["v*"]}, "ghcr.io", "team/app", "v2.0", True),
        ({"tags": ["v*"]}, "ghcr.io", "team/app", "", False),  # digest-only image
        ({"tags": ["release-\\*"]}, "ghcr.io", "a", "release-*", True),  # escaped star is literal
        ({"tags": ["release-\\*"]}, "ghcr.io", "a", "release-1", False),
        # AND across lists
        ({"registries": ["ghcr.io"], "repositories": ["team/*"], "tags": ["v*"]}, "ghcr.io", "team/app", "v1", True),
        ({"registries": ["ghcr.io"], "repositories": ["team/*"], "tags": ["v*"]}, "ghcr.io", "team/app", "dev", False),
        ({"registries": ["ghcr.io"], "repositories": ["team/*"]}, "quay.io", "team/app", "v1", False),
    ],
)
def test_scope(scope: dict[str, Any], registry: str, repository: str, tag: str, in_scope: bool) -> None:
    s = subject([finding()], registry=registry, repository=repository, tag=tag)
    result = outcome(s, policy(scope=scope, severity="LOW"))
    if in_scope:
        assert [v.outcome for v in result.verdicts] == ["warn"]
        assert result.skipped == ()
    else:
        assert result.verdicts == ()
        assert [(x.policy, x.reason) for x in result.skipped] == [("p", "out of scope")]


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=15),
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=15),
)
def test_an_escaped_repository_pattern_matches_that_repository_only(repository: str, other: str) -> None:
    """The pull rules' escape_pattern makes a scope pattern for exactly one repository, whatever its characters."""
    s = subject([finding()], repository=repository)
    result = outcome(s, policy(scope={"repositories": [escape_pattern(repository)]}, severity="LOW"))
    assert [v.outcome for v in result.verdicts] == ["warn"]
    if other != repository:
        s2 = subject([finding()], repository=other)
        assert outcome(s2, policy(scope={"repositories": [escape_pattern(repository)]}, severity="LOW")).verdicts == ()


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{1,5})?", fullmatch=True), st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True)
)
def test_registry_patterns_match_a_host_exactly_or_by_wildcard(host: str, prefix: str) -> None:
    assert registry_matches(registry_pattern(host), host)
    assert registry_matches(registry_pattern(host.upper()), host)
    assert registry_matches(registry_pattern("*" + host[-3:]), prefix + host)
    assert not registry_matches(registry_pattern(host), host + "x")


def test_name_patterns_keep_colons_literal() -> None:
    p = name_pattern("org.apache:*")
    assert p.tag is None and p.name is not None and p.name.fullmatch("org.apache:log4j")


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("usr/lib/**", "usr/lib/python3/x/METADATA", True),
        ("usr/lib/**", "usr/local/lib/x", False),
        ("**/METADATA", "usr/lib/python3/dist-packages/a.dist-info/METADATA", True),
        ("**/METADATA", "METADATA", True),
        ("/app/*.jar", "app/log4j.jar", True),  # a leading / is dropped: image paths are relative
        ("app/*.jar", "app/lib/log4j.jar", False),  # * stays within one segment
        ("app/**/*.jar", "app/lib/log4j.jar", True),
        ("app/?.jar", "app/a.jar", True),
        ("app/[ab].jar", "app/c.jar", False),
        ("app/[!ab].jar", "app/c.jar", True),
        ("{usr,opt}/bin/x", "opt/bin/x", True),
        ("var/lib/dpkg/status", "var/lib/dpkg/status", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
    ],
)
def test_path_globs(glob: str, path: str, matches: bool) -> None:
    assert (compile_glob(glob).fullmatch(path) is not None) is matches


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_path_globs_never_crash(text: str) -> None:
    with contextlib.suppress(ValueError):
        compile_glob(text)


# ---------------------------------------------------------------------------------------------------- actions


def test_actions_and_the_overall_outcome() -> None:
    s = subject([finding(severity="HIGH")])
    warn = policy("warns", action="warn", severity="HIGH")
    block = policy("blocks", action="block", severity="HIGH")
    quiet = policy("passes", action="block", severity="CRITICAL")
    result = outcome(s, warn, block, quiet)
    assert [(v.policy, v.outcome) for v in result.verdicts] == [
        ("warns", "warn"),
        ("blocks", "fail"),
        ("passes", "pass"),
    ]
    assert result.outcome == "fail"
    assert outcome(s, warn, quiet).outcome == "warn"
    assert outcome(s, quiet).outcome == "pass"
    assert outcome(s).outcome == "pass"
    assert result.verdict("blocks") is result.verdicts[1]
    assert result.verdict("missing") is None
    assert result.verdicts[0].criteria == ("severity",)


def test_disabled_policies_are_skipped() -> None:
    s = subject([finding(severity="CRITICAL")], image=details(user="", created=NOW - timedelta(days=400)))
    defaults = default_policies()
    result = outcome(s, *defaults)
    assert result.verdicts == ()
    assert [x.reason for x in result.skipped] == ["disabled"] * 3
    enabled = [p.model_copy(update={"enabled": True}) for p in defaults]
    assert [(v.policy, v.outcome) for v in outcome(s, *enabled).verdicts] == [
        ("critical fixable", "fail"),
        ("runs as root", "warn"),
        ("image older than 1 year", "warn"),
    ]


def test_policy_names_must_be_unique_and_now_aware() -> None:
    s = subject([finding()])
    with pytest.raises(ValueError, match="two policies are named 'p'"):
        outcome(s, policy(severity="LOW"), policy(cvss=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        outcome(s, policy(severity="LOW"), now=datetime(2026, 1, 1))


def test_compiled_and_plain_policies_give_the_same_verdicts() -> None:
    s = subject([finding(severity="HIGH"), finding("CVE-2", LOG4J, severity="CRITICAL")], image=details(user=""))
    policies = [policy("a", severity="CRITICAL"), policy("b", runs_as_root=True), policy("c", cvss=9.9)]
    assert evaluate(compile_policies(policies), s, [], NOW) == evaluate(policies, s, [], NOW)


# ---------------------------------------------------------------------------------------------------- acceptances


def accept(scope: str = "everywhere", vulnerability: str = "CVE-2024-0001", **fields: Any) -> Acceptance:
    return Acceptance.model_validate(
        {"vulnerability": vulnerability, "scope": scope, "reason": "not reachable", "by": "alice", **fields}
    )


BY_SCOPE = {
    "image": accept("image", digest=DIGEST),
    "image-with-repository": accept("image", digest=DIGEST, registry="ghcr.io", repository="team/app"),
    "repository": accept("repository", registry="ghcr.io", repository="team/app"),
    "registry": accept("registry", registry="ghcr.io"),
    "everywhere": accept(),
}


@pytest.mark.parametrize(
    ("which", "registry", "repository", "digest", "accepted"),
    [
        ("image", "ghcr.io", "team/app", DIGEST, True),
        ("image", "quay.io", "other/x", DIGEST, True),  # the digest is the image wherever it is
        ("image", "ghcr.io", "team/app", OTHER_DIGEST, False),
        ("image-with-repository", "ghcr.io", "team/app", DIGEST, True),
        ("image-with-repository", "quay.io", "team/app", DIGEST, False),
        ("repository", "ghcr.io", "team/app", OTHER_DIGEST, True),
        ("repository", "GHCR.IO", "team/app", OTHER_DIGEST, True),
        ("repository", "ghcr.io", "team/other", DIGEST, False),
        ("repository", "quay.io", "team/app", DIGEST, False),
        ("registry", "ghcr.io", "any/repo", OTHER_DIGEST, True),
        ("registry", "quay.io", "team/app", DIGEST, False),
        ("everywhere", "quay.io", "any/repo", OTHER_DIGEST, True),
    ],
)
def test_acceptance_scopes(which: str, registry: str, repository: str, digest: str, accepted: bool) -> None:
    s = subject(
        [finding("CVE-2024-0001", severity="CRITICAL")], registry=registry, repository=repository, digest=digest
    )
    acceptance = BY_SCOPE[which]
    assert covers_subject(acceptance, s) is accepted
    result = outcome(s, policy(severity="HIGH"), acceptances=[acceptance])
    if accepted:
        assert [(a.finding.id, a.acceptance) for a in result.accepted] == [("CVE-2024-0001", acceptance)]
        assert result.verdicts[0].outcome == "pass"  # excluded from evaluation
    else:
        assert result.accepted == ()
        assert result.verdicts[0].outcome == "warn"


def test_docker_hub_acceptance_covers_every_hub_name() -> None:
    acceptance = accept("registry", registry="index.docker.io")
    for host in ("docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        assert covers_subject(acceptance, subject(registry=host))


def test_acceptance_only_removes_what_it_names() -> None:
    s = subject(
        [finding("CVE-A", severity="HIGH"), finding("CVE-B", severity="HIGH", aliases=("GHSA-bbbb-bbbb-bbbb",))]
    )
    result = outcome(s, policy(severity="HIGH"), acceptances=[accept(vulnerability="ghsa-BBBB-bbbb-bbbb")])
    assert [a.finding.id for a in result.accepted] == ["CVE-B"]  # by alias, case-insensitively
    assert [x.finding.id for x in result.verdicts[0].violations if x.finding] == ["CVE-A"]


def test_acceptance_by_advisory_or_alias_of_the_acceptance() -> None:
    s = subject([finding("CVE-A", advisories=("DSA-5555-1",))])
    assert outcome(s, acceptances=[accept(vulnerability="DSA-5555-1")]).accepted
    assert outcome(s, acceptances=[accept(vulnerability="CVE-OTHER", aliases=["CVE-A"])]).accepted


def test_expired_acceptance_brings_the_finding_back() -> None:
    s = subject([finding("CVE-2024-0001", severity="CRITICAL")])
    acceptance = accept(expires=date(2026, 7, 1))
    p = policy(action="block", severity="CRITICAL")
    before = outcome(s, p, acceptances=[acceptance], now=datetime(2026, 6, 30, 23, 59, tzinfo=UTC))
    assert (before.outcome, len(before.accepted), before.expired) == ("pass", 1, ())
    after = outcome(s, p, acceptances=[acceptance], now=datetime(2026, 7, 1, tzinfo=UTC))
    assert after.outcome == "fail"
    assert after.accepted == ()
    assert [(e.finding.id, e.acceptance) for e in after.expired] == [("CVE-2024-0001", acceptance)]


def test_a_valid_acceptance_wins_over_an_expired_one_and_the_first_valid_one_is_reported() -> None:
    s = subject([finding("CVE-2024-0001")])
    old = accept(expires=date(2020, 1, 1), reason="old")
    first = accept("registry", registry="ghcr.io", reason="first")
    second = accept(reason="second")
    result = outcome(s, policy(severity="LOW"), acceptances=[old, first, second])
    assert [a.acceptance.reason for a in result.accepted] == ["first"]
    assert result.expired == ()


def test_acceptance_narrowed_by_purl_and_path() -> None:
    ssl = finding("CVE-X")
    py = finding("CVE-X", REQUESTS)
    s = subject([ssl, py])
    by_purl = accept(vulnerability="CVE-X", purls=["pkg:deb/debian/libssl3?distro=debian-12"])  # any version
    assert [a.finding.package for a in outcome(s, acceptances=[by_purl]).accepted] == ["libssl3"]
    wrong_qualifier = accept(vulnerability="CVE-X", purls=["pkg:deb/debian/libssl3?distro=debian-11"])
    assert outcome(s, acceptances=[wrong_qualifier]).accepted == ()
    wrong_version = accept(vulnerability="CVE-X", purls=["pkg:deb/debian/libssl3@9.9"])
    assert outcome(s, acceptances=[wrong_version]).accepted == ()
    by_path = accept(vulnerability="CVE-X", paths=["usr/lib/python3/**"])
    assert [a.finding.package for a in outcome(s, acceptances=[by_path]).accepted] == ["requests"]


def test_accepted_findings_do_not_touch_image_or_package_criteria() -> None:
    s = subject([finding("CVE-2024-0001")], image=details(user=""))
    result = outcome(
        s,
        policy("root", runs_as_root=True),
        policy("pkg", packages=[{"ecosystem": "deb", "name": "openssl"}]),
        acceptances=[accept()],
    )
    assert [v.outcome for v in result.verdicts] == ["warn", "warn"]
    assert len(result.accepted) == 1


def test_notes_reach_the_verdict() -> None:
    result = outcome(subject([finding("CVE-1")]), policy(severity="LOW", published_days=10))
    assert result.verdicts[0].notes == ("published_days: 1 finding could not be checked (no published date): CVE-1",)


def test_many_undecided_findings_are_counted_not_all_listed() -> None:
    s = subject([finding(f"CVE-{n}") for n in range(8)])
    (note,) = outcome(s, policy(published_days=1)).verdicts[0].notes
    assert (
        note == "published_days: 8 findings could not be checked (no published date): "
        "CVE-0, CVE-1, CVE-2, CVE-3, CVE-4 and 3 more"
    )


def test_an_evaluation_serialises_with_every_violation_text() -> None:
    """Finding violations write their texts on first read; regscout.jsonable and dataclasses.asdict see them."""
    s = subject([finding("CVE-2024-0001", severity="CRITICAL")], image=details(user=""))
    result = outcome(s, policy("crit", severity="CRITICAL"), policy("root", runs_as_root=True), acceptances=[])
    data = plain(result)
    crit, root = data["verdicts"]
    assert crit["violations"][0]["subject"] == "CVE-2024-0001 in libssl3 3.0.1-1"
    assert crit["violations"][0]["remedy"] == "upgrade libssl3 3.0.1-1 to 3.0.13-1 (source package openssl)"
    assert crit["action"] == "warn" and crit["outcome"] == "warn"
    assert root["violations"][0]["criterion"] == "runs_as_root"
    violation = result.verdicts[0].violations[0]
    assert dataclasses.asdict(violation)["detail"] == "CRITICAL, CVSS 7.5, fixed in 3.0.13-1"
    assert violation == outcome(s, policy("crit", severity="CRITICAL")).verdicts[0].violations[0]
