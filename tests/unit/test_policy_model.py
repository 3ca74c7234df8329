"""Policy and acceptance models: validation with clear errors, and JSON/YAML round-trips."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.policy import (
    Acceptance,
    Action,
    Criteria,
    Policy,
    PolicyError,
    Scope,
    default_policies,
    dump_acceptances,
    dump_policies,
    load_acceptances,
    load_policies,
)
from regscout.policy.defaults import CRITICAL_FIXABLE, IMAGE_OLDER_THAN_A_YEAR, RUNS_AS_ROOT


def error_of(model: type[pydantic.BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"severity": "SEVERE"}, "unknown severity 'SEVERE'; use one of CRITICAL, HIGH, MEDIUM, LOW, NONE"),
        ({"severity": "unknown"}, "UNKNOWN is no threshold"),
        ({"cvss": 11}, "a CVSS score is between 0 and 10, got 11"),
        ({"cvss": -0.1}, "between 0 and 10"),
        ({"published_days": -3}, "published_days counts days and cannot be negative, got -3"),
        ({"fix_days": -1}, "fix_days counts days and cannot be negative"),
        ({"image_age_days": -365}, "image_age_days counts days and cannot be negative"),
        ({"not_scanned_days": -7}, "not_scanned_days counts days"),
        ({"history": ["curl (.*"]}, "invalid history pattern 'curl (.*': not a valid regular expression"),
        ({"history": []}, "give at least one, or leave the criterion out"),
        ({"cve_ids": ["CVE 2024 1"]}, "an id is one word"),
        ({"exposed_ports": ["70000"]}, "ports run from 0 to 65535"),
        ({"exposed_ports": ["22/icmp"]}, "a port is N, N/tcp"),
        ({"exposed_ports": ["90-80"]}, "a range runs upwards"),
        ({"runs_as_root": False}, "runs_as_root takes true, or is left out"),
        ({"os_eol": False}, "os_eol takes true"),
        ({"packages": [{"ecosystem": "cargo", "name": "x"}]}, "unknown ecosystem 'cargo'; use one of"),
        (
            {"packages": [{"ecosystem": "PyPI", "name": "x", "versions": ["<=banana!"]}]},
            "is not a valid pep440 version",
        ),
        ({"packages": [{"ecosystem": "PyPI", "name": "x", "versions": [">=1,"]}]}, "comparisons joined by commas"),
        ({"packages": [{"ecosystem": "npm", "name": "x\\"}]}, "lone backslash"),
        ({"packages": []}, "give at least one rule"),
        ({"licenses": [""]}, "pattern is empty"),
        ({"labels_missing": [""]}, "invalid label name"),
        ({"severity": "HIGH", "typo": 1}, "Extra inputs are not permitted"),
    ],
)
def test_criteria_errors_say_what_is_wrong(criteria: dict[str, Any], message: str) -> None:
    assert message in error_of(Criteria, criteria)


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"registries": [""]}, "invalid registry pattern '': pattern is empty"),
        ({"repositories": ["team/app:"]}, "has an empty tag after ':'"),
        ({"tags": ["v1:2"]}, "holds ':' or '/'"),
        ({"tags": ["a/b"]}, "holds ':' or '/'"),
        ({"tags": ["   "]}, "pattern is empty"),
    ],
)
def test_scope_errors(scope: dict[str, Any], message: str) -> None:
    assert message in error_of(Scope, scope)


def test_policy_needs_a_name_and_a_criterion() -> None:
    assert "has no criteria" in error_of(Policy, {"name": "empty", "criteria": {}})
    assert "at least 1 character" in error_of(Policy, {"name": " ", "criteria": {"severity": "HIGH"}})
    assert "Input should be 'warn' or 'block'" in error_of(
        Policy, {"name": "x", "action": "deny", "criteria": {"severity": "HIGH"}}
    )


def test_yaml_numbers_for_ports_are_read_as_ports() -> None:
    (p,) = load_policies("- name: ports\n  criteria: {exposed_ports: [22, '8000-8999/tcp']}\n")
    assert p.criteria.exposed_ports == ["22", "8000-8999/tcp"]


def test_load_policies_lists_every_problem_with_the_policy_named() -> None:
    text = """
policies:
  - name: good
    criteria: {severity: HIGH}
  - name: bad severity
    criteria: {severity: SEVERE}
  - name: bad regex
    criteria: {history: ['(']}
  - name: good
    criteria: {runs_as_root: true}
"""
    with pytest.raises(PolicyError) as info:
        load_policies(text)
    message = str(info.value)
    assert "policy 1 ('bad severity'): criteria.severity: unknown severity 'SEVERE'" in message
    assert "policy 2 ('bad regex'): criteria.history: invalid history pattern '('" in message
    assert "two policies are named 'good'" in message


@pytest.mark.parametrize("text", ["{not yaml: [", "42", "'just a string'", "- 1\n- 2\n"])
def test_load_policies_rejects_what_is_no_policy_document(text: str) -> None:
    with pytest.raises(PolicyError):
        load_policies(text)


def test_load_accepts_a_single_policy_an_empty_document_and_json() -> None:
    assert load_policies("") == []
    (single,) = load_policies("name: x\ncriteria: {severity: low}\n")
    assert single.criteria.severity == "LOW"
    (from_json,) = load_policies(json.dumps([{"name": "j", "action": "block", "criteria": {"cvss": 9}}]))
    assert from_json.action is Action.BLOCK


def test_defaults_are_the_three_shipped_policies_disabled() -> None:
    defaults = default_policies()
    assert [p.name for p in defaults] == [CRITICAL_FIXABLE, RUNS_AS_ROOT, IMAGE_OLDER_THAN_A_YEAR]
    assert not any(p.enabled for p in defaults)
    assert defaults[0].criteria.given() == ["severity", "fixable"]
    assert defaults[1].criteria.runs_as_root is True
    assert defaults[2].criteria.image_age_days == 365
    assert load_policies(dump_policies(defaults)) == defaults


# ---------------------------------------------------------------------------------------------------- round-trips

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and s
)
simple_patterns = st.from_regex(r"[a-z0-9.*-]{1,12}", fullmatch=True).filter(lambda s: s.strip("*") != "" or s == "*")
criteria_strategy = st.fixed_dictionaries(
    {},
    optional={
        "severity": st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE"]),
        "cvss": st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1)),
        "fixable": st.booleans(),
        "published_days": st.integers(0, 5000),
        "fix_days": st.integers(0, 5000),
        "cve_ids": st.lists(st.from_regex(r"CVE-20[0-9]{2}-[0-9]{4,6}", fullmatch=True), min_size=1, max_size=3),
        "packages": st.lists(
            st.fixed_dictionaries(
                {"ecosystem": st.just("PyPI"), "name": simple_patterns},
                optional={
                    "versions": st.lists(st.sampled_from(["<2.0", ">=1.0, <1.5", "==3.1.4"]), min_size=1, max_size=2)
                },
            ),
            min_size=1,
            max_size=2,
        ),
        "licenses": st.lists(simple_patterns, min_size=1, max_size=3),
        "image_age_days": st.integers(0, 3650),
        "not_scanned_days": st.integers(0, 365),
        "os_eol": st.just(True),
        "runs_as_root": st.just(True),
        "history": st.lists(st.sampled_from([r"curl .* \| sh", "ADD http", "^RUN wget"]), min_size=1, max_size=3),
        "labels_missing": st.lists(st.sampled_from(["a", "org.opencontainers.image.source"]), min_size=1, max_size=2),
        "exposed_ports": st.lists(st.sampled_from(["22", "23/tcp", "8000-8999", "53/udp"]), min_size=1, max_size=3),
    },
).filter(bool)
policy_strategy = st.builds(
    lambda name, action, enabled, scope, criteria: Policy.model_validate(
        {"name": name, "action": action, "enabled": enabled, "scope": scope, "criteria": criteria}
    ),
    names,
    st.sampled_from(["warn", "block"]),
    st.booleans(),
    st.fixed_dictionaries(
        {},
        optional={
            "registries": st.lists(
                st.sampled_from(["ghcr.io", "*.example.com", "localhost:5000", "docker.io"]), max_size=2
            ),
            "repositories": st.lists(st.sampled_from(["team/*", "nginx:1.*", ":latest", "a\\*b"]), max_size=2),
            "tags": st.lists(st.sampled_from(["v*", "latest", "1.*"]), max_size=2),
        },
    ),
    criteria_strategy,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(policy_strategy, max_size=4, unique_by=lambda p: p.name), st.sampled_from(["yaml", "json"]))
def test_policies_round_trip(policies: list[Policy], fmt: str) -> None:
    text = dump_policies(policies, fmt)  # type: ignore[arg-type]
    assert load_policies(text) == policies
    if fmt == "json":
        assert json.loads(text)["policies"] == [p.model_dump(mode="json", exclude_none=True) for p in policies]


acceptance_strategy = st.one_of(
    st.builds(
        lambda v, reason, expires: Acceptance(
            vulnerability=v, scope="everywhere", reason=reason, by="alice", expires=expires
        ),
        st.from_regex(r"(CVE-20[0-9]{2}-[0-9]{4}|GHSA-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})", fullmatch=True),
        names,
        st.one_of(st.none(), st.dates(date(2000, 1, 1), date(2100, 1, 1))),
    ),
    st.builds(
        lambda digest, paths: Acceptance(
            vulnerability="CVE-2024-1",
            scope="image",
            digest=digest,
            paths=paths,
            purls=["pkg:deb/debian/libssl3?distro=debian-12"],
            reason="r",
            by="b",
        ),
        st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True),
        st.lists(st.sampled_from(["usr/lib/**", "app/*.jar", "{a,b}/x"]), max_size=2),
    ),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(acceptance_strategy, max_size=4), st.sampled_from(["yaml", "json"]))
def test_acceptances_round_trip(acceptances: list[Acceptance], fmt: str) -> None:
    assert load_acceptances(dump_acceptances(acceptances, fmt)) == acceptances  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- acceptances


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scope": "image"}, "an acceptance for an image needs digest"),
        ({"scope": "repository", "registry": "ghcr.io"}, "an acceptance for a repository needs repository"),
        ({"scope": "registry"}, "an acceptance for a registry needs registry"),
        ({"scope": "everywhere", "registry": "ghcr.io"}, "an acceptance for everywhere takes no registry"),
        (
            {"scope": "registry", "registry": "ghcr.io", "digest": "sha256:" + "a" * 64},
            "for a registry takes no digest",
        ),
        ({"scope": "image", "digest": "abc"}, "is not an image digest"),
        ({"scope": "image", "digest": "sha256:ab"}, "is not an image digest like sha256:<64 hex digits>"),
        ({"scope": "image", "digest": "sha256:" + "A" * 64}, "is not an image digest"),
        ({"scope": "registry", "registry": "ghcr.io/team"}, "is not a registry host"),
        ({"scope": "everywhere", "purls": ["npm/x"]}, "is not a package URL"),
        ({"scope": "everywhere", "paths": ["usr/[lib"]}, "has an unclosed '['"),
        ({"scope": "everywhere", "expires": "next week"}, "is not a date (YYYY-MM-DD)"),
        ({"scope": "everywhere", "expires": "2026-07-01T10:00:00"}, "has no time zone"),
        ({"scope": "everywhere", "reason": ""}, "reason"),
        ({"scope": "galaxy"}, "Input should be 'image', 'repository', 'registry' or 'everywhere'"),
    ],
)
def test_acceptance_errors(data: dict[str, Any], message: str) -> None:
    base = {"vulnerability": "CVE-2024-1", "reason": "not reachable", "by": "alice"}
    assert message in error_of(Acceptance, {**base, **data})


def test_acceptance_expiry_dates_and_registry_names() -> None:
    a = Acceptance(
        vulnerability="cve-2024-1",
        aliases=["GHSA-x"],
        scope="registry",
        registry="Docker.IO",
        reason="r",
        by="b",
        expires=date(2026, 7, 1),
    )
    assert a.expires == datetime(2026, 7, 1, tzinfo=UTC)
    assert a.registry == "docker.io"
    assert a.ids() == ("CVE-2024-1", "GHSA-X")
    assert not a.expired(datetime(2026, 6, 30, 23, 59, tzinfo=UTC))
    assert a.expired(datetime(2026, 7, 1, tzinfo=UTC))
    assert a.expired(datetime(2026, 7, 1, tzinfo=UTC) + timedelta(seconds=1))
    hub = Acceptance(vulnerability="CVE-1", scope="registry", registry="registry-1.docker.io", reason="r", by="b")
    assert hub.registry == "docker.io"


def test_yaml_dates_load_as_acceptance_expiries() -> None:
    text = "- {vulnerability: CVE-1, scope: everywhere, reason: r, by: b, expires: 2026-07-01}\n"
    (a,) = load_acceptances(text)
    assert a.expires == datetime(2026, 7, 1, tzinfo=UTC)
    assert yaml.safe_load(dump_acceptances([a]))["acceptances"][0]["expires"] == "2026-07-01T00:00:00Z"
    with pytest.raises(PolicyError, match="acceptance 0: scope"):
        load_acceptances("- {vulnerability: CVE-1, reason: r, by: b}\n")
