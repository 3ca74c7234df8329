""".regscoutignore: Trivy's line and YAML forms, clear errors on malformed input, and no other exception, ever."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.policy import evaluate
from regscout.policy.ignore import IgnoreFileError, parse_ignore, parse_ignore_file, parse_ignore_yaml
from tests.unit.test_policy_support import REQUESTS, finding, policy, subject

# Trivy's documented example (docs: vulnerability filtering, "By Finding IDs").
TRIVY_EXAMPLE = """\
# Accept the risk
CVE-2018-14618

# Accept the risk until 2023-01-01
CVE-2019-14697 exp:2023-01-01

# No impact in our settings
CVE-2019-1543

# Ignore misconfigurations
AVD-DS-0002

# Ignore secrets
generic-unwanted-rule
aws-account-id
"""


def test_trivy_line_example() -> None:
    acceptances = parse_ignore(TRIVY_EXAMPLE)
    assert [a.vulnerability for a in acceptances] == [
        "CVE-2018-14618",
        "CVE-2019-14697",
        "CVE-2019-1543",
        "AVD-DS-0002",
        "generic-unwanted-rule",
        "aws-account-id",
    ]
    assert [a.reason for a in acceptances[:3]] == [
        "Accept the risk",
        "Accept the risk until 2023-01-01",
        "No impact in our settings",
    ]
    # comments apply to the ids right below them, up to a blank line
    assert acceptances[5].reason == "Ignore secrets"
    assert acceptances[1].expires == datetime(2023, 1, 1, tzinfo=UTC)
    assert all(a.expires is None for i, a in enumerate(acceptances) if i != 1)
    assert {(a.scope, a.by) for a in acceptances} == {("everywhere", ".regscoutignore")}
    assert acceptances[0].source == ".regscoutignore:2"


def test_line_form_details() -> None:
    text = "\r\n  CVE-2024-1\texp:2026-07-01   # upstream fix pending\r\nCVE-2024-2 # not shipped\nCVE-2024-3\n"
    a1, a2, a3 = parse_ignore(text, source="ops/.regscoutignore")
    assert (a1.vulnerability, a1.expires, a1.reason) == (
        "CVE-2024-1",
        datetime(2026, 7, 1, tzinfo=UTC),
        "upstream fix pending",
    )
    assert a2.reason == "not shipped"
    assert a3.reason == "listed in ops/.regscoutignore line 4"
    assert a3.source == "ops/.regscoutignore:4"


def test_scope_arguments_make_the_acceptances_scoped() -> None:
    (a,) = parse_ignore("CVE-1\n", scope="repository", registry="ghcr.io", repository="team/app")
    assert (a.scope, a.registry, a.repository) == ("repository", "ghcr.io", "team/app")
    with pytest.raises(IgnoreFileError, match=r"line 1: .*needs registry"):
        parse_ignore("CVE-1\n", scope="registry")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CVE-1 exp:2023-13-01\n", "line 1: 2023-13-01 is not a calendar date"),
        ("CVE-1 exp:20230101\n", "line 1: 'exp:20230101' is not an expiry; write exp:YYYY-MM-DD"),
        ("CVE-1 exp:\n", "is not an expiry"),
        (
            "\n\nCVE-1 until:2023-01-01\n",
            "line 3: unexpected 'until:2023-01-01' after CVE-1; only exp:YYYY-MM-DD or a # comment",
        ),
        ("CVE-1 exp:2023-01-01 exp:2024-01-01\n", "line 1: two expiry dates for CVE-1"),
    ],
)
def test_line_form_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(IgnoreFileError, match=message):
        parse_ignore(text)


def test_a_comment_after_ids_starts_a_new_reason() -> None:
    a, b, c = parse_ignore("# Accept the risk\nCVE-1\nCVE-2\n# No impact\nCVE-3\n")
    assert [a.reason, b.reason, c.reason] == ["Accept the risk", "Accept the risk", "No impact"]


def test_empty_and_comment_only_files() -> None:
    assert parse_ignore("") == []
    assert parse_ignore("# nothing\n\n   \n#\n") == []


def test_expiry_returns_the_finding_through_evaluate() -> None:
    s = subject([finding("CVE-2024-0001", severity="CRITICAL")])
    acceptances = parse_ignore("CVE-2024-0001 exp:2026-07-01\n")
    p = policy(action="block", severity="CRITICAL")
    assert evaluate([p], s, acceptances, datetime(2026, 6, 30, tzinfo=UTC)).outcome == "pass"
    later = evaluate([p], s, acceptances, datetime(2026, 7, 1, 0, 0, 1, tzinfo=UTC))
    assert later.outcome == "fail"
    assert [e.finding.id for e in later.expired] == ["CVE-2024-0001"]


# ---------------------------------------------------------------------------------------------------- YAML form

# Trivy's documented .trivyignore.yaml example.
TRIVY_YAML = """\
vulnerabilities:
  - id: CVE-2022-40897
    paths:
      - "usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA"
    statement: Accept the risk
  - id: CVE-2023-2650
  - id: CVE-2023-3446
  - id: CVE-2023-3817
    purls:
      - "pkg:deb/debian/libssl3@3.0.8-1%2Bdeb12u1?arch=arm64&distro=debian-12"
  - id: CVE-2023-29491
    expired_at: 2023-09-01

misconfigurations:
  - id: AVD-DS-0001
  - id: AVD-DS-0002
    paths:
      - "docs/Dockerfile"
    statement: The image needs root privileges

secrets:
  - id: aws-access-key-id
  - id: aws-secret-access-key
    paths:
      - "foo/bar/aws.secret"

licenses:
  - id: GPL-3.0 # License name is used as ID
    paths:
      - "usr/share/gcc/python/libstdcxx/v6/__init__.py"
"""


def test_trivy_yaml_example() -> None:
    acceptances = parse_ignore_yaml(TRIVY_YAML)
    assert [a.vulnerability for a in acceptances] == [
        "CVE-2022-40897",
        "CVE-2023-2650",
        "CVE-2023-3446",
        "CVE-2023-3817",
        "CVE-2023-29491",
    ]
    first, _, _, fourth, fifth = acceptances
    assert first.paths == ["usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA"]
    assert first.reason == "Accept the risk"
    assert fourth.purls == ["pkg:deb/debian/libssl3@3.0.8-1%2Bdeb12u1?arch=arm64&distro=debian-12"]
    assert fifth.expires == datetime(2023, 9, 1, tzinfo=UTC)
    assert first.source == ".regscoutignore.yaml#vulnerabilities[0]"


def test_yaml_paths_and_purls_narrow_through_evaluate() -> None:
    s = subject([finding("CVE-9", severity="HIGH"), finding("CVE-9", REQUESTS, severity="HIGH")])
    text = "vulnerabilities:\n  - id: CVE-9\n    paths: ['usr/lib/python3/**']\n"
    result = evaluate([policy(severity="HIGH")], s, parse_ignore_yaml(text), datetime(2026, 1, 1, tzinfo=UTC))
    assert [a.finding.package for a in result.accepted] == ["requests"]
    assert result.outcome == "warn"  # libssl3's CVE-9 stays


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vulnerabilities: [\n", "is not valid YAML"),
        ("- CVE-1\n", "must be a mapping with a 'vulnerabilities' list"),
        ("vulns:\n  - id: CVE-1\n", "unknown section vulns"),
        ("vulnerabilities: CVE-1\n", "vulnerabilities must be a list of entries"),
        ("vulnerabilities:\n  - CVE-1\n", r"vulnerabilities\[0\]: an entry is a mapping with an id"),
        (
            "vulnerabilities:\n  - id: CVE-1\n    expires_at: 2024-01-01\n",
            r"vulnerabilities\[0\]: unknown key expires_at",
        ),
        ("vulnerabilities:\n  - statement: x\n", "id must be a vulnerability id"),
        ("vulnerabilities:\n  - id: CVE-1\n    paths: x\n", "paths must be a list of strings"),
        ("vulnerabilities:\n  - id: CVE-1\n    paths: ['a/[b']\n", "unclosed '\\['"),
        ("vulnerabilities:\n  - id: CVE-1\n    purls: ['not-a-purl']\n", "is not a package URL"),
        ("vulnerabilities:\n  - id: CVE-1\n    expired_at: soon\n", "expired_at 'soon' is not a date"),
        ("vulnerabilities:\n  - id: CVE-1\n    expired_at: 5\n", "expired_at must be a date, got int"),
        ("vulnerabilities:\n  - id: CVE-1\n    statement: [a]\n", "statement must be text"),
    ],
)
def test_yaml_errors(text: str, message: str) -> None:
    with pytest.raises(IgnoreFileError, match=message):
        parse_ignore_yaml(text)


def test_yaml_timestamps_and_empty_documents() -> None:
    assert parse_ignore_yaml("") == []
    assert parse_ignore_yaml("vulnerabilities:\n") == []
    (a,) = parse_ignore_yaml("vulnerabilities:\n  - id: CVE-1\n    expired_at: 2026-07-01T12:00:00+02:00\n")
    assert a.expires == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    (b,) = parse_ignore_yaml("vulnerabilities:\n  - id: CVE-1\n    expired_at: '2026-07-01'\n")
    assert b.expires == datetime(2026, 7, 1, tzinfo=UTC)


def test_the_form_follows_the_file_name_as_in_trivy() -> None:
    assert parse_ignore_file(".regscoutignore.yaml", "vulnerabilities:\n  - id: CVE-1\n")[0].vulnerability == "CVE-1"
    assert parse_ignore_file("x.YML", "vulnerabilities:\n  - id: CVE-2\n")[0].vulnerability == "CVE-2"
    assert parse_ignore_file(".trivyignore", "CVE-3\n")[0].vulnerability == "CVE-3"
    with pytest.raises(IgnoreFileError):
        parse_ignore_file("x.yaml", "CVE-3 exp:2020-01-01\n")


# ---------------------------------------------------------------------------------------------------- properties

ids = st.from_regex(
    r"(CVE-[0-9]{4}-[0-9]{4,7}|GHSA-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}|[A-Za-z][A-Za-z0-9_.:-]{0,20})", fullmatch=True
)
entries = st.lists(
    st.tuples(
        ids,
        st.one_of(st.none(), st.dates(date(1990, 1, 1), date(2200, 12, 31))),
        st.sampled_from(["", "fix later", "# nested"]),
    ),
    max_size=15,
)


@settings(max_examples=200, deadline=None)
@given(entries)
def test_line_form_round_trip(items: list[tuple[str, date | None, str]]) -> None:
    lines = []
    for ident, expiry, comment in items:
        lines.append(f"# {comment}" if comment else "")
        lines.append(ident + (f" exp:{expiry.isoformat()}" if expiry else ""))
    acceptances = parse_ignore("\n".join(lines))
    assert [(a.vulnerability, a.expires) for a in acceptances] == [
        (ident, datetime(e.year, e.month, e.day, tzinfo=UTC) if e else None) for ident, e, _ in items
    ]
    for number, (acceptance, (_, _, comment)) in enumerate(zip(acceptances, items, strict=True)):
        # the comment line right above is the reason ("# # nested" says "# nested"), else where it was listed
        assert acceptance.reason == (comment or f"listed in .regscoutignore line {2 * number + 2}")


@settings(max_examples=200, deadline=None)
@given(entries)
def test_yaml_form_round_trip(items: list[tuple[str, date | None, str]]) -> None:
    data = {
        "vulnerabilities": [
            {"id": ident, **({"expired_at": e} if e else {}), **({"statement": c} if c else {})}
            for ident, e, c in items
        ]
    }
    acceptances = parse_ignore_yaml(yaml.safe_dump(data))
    assert [(a.vulnerability, a.expires) for a in acceptances] == [
        (ident, datetime(e.year, e.month, e.day, tzinfo=UTC) if e else None) for ident, e, _ in items
    ]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_line_form_never_crashes(text: str) -> None:
    with contextlib.suppress(IgnoreFileError):
        parse_ignore(text)


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10), st.dates()),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["id", "paths", "purls", "statement", "expired_at", "x"]), children, max_size=4
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.dictionaries(st.sampled_from(["vulnerabilities", "secrets", "other"]), yaml_values, max_size=3).map(
            yaml.safe_dump
        ),
        st.lists(yaml_values, max_size=4).map(lambda v: yaml.safe_dump({"vulnerabilities": v})),
    )
)
def test_yaml_form_never_crashes(text: str) -> None:
    with contextlib.suppress(IgnoreFileError):
        parse_ignore_yaml(text)
