"""Each criterion on matching and non-matching subjects, OR inside a criterion's list, AND across criteria, and the
violation and remedy texts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.model import OSRelease, Package
from regscout.policy import Verdict, evaluate
from regscout.policy.criteria import finding_remedy
from regscout.policy.eol import parse_table
from regscout.policy.evaluate import compile_policy
from regscout.policy.subject import SubjectIndex, licence_tokens
from regscout.vulndb.severity import RANK
from tests.unit.test_policy_support import (
    LOG4J,
    NOW,
    OPENSSL,
    READLINE,
    REQUESTS,
    details,
    finding,
    policy,
    subject,
)


def verdict(s: Any, **criteria: Any) -> Verdict:
    result = evaluate([policy(**criteria)], s, [], NOW)
    assert len(result.verdicts) == 1
    return result.verdicts[0]


def ids(v: Verdict) -> list[str]:
    return [x.finding.id for x in v.violations if x.finding is not None]


# ---------------------------------------------------------------------------------------------------- severity

SEVERITY_FINDINGS = [
    finding("CVE-C", severity="CRITICAL"),
    finding("CVE-H", severity="HIGH"),
    finding("CVE-M", severity="MEDIUM"),
    finding("CVE-L", severity="LOW"),
    finding("CVE-N", severity="NONE"),
    finding("CVE-U", severity="UNKNOWN"),
]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        ("CRITICAL", ["CVE-C"]),
        ("HIGH", ["CVE-C", "CVE-H"]),
        ("medium", ["CVE-C", "CVE-H", "CVE-M"]),
        ("LOW", ["CVE-C", "CVE-H", "CVE-M", "CVE-L"]),
        ("NONE", ["CVE-C", "CVE-H", "CVE-M", "CVE-L", "CVE-N"]),  # UNKNOWN meets no threshold
    ],
)
def test_severity_at_least(threshold: str, expected: list[str]) -> None:
    v = verdict(subject(SEVERITY_FINDINGS), severity=threshold)
    assert v.outcome == "warn"
    assert ids(v) == expected


def test_severity_with_no_finding_at_that_level_passes() -> None:
    v = verdict(subject([finding("CVE-L", severity="LOW"), finding("CVE-U", severity="UNKNOWN")]), severity="HIGH")
    assert (v.outcome, v.violations, v.notes) == ("pass", (), ())


# ---------------------------------------------------------------------------------------------------- cvss


@pytest.mark.parametrize(
    ("minimum", "expected"),
    [
        (7.0, ["CVE-70", "CVE-98"]),
        (6.9, ["CVE-69", "CVE-70", "CVE-98"]),
        (9.9, []),
        (0, ["CVE-69", "CVE-70", "CVE-98"]),
    ],
)
def test_cvss_at_least(minimum: float, expected: list[str]) -> None:
    s = subject([finding("CVE-69", score=6.9), finding("CVE-70", score=7.0), finding("CVE-98", score=9.8)])
    v = verdict(s, cvss=minimum)
    assert ids(v) == expected
    assert v.outcome == ("warn" if expected else "pass")


def test_cvss_without_a_score_does_not_match_and_says_so() -> None:
    s = subject([finding("CVE-NOSCORE", score=None), finding("CVE-LOW", score=2.0)])
    v = verdict(s, cvss=5)
    assert v.outcome == "pass"
    assert v.notes == ("cvss: 1 finding could not be checked (no CVSS score): CVE-NOSCORE",)


# ---------------------------------------------------------------------------------------------------- fixable


@pytest.mark.parametrize(("wanted", "expected"), [(True, ["CVE-FIXED"]), (False, ["CVE-OPEN", "CVE-WONT"])])
def test_fixable(wanted: bool, expected: list[str]) -> None:
    s = subject(
        [
            finding("CVE-FIXED", fixed=("3.0.13-1",)),
            finding("CVE-OPEN", fixed=()),
            finding("CVE-WONT", fixed=(), fix_state="will not fix"),
        ]
    )
    assert ids(verdict(s, fixable=wanted)) == expected


# ---------------------------------------------------------------------------------------------------- dates


def _dated(published_days_ago: int | None, fix_days_ago: int | None) -> tuple[date | None, datetime | None]:
    published = (NOW - timedelta(days=published_days_ago)).date() if published_days_ago is not None else None
    fixed = NOW - timedelta(days=fix_days_ago) if fix_days_ago is not None else None
    return published, fixed


@pytest.mark.parametrize(
    ("age", "limit", "matches"),
    [(31, 30, True), (30, 30, False), (29, 30, False), (400, 365, True), (1, 0, True)],
)
def test_published_more_than_n_days_ago(age: int, limit: int, matches: bool) -> None:
    # dates are days: "30 days ago" at NOW (noon) is midnight 30 days back, i.e. 30.5 days, "more than 30"
    published = NOW - timedelta(days=age)
    s = subject([finding("CVE-1")], dates={"CVE-1": (published, None)})
    v = verdict(s, published_days=limit)
    assert (v.outcome == "warn") is matches


def test_published_date_is_looked_up_by_any_id_of_the_finding_case_insensitively() -> None:
    f = finding("CVE-2024-1", advisories=("DSA-5000-1",), aliases=("GHSA-abcd-efgh-ijkl",))
    for key in ("cve-2024-1", "DSA-5000-1", "ghsa-ABCD-efgh-ijkl"):
        s = subject([f], dates={key: _dated(100, None)})
        assert verdict(s, published_days=30).outcome == "warn", key


def test_missing_published_date_does_not_match_and_says_so() -> None:
    s = subject([finding("CVE-NODATE"), finding("CVE-NEW")], dates={"CVE-NEW": _dated(2, None)})
    v = verdict(s, published_days=30)
    assert v.outcome == "pass"
    assert v.notes == ("published_days: 1 finding could not be checked (no published date): CVE-NODATE",)


@pytest.mark.parametrize(
    ("fixed", "fix_age", "matches"),
    [(("3.0.13-1",), 45, True), (("3.0.13-1",), 10, False), ((), 45, False)],
)
def test_fix_available_for_more_than_n_days(fixed: tuple[str, ...], fix_age: int, matches: bool) -> None:
    s = subject([finding("CVE-1", fixed=fixed)], dates={"CVE-1": _dated(100, fix_age)})
    assert (verdict(s, fix_days=30).outcome == "warn") is matches


def test_fix_date_missing_for_a_fixable_finding_is_noted() -> None:
    s = subject([finding("CVE-1"), finding("CVE-2", fixed=())], dates={"CVE-1": _dated(100, None)})
    v = verdict(s, fix_days=30)
    assert v.outcome == "pass"
    assert v.notes == ("fix_days: 1 finding could not be checked (no date for its fix): CVE-1",)


def test_a_note_only_names_findings_that_meet_the_other_criteria() -> None:
    """A LOW finding without a date is irrelevant to 'CRITICAL and published > 30 days': no note about it."""
    s = subject([finding("CVE-LOW", severity="LOW"), finding("CVE-CRIT", severity="CRITICAL")])
    v = verdict(s, severity="CRITICAL", published_days=30)
    assert v.notes == ("published_days: 1 finding could not be checked (no published date): CVE-CRIT",)


# ---------------------------------------------------------------------------------------------------- ids


def test_cve_ids_match_id_alias_or_advisory_any_of_the_list() -> None:
    s = subject(
        [
            finding("CVE-2021-44228", package=LOG4J),
            finding("CVE-2099-1", aliases=("GHSA-jfh8-c2jp-5v3q",)),
            finding("GHSA-only", advisories=("DLA-1234-1",)),
            finding("CVE-2099-2"),
        ]
    )
    v = verdict(s, cve_ids=["cve-2021-44228", "GHSA-JFH8-C2JP-5V3Q", "DLA-1234-1", "CVE-1999-0001"])
    assert ids(v) == ["CVE-2021-44228", "CVE-2099-1", "GHSA-only"]


# ---------------------------------------------------------------------------------------------------- packages

PY_OLD = Package("Requests_Toolbelt", "0.9.1", "PyPI", "pkg:pypi/requests-toolbelt@0.9.1", "site/x/METADATA")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
            ["org.apache.logging.log4j:log4j-core"],
        ),
        ({"ecosystem": "Maven", "name": "org.apache.logging.log4j:*", "versions": ["<2.17.1"]}, [LOG4J.name]),
        ({"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core", "versions": [">=2.17.1"]}, []),
        # OR of ranges; AND inside one
        ({"ecosystem": "PyPI", "name": "requests", "versions": [">=3.0", ">=2.20, <2.26"]}, ["requests"]),
        ({"ecosystem": "PyPI", "name": "requests", "versions": [">=2.26, <2.30"]}, []),
        ({"ecosystem": "PyPI", "name": "requests", "versions": ["2.25.1"]}, ["requests"]),
        ({"ecosystem": "PyPI", "name": "requests", "versions": ["!=2.25.1"]}, []),
        # PEP 503 names; wildcard
        ({"ecosystem": "PyPI", "name": "requests.toolbelt"}, ["Requests_Toolbelt"]),
        ({"ecosystem": "PyPI", "name": "requests*"}, ["requests", "Requests_Toolbelt"]),
        # OS packages by source name, compared by dpkg order (3.0.1-1 < 3.0.13-1)
        ({"ecosystem": "deb", "name": "openssl", "versions": ["<3.0.13-1"]}, ["libssl3"]),
        ({"ecosystem": "deb", "name": "openssl", "versions": ["<<3.0.1"]}, None),  # invalid: model error
        ({"ecosystem": "rpm", "name": "openssl"}, []),  # another ecosystem
    ],
)
def test_package_rules_report_packages(rule: dict[str, Any], expected: list[str] | None) -> None:
    s = subject(packages=[OPENSSL, REQUESTS, LOG4J, READLINE, PY_OLD])
    if expected is None:
        with pytest.raises(ValueError, match="invalid version range"):
            policy(packages=[rule])
        return
    v = verdict(s, packages=[rule])
    assert [x.package.name for x in v.violations if x.package] == expected
    assert all(x.kind == "package" for x in v.violations)


def test_package_rule_remedy_names_the_range() -> None:
    v = verdict(
        subject(),
        packages=[{"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core", "versions": ["<2.17.1"]}],
    )
    (violation,) = v.violations
    assert violation.subject == "package org.apache.logging.log4j:log4j-core 2.14.1"
    assert violation.remedy == "upgrade org.apache.logging.log4j:log4j-core 2.14.1 out of <2.17.1, or remove it"
    banned = verdict(subject(), packages=[{"ecosystem": "PyPI", "name": "requests"}]).violations[0]
    assert banned.remedy == "remove requests or replace it"


def test_a_version_that_does_not_parse_is_noted_not_matched() -> None:
    odd = Package("requests", "not a version!", "PyPI", "pkg:pypi/requests", "x/METADATA")
    v = verdict(subject(packages=[odd]), packages=[{"ecosystem": "PyPI", "name": "requests", "versions": ["<3"]}])
    assert v.outcome == "pass"
    assert v.notes == (
        "packages: 1 package could not be checked (a version that does not parse): package requests not a version!",
    )


def test_package_rules_with_finding_criteria_narrow_the_findings() -> None:
    s = subject(
        [
            finding("CVE-SSL", severity="HIGH"),
            finding("CVE-REQ", REQUESTS, severity="HIGH"),
            finding("CVE-LOW", REQUESTS, severity="LOW"),
        ]
    )
    v = verdict(s, severity="HIGH", packages=[{"ecosystem": "PyPI", "name": "requests", "versions": ["<2.31"]}])
    assert ids(v) == ["CVE-REQ"]
    assert all(x.kind == "finding" for x in v.violations)


# ---------------------------------------------------------------------------------------------------- licences


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["GPL-3.0-or-later"], ["libreadline8"]),
        (["gpl-3.0*"], ["libreadline8"]),
        (["GPL-*", "MIT"], ["libreadline8", "dual"]),
        (["Apache-2.0"], ["libssl3", "requests", LOG4J.name, "dual"]),
        (["BSD-3-Clause"], []),
    ],
)
def test_licences(names: list[str], expected: list[str]) -> None:
    dual = Package(
        "dual",
        "1.0",
        "npm",
        "pkg:npm/dual@1.0",
        "app/node_modules/dual/package.json",
        licenses=("(MIT OR Apache-2.0)",),
    )
    v = verdict(subject(packages=[OPENSSL, REQUESTS, LOG4J, READLINE, dual]), licenses=names)
    assert [x.package.name for x in v.violations if x.package] == expected


def test_licence_remedy_and_tokens() -> None:
    v = verdict(subject(), licenses=["GPL-3.0-or-later"])
    assert v.violations[0].remedy == "replace or remove libreadline8 8.2-1: licence GPL-3.0-or-later is not allowed"
    assert licence_tokens("MIT OR (GPL-2.0-only WITH Classpath-exception-2.0)") == (
        "mit or (gpl-2.0-only with classpath-exception-2.0)",
        "mit",
        "gpl-2.0-only",
        "classpath-exception-2.0",
    )
    assert licence_tokens("  ") == ()


def test_licences_and_packages_together_and_the_packages() -> None:
    v = verdict(subject(), licenses=["Apache-2.0"], packages=[{"ecosystem": "PyPI", "name": "requests"}])
    (violation,) = v.violations
    assert violation.package == REQUESTS
    assert violation.criterion == "packages+licenses"
    assert "banned package" in violation.detail and "declares Apache-2.0" in violation.detail


# ---------------------------------------------------------------------------------------------------- image criteria


@pytest.mark.parametrize(("days_ago", "limit", "matches"), [(366, 365, True), (365, 365, False), (10, 365, False)])
def test_image_age(days_ago: int, limit: int, matches: bool) -> None:
    s = subject(image=details(created=NOW - timedelta(days=days_ago)))
    v = verdict(s, image_age_days=limit)
    assert (v.outcome == "warn") is matches
    if matches:
        created = (NOW - timedelta(days=days_ago)).date().isoformat()
        assert v.violations[0].detail == f"created on {created}, {days_ago} days ago (the limit is {limit})"
        assert v.violations[0].remedy == f"rebuild the image on a current base: it misses every fix since {created}"


def test_image_without_creation_time_is_not_judged_old() -> None:
    v = verdict(subject(image=details(created=None)), image_age_days=1)
    assert v.outcome == "pass"
    assert v.notes == ("image_age_days: the image records no creation time; not evaluated",)


@pytest.mark.parametrize(
    ("scanned", "matches", "detail"),
    [
        (NOW - timedelta(days=8), True, "last scanned on 2026-06-07, 8 days ago (the limit is 7)"),
        (NOW - timedelta(days=7), False, None),
        (None, True, "no scan of this image is recorded"),
    ],
)
def test_not_scanned_within(scanned: datetime | None, matches: bool, detail: str | None) -> None:
    v = verdict(subject(scanned_at=scanned), not_scanned_days=7)
    assert (v.outcome == "warn") is matches
    if detail:
        assert v.violations[0].detail == detail


def test_os_eol_with_the_shipped_table() -> None:
    v = verdict(subject(os=OSRelease("debian", "10")), os_eol=True)
    assert v.outcome == "warn"
    assert v.violations[0].remedy == "rebuild on a supported base: Debian 10 reached end of life on 2024-06-30"
    assert verdict(subject(os=OSRelease("debian", "12")), os_eol=True).outcome == "pass"
    assert verdict(subject(os=OSRelease("alpine", "3.16.9")), os_eol=True).outcome == "warn"


@pytest.mark.parametrize(
    ("os", "note"),
    [
        (None, "os_eol: no operating system was found in the image; not evaluated"),
        (OSRelease("gentoo", "2.15"), "os_eol: the end-of-life table has no entry for gentoo 2.15; not evaluated"),
        (
            OSRelease("debian", ""),
            "os_eol: the end-of-life table has no entry for debian without a version; not evaluated",
        ),
    ],
)
def test_os_eol_unknown_release_does_not_match_and_says_so(os: OSRelease | None, note: str) -> None:
    v = verdict(subject(os=os), os_eol=True)
    assert (v.outcome, v.notes) == ("pass", (note,))


def test_os_eol_with_a_given_table() -> None:
    table = parse_table(
        {
            "checked": "2026-01-01",
            "distributions": {
                "x": {"name": "X OS", "source": "s", "version_key": ["major"], "releases": {"1": {"eol": "2026-06-15"}}}
            },
        }
    )
    compiled = compile_policy(policy(os_eol=True), eol=table)
    s = subject(os=OSRelease("x", "1.4"))
    assert evaluate([compiled], s, [], NOW).verdicts[0].outcome == "warn"  # on the day itself
    assert evaluate([compiled], s, [], NOW - timedelta(days=1)).verdicts[0].outcome == "pass"


@pytest.mark.parametrize(
    ("user", "root"),
    [
        ("", True),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:staff", True),
        ("000", True),
        (" ", True),
        ("app", False),
        ("1000", False),
        ("1000:0", False),
        ("nobody:root", False),
        ("rooter", False),
    ],
)
def test_runs_as_root(user: str, root: bool) -> None:
    v = verdict(subject(image=details(user=user)), runs_as_root=True)
    assert (v.outcome == "warn") is root
    if root:
        assert v.violations[0].remedy == "set USER in the Dockerfile to a non-root user (for example USER 10001)"


def test_runs_as_root_without_details_is_undecided() -> None:
    v = verdict(subject(image=None), runs_as_root=True)
    assert (v.outcome, v.notes) == ("pass", ("runs_as_root: the image's config is not known; not evaluated",))


HISTORY = [
    "ADD file:abc in /",
    "RUN curl -fsSL https://get.example.com | sh",
    "ADD http://example.com/tool.tgz /opt/",
    "RUN wget -qO- https://x | bash",
    'CMD ["app"]',
]


@pytest.mark.parametrize(
    ("patterns", "lines"),
    [
        ([r"curl .* \| sh"], ["history line 2"]),
        ([r"curl .* \| sh", "ADD http"], ["history line 2", "history line 3"]),
        ([r"\| *(ba)?sh\b"], ["history line 2", "history line 4"]),
        (["(?i)add https?://"], ["history line 3"]),
        (["^RUN apt-get"], []),
    ],
)
def test_history_patterns(patterns: list[str], lines: list[str]) -> None:
    v = verdict(subject(image=details(dockerfile=HISTORY)), history=patterns)
    assert [x.subject for x in v.violations] == lines
    assert (v.outcome == "warn") is bool(lines)


def test_history_violation_texts() -> None:
    v = verdict(subject(image=details(dockerfile=HISTORY)), history=["ADD http"])
    (x,) = v.violations
    assert x.detail == "`ADD http://example.com/tool.tgz /opt/` matches `ADD http`"
    assert x.remedy == "remove or rewrite this Dockerfile instruction: it matches the forbidden `ADD http`"


def test_empty_history_is_undecided() -> None:
    v = verdict(subject(image=details(dockerfile=[])), history=["curl"])
    assert v.notes == ("history: the image records no build history; not evaluated",)


@pytest.mark.parametrize(
    ("labels", "wanted", "missing"),
    [
        ({"a": "1", "b": "2"}, ["a", "b"], []),
        ({"a": "1"}, ["a", "b"], ["label b"]),
        ({"a": " "}, ["a"], ["label a"]),
        ({}, ["a", "b"], ["label a", "label b"]),
    ],
)
def test_labels_missing(labels: dict[str, str], wanted: list[str], missing: list[str]) -> None:
    v = verdict(subject(image=details(labels=labels)), labels_missing=wanted)
    assert [x.subject for x in v.violations] == missing
    if missing:
        assert v.violations[0].remedy == f"add LABEL {missing[0].split()[1]}=<value> to the Dockerfile"


@pytest.mark.parametrize(
    ("exposed", "specs", "found"),
    [
        (["22/tcp", "8080/tcp"], ["22"], ["port 22/tcp"]),
        (["22/tcp"], ["22/udp"], []),
        (["53/udp", "53/tcp"], ["53/udp"], ["port 53/udp"]),
        (["8443/tcp", "9000/tcp"], ["8000-8999"], ["port 8443/tcp"]),
        (["80", "443/tcp"], ["80/tcp", "1-1023"], ["port 80", "port 443/tcp"]),  # no protocol is tcp
        (["8080/tcp"], ["22", 23], []),
    ],
)
def test_exposed_ports(exposed: list[str], specs: list[Any], found: list[str]) -> None:
    v = verdict(subject(image=details(exposed_ports=exposed)), exposed_ports=specs)
    assert [x.subject for x in v.violations] == found


# ------------------------------------------------------------------------------------------------ AND across criteria


def test_finding_criteria_combine_per_finding() -> None:
    s = subject(
        [
            finding("CVE-CRIT-FIXED", severity="CRITICAL"),
            finding("CVE-CRIT-OPEN", severity="CRITICAL", fixed=()),
            finding("CVE-LOW-FIXED", severity="LOW"),
        ]
    )
    assert ids(verdict(s, severity="CRITICAL", fixable=True)) == ["CVE-CRIT-FIXED"]
    # a critical finding and a (different) fixed finding do not together make "critical fixable"
    s2 = subject([finding("CVE-CRIT-OPEN", severity="CRITICAL", fixed=()), finding("CVE-LOW-FIXED", severity="LOW")])
    assert verdict(s2, severity="CRITICAL", fixable=True).outcome == "pass"


def test_image_and_finding_criteria_must_all_hold() -> None:
    findings = [finding("CVE-1", severity="CRITICAL")]
    root = subject(findings, image=details(user=""))
    non_root = subject(findings, image=details(user="app"))
    v = verdict(root, severity="CRITICAL", runs_as_root=True)
    assert v.outcome == "warn"
    assert [x.criterion for x in v.violations] == ["findings", "runs_as_root"]
    assert verdict(non_root, severity="CRITICAL", runs_as_root=True).outcome == "pass"
    assert verdict(subject([], image=details(user="")), severity="CRITICAL", runs_as_root=True).outcome == "pass"


def test_two_image_criteria_and() -> None:
    old_root = subject(image=details(user="", created=NOW - timedelta(days=800)))
    new_root = subject(image=details(user="", created=NOW - timedelta(days=8)))
    assert verdict(old_root, runs_as_root=True, image_age_days=365).outcome == "warn"
    assert verdict(new_root, runs_as_root=True, image_age_days=365).outcome == "pass"


# ---------------------------------------------------------------------------------------------------- remedies


@pytest.mark.parametrize(
    ("f", "remedy"),
    [
        (
            finding("CVE-1", REQUESTS, fixed=("2.31.0", "2.26.0")),
            "upgrade requests 2.25.1 to 2.26.0",
        ),
        (
            finding("CVE-1", fixed=("3.0.13-1",)),
            "upgrade libssl3 3.0.1-1 to 3.0.13-1 (source package openssl)",
        ),
        (
            finding("CVE-1", REQUESTS, fixed=()),
            "no fixed version of requests is known yet; remove or replace requests 2.25.1, mitigate, "
            "or accept the risk",
        ),
        (
            finding("CVE-1", REQUESTS, fixed=(), fix_state="will not fix"),
            "no fix will ship (CVE-1 is marked will-not-fix); remove requests, mitigate, or accept the risk",
        ),
        # versions compare by the ecosystem's order, not as text: 2.9 < 2.10
        (finding("CVE-1", REQUESTS, fixed=("2.10.0", "2.9.1")), "upgrade requests 2.25.1 to 2.9.1"),
    ],
)
def test_finding_remedy(f: Any, remedy: str) -> None:
    assert finding_remedy(f) == remedy


def test_finding_violation_texts() -> None:
    v = verdict(subject([finding("CVE-2024-9", severity="CRITICAL", score=9.8)]), severity="HIGH")
    (x,) = v.violations
    assert (x.kind, x.criterion, x.subject) == ("finding", "findings", "CVE-2024-9 in libssl3 3.0.1-1")
    assert x.detail == "CRITICAL, CVSS 9.8, fixed in 3.0.13-1"
    assert x.remedy == "upgrade libssl3 3.0.1-1 to 3.0.13-1 (source package openssl)"


# ------------------------------------------------------------------------------------------- property: AND == filter

severities = st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN"])
random_findings = st.lists(
    st.tuples(severities, st.one_of(st.none(), st.floats(0, 10).map(lambda x: round(x, 1))), st.booleans()),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    random_findings,
    st.one_of(st.none(), st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE"])),
    st.one_of(st.none(), st.floats(0, 10).map(lambda x: round(x, 1))),
    st.one_of(st.none(), st.booleans()),
)
def test_finding_criteria_select_exactly_the_findings_meeting_all(
    specs: list[tuple[str, float | None, bool]], level: str | None, cvss: float | None, fix: bool | None
) -> None:
    criteria = {k: v for k, v in {"severity": level, "cvss": cvss, "fixable": fix}.items() if v is not None}
    if not criteria:
        criteria = {"severity": "NONE"}
    findings = [
        finding(f"CVE-{n}", severity=sev, score=score, fixed=("9.9-1",) if fixed else ())
        for n, (sev, score, fixed) in enumerate(specs)
    ]

    def meets(f: Any) -> bool:
        lvl = criteria.get("severity")
        if lvl is not None and not (f.severity != "UNKNOWN" and RANK[f.severity] <= RANK[lvl]):
            return False
        if "cvss" in criteria and (f.score is None or f.score < criteria["cvss"]):
            return False
        return "fixable" not in criteria or bool(f.fixed_versions) == criteria["fixable"]

    v = verdict(subject(findings), **criteria)
    assert ids(v) == [f.id for f in findings if meets(f)]
    assert v.outcome == ("warn" if any(meets(f) for f in findings) else "pass")


def test_subject_index_is_shared_and_lazy() -> None:
    s = subject([finding("CVE-1"), finding("CVE-2", severity="LOW")])
    ix = SubjectIndex(s)
    assert ix.at_least_rank(RANK["HIGH"]) == frozenset({0})
    assert ix.at_least_rank(RANK["HIGH"]) is ix.at_least_rank(RANK["HIGH"])  # memoised
    assert ix.positions_of(["cve-1", "CVE-9"]) == {"CVE-1": [0]}  # id and advisory, once
    assert ix.positions_of([]) == {}
    assert ix.dates_of(s.findings[0]) == (None, None)
    assert ix.package_of(s.findings[0]) == 0


def test_dates_accept_naive_datetimes_as_utc() -> None:
    naive = datetime(2026, 1, 1, 10, 0)
    s = subject([finding("CVE-1")], dates={"CVE-1": (naive, date(2026, 1, 2))})
    assert SubjectIndex(s).dates_of(s.findings[0]) == (
        datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
    )


def test_package_matching_covers_a_rule_naming_a_source_package_of_a_finding() -> None:
    s = subject([finding("CVE-RL", READLINE, severity="LOW"), finding("CVE-SSL", OPENSSL, severity="LOW")])
    v = verdict(s, severity="LOW", packages=[{"ecosystem": "deb", "name": "readline"}])
    assert ids(v) == ["CVE-RL"]
