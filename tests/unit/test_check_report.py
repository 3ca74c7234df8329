"""The policy check document and its renderings (report/check.py), built from real evaluations of the policy
engine: fields and counts, exit codes, the table, JUnit XML against the Jenkins xUnit schema, SARIF against the
SARIF schema and Microsoft's validator, hostile text from image contents, and the JSON round trip that the
CLI's server mode relies on."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regscout.policy import Acceptance, Evaluation, Policy, Subject, evaluate
from regscout.report.check import (
    TABLE_WIDTH,
    CheckedImage,
    check_document,
    check_exit_code,
    render_check,
    xml_text,
)
from tests.harness.validators import SARIF_TOOLS, json_schema_problems, sarif_problems
from tests.unit.test_policy_support import DIGEST, LOG4J, NOW, OPENSSL, REQUESTS, details, finding, policy, subject

JUNIT_XSD = Path(__file__).resolve().parents[1] / "fixtures" / "schemas" / "junit-10.xsd"
REF = "ghcr.io/team/app:v1.2.0"
IMAGE = CheckedImage(REF, "ghcr.io", "team/app", "v1.2.0", DIGEST, "linux/amd64")
HOSTILE = "lib]]>\x1b[31mred\x1b[0m\nnext line\x00nul{0}[x](1)[[ATTACHMENT|/etc/passwd]]\u202eevil\ud800"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def accept(vulnerability: str, **fields: Any) -> Acceptance:
    return Acceptance.model_validate(
        {"vulnerability": vulnerability, "scope": "everywhere", "reason": "not reachable", "by": "alice", **fields}
    )


def check(
    policies: Sequence[Policy], s: Subject, acceptances: Sequence[Acceptance] = (), image: CheckedImage = IMAGE
) -> tuple[Evaluation, dict[str, Any]]:
    evaluation = evaluate(policies, s, acceptances, NOW)
    return evaluation, check_document(image, evaluation, policies, NOW)


def full_check() -> tuple[Evaluation, dict[str, Any]]:
    """Every kind of verdict, violation, skip and acceptance."""
    s = subject(
        [
            finding("CVE-2024-0001", OPENSSL, severity="CRITICAL", score=9.8),
            finding("CVE-2024-0002", LOG4J, severity="CRITICAL", score=None, fixed=("2.17.1",)),
            finding("CVE-2024-0003", REQUESTS, severity="HIGH"),
            finding("CVE-2024-0004", REQUESTS, severity="CRITICAL", score=9.1),
        ],
        image=details(user=""),
    )
    policies = [
        Policy.model_validate(
            {
                "name": "critical fixable",
                "description": "Critical vulnerabilities with a fix",
                "action": "block",
                "criteria": {"severity": "CRITICAL", "fixable": True},
            }
        ),
        policy("no log4j", action="block", packages=[{"ecosystem": "Maven", "name": "*log4j-core"}]),
        policy("runs as root", runs_as_root=True),
        policy("cvss 10", action="block", cvss=10),
        policy("disabled", severity="LOW").model_copy(update={"enabled": False}),
        policy("quay only", action="block", severity="LOW", scope={"registries": ["quay.io"]}),
    ]
    acceptances = [
        accept("CVE-2024-0004", expires="2026-07-01"),
        accept("CVE-2024-0003", reason="old news", by="bob", expires=NOW - timedelta(days=1)),
    ]
    return check(policies, s, acceptances)


@functools.cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def junit(document: dict[str, Any]) -> Element:
    """The JUnit rendering, validated against the Jenkins xUnit schema, parsed."""
    text = render_check(document, "junit")
    assert [str(e) for e in junit_schema().iter_errors(text)] == []
    root: Element = SafeET.fromstring(text.encode("utf-8"))
    return root


def sarif_schema_problems(text: str) -> list[str]:
    return json_schema_problems(json.loads(text), SARIF_TOOLS / "sarif-2.1.0.json")


def sarif_unescaped(text: str) -> str:
    """A SARIF message string read back: doubled braces and backslash escapes undone."""
    return re.sub(r"\\([\\\[\]])", r"\1", text.replace("{{", "{").replace("}}", "}"))


def normalised_xml(text: str) -> str:
    """What an XML parser gives back for element text (line ends normalised, §2.11)."""
    return xml_text(text).replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------------- document


def test_document_fields_and_summary() -> None:
    evaluation, doc = full_check()
    assert json.loads(json.dumps(doc)) == doc  # JSON types only: no tuples, datetimes or enums
    assert set(doc) == {
        "version",
        "image",
        "outcome",
        "evaluated_at",
        "policies",
        "skipped",
        "accepted",
        "expired",
        "summary",
    }
    assert doc["version"] == 1
    assert doc["image"] == {
        "ref": REF,
        "registry": "ghcr.io",
        "repository": "team/app",
        "tag": "v1.2.0",
        "digest": DIGEST,
        "platform": "linux/amd64",
    }
    assert doc["outcome"] == "fail" == evaluation.outcome
    assert doc["evaluated_at"] == "2026-06-15T12:00:00+00:00"
    assert [(p["name"], p["action"], p["outcome"]) for p in doc["policies"]] == [
        ("critical fixable", "block", "fail"),
        ("no log4j", "block", "fail"),
        ("runs as root", "warn", "warn"),
        ("cvss 10", "block", "pass"),
    ]
    critical, log4j, root, cvss = doc["policies"]
    assert critical["description"] == "Critical vulnerabilities with a fix"
    assert critical["criteria"] == ["severity", "fixable"]
    # CVE-2024-0004 is accepted, so only two critical findings are left
    assert [v["finding"]["id"] for v in critical["violations"]] == ["CVE-2024-0001", "CVE-2024-0002"]
    first = critical["violations"][0]
    assert first == {
        "kind": "finding",
        "criterion": "findings",
        "subject": "CVE-2024-0001 in libssl3 3.0.1-1",
        "detail": "CRITICAL, CVSS 9.8, fixed in 3.0.13-1",
        "remedy": "upgrade libssl3 3.0.1-1 to 3.0.13-1 (source package openssl)",
        "finding": {
            "id": "CVE-2024-0001",
            "aliases": [],
            "package": "libssl3",
            "version": "3.0.1-1",
            "ecosystem": "deb",
            "purl": OPENSSL.purl,
            "severity": "CRITICAL",
            "score": 9.8,
            "fixed_versions": ["3.0.13-1"],
            "fix_state": "fixed",
            "location": "var/lib/dpkg/status",
            "links": [],
        },
        "package": None,
    }
    [package_violation] = log4j["violations"]
    assert package_violation["kind"] == "package" and package_violation["finding"] is None
    assert package_violation["package"] == {
        "name": LOG4J.name,
        "version": "2.14.1",
        "ecosystem": "Maven",
        "purl": LOG4J.purl,
        "location": LOG4J.location,
    }
    [image_violation] = root["violations"]
    assert image_violation["kind"] == "image" and image_violation["subject"] == "USER"
    assert image_violation["finding"] is None and image_violation["package"] is None
    assert cvss["violations"] == [] and cvss["notes"]  # CVE-2024-0002 has no score: a note says so
    assert doc["skipped"] == [
        {"policy": "disabled", "reason": "disabled"},
        {"policy": "quay only", "reason": "out of scope"},
    ]
    [accepted] = doc["accepted"]
    assert accepted["finding"]["id"] == "CVE-2024-0004"
    assert accepted["acceptance"] == {
        "vulnerability": "CVE-2024-0004",
        "scope": "everywhere",
        "registry": None,
        "repository": None,
        "digest": None,
        "reason": "not reachable",
        "by": "alice",
        "expires": "2026-07-01T00:00:00+00:00",
        "source": "manual",
        "vex_status": None,
        "justification": None,
    }
    [expired] = doc["expired"]
    assert expired["finding"]["id"] == "CVE-2024-0003" and expired["acceptance"]["by"] == "bob"
    assert doc["summary"] == {
        "policies": 4,
        "failed": 2,
        "warned": 1,
        "passed": 1,
        "skipped": 2,
        "violations": 4,
        "accepted": 1,
        "expired": 1,
    }


def test_links_are_cut_to_the_first_few_and_times_need_a_zone() -> None:
    many = replace(finding(severity="CRITICAL"), links=tuple(f"https://example.com/{i}" for i in range(9)))
    _, doc = check([policy(severity="CRITICAL")], subject([many]))
    assert doc["policies"][0]["violations"][0]["finding"]["links"] == [f"https://example.com/{i}" for i in range(5)]
    evaluation = evaluate([], subject(), [], NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_document(IMAGE, evaluation, [], NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown check format"):
        render_check(check_document(IMAGE, evaluation, [], NOW), "xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policies", "outcome", "code", "last_line"),
    [
        (
            [policy("b", action="block", severity="HIGH"), policy("w", severity="HIGH")],
            "fail",
            1,
            "1 policy failed (block), 1 warned; exit 1",
        ),
        (
            [policy("w", severity="HIGH"), policy("p", severity="CRITICAL")],
            "warn",
            0,
            "1 policy warned, 1 passed; exit 0",
        ),
        (
            [policy("p", action="block", severity="CRITICAL"), policy("q", cvss=9)],
            "pass",
            0,
            "2 policies passed; exit 0",
        ),
        ([], "pass", 0, "no policies evaluated; exit 0"),
    ],
)
def test_exit_codes_and_the_verdict_line(policies: list[Policy], outcome: str, code: int, last_line: str) -> None:
    _, doc = check(policies, subject([finding(severity="HIGH")]))
    assert doc["outcome"] == outcome
    assert check_exit_code(doc) == code
    assert render_check(doc, "table").splitlines()[-1] == last_line
    assert junit(doc).find("testsuite/system-out").text.splitlines()[-1] == last_line  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------- table


def test_table_lists_violations_acceptances_and_ends_with_the_verdict() -> None:
    _, doc = full_check()
    table = render_check(doc, "table")
    lines = table.splitlines()
    assert lines[0] == f"regscout image check {REF}: FAIL"
    assert DIGEST in lines[1] and "linux/amd64" in lines[1]
    assert lines[-1] == "2 policies failed (block), 1 warned, 1 passed; exit 1"
    assert "FAIL  critical fixable  [block]  2 violations" in lines
    assert "FAIL  no log4j  [block]  1 violation" in lines
    assert "WARN  runs as root  [warn]  1 violation" in lines
    assert "| Policy " in table and "| Finding / subject " in table and "| Detail " in table and "| Remedy " in table
    row = next(line for line in lines if "CVE-2024-0001 in libssl3" in line)
    assert row.startswith("| critical fixable ")
    assert "upgrade libssl3 3.0.1-1 to" in table
    assert "Passed: cvss 10" in lines
    assert "Skipped: disabled (disabled), quay only (out of scope)" in lines
    accepted = next(line for line in lines if "CVE-2024-0004" in line)
    assert "not reachable" in accepted and "alice" in accepted and "2026-07-01" in accepted
    expired = next(line for line in lines if "CVE-2024-0003" in line)
    assert "old news" in expired and "bob" in expired and "2026-06-14" in expired
    assert any(line.startswith("Notes") for line in lines)
    assert all(len(line) <= TABLE_WIDTH for line in lines)
    assert "\x1b" not in table and table == table.rstrip() + "\n"


def test_the_table_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    _, doc = full_check()
    plain = render_check(doc, "table")
    for name, value in {
        "COLUMNS": "40",
        "LINES": "10",
        "FORCE_COLOR": "1",
        "TERM": "xterm-256color",
        "TTY_COMPATIBLE": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert render_check(doc, "table") == plain


# ---------------------------------------------------------------------------------------------------- JUnit


def test_junit_validates_with_failures_warnings_and_skips() -> None:
    _, doc = full_check()
    root = junit(doc)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == f"regscout policy check: {REF}"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "6",
        "2",
        "0",
        "2",
    )
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["critical fixable", "no log4j", "runs as root", "cvss 10", "disabled", "quay only"]
    assert {case.get("classname") for case in cases.values()} == {REF}
    failure = cases["critical fixable"].find("failure")
    assert failure is not None and failure.get("message") == "2 violations of block policy critical fixable"
    assert failure.text is not None
    assert "CVE-2024-0001 in libssl3 3.0.1-1: CRITICAL, CVSS 9.8, fixed in 3.0.13-1" in failure.text
    assert "remedy: upgrade libssl3 3.0.1-1 to 3.0.13-1" in failure.text
    warned = cases["runs as root"]
    assert warned.find("failure") is None and warned.find("skipped") is None
    out = warned.find("system-out")
    assert out is not None and out.text is not None
    assert out.text.startswith("warning: 1 violation of warn policy runs as root") and "USER" in out.text
    assert cases["cvss 10"].find("failure") is None
    for name, reason in (("disabled", "disabled"), ("quay only", "out of scope")):
        skipped = cases[name].find("skipped")
        assert skipped is not None and skipped.get("message") == reason
    suite_out = suite.find("system-out")
    assert suite_out is not None and suite_out.text is not None
    assert "accepted: CVE-2024-0004" in suite_out.text and "acceptance expired: CVE-2024-0003" in suite_out.text
    properties = {p.get("name"): p.get("value") for p in suite.iterfind("properties/property")}
    assert properties["outcome"] == "fail" and properties["exit code"] == "1"


def test_the_junit_schema_is_a_real_check() -> None:
    _, doc = full_check()
    broken = render_check(doc, "junit").replace(' errors="0" skipped=', " skipped=", 1)
    assert list(junit_schema().iter_errors(broken))


# ---------------------------------------------------------------------------------------------------- SARIF


def test_sarif_validates_with_rules_results_and_levels() -> None:
    _, doc = full_check()
    text = render_check(doc, "sarif")
    assert sarif_problems(text) == []
    [run] = json.loads(text)["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["name"] for r in rules] == ["critical fixable", "no log4j", "runs as root", "cvss 10"]
    assert [r["defaultConfiguration"]["level"] for r in rules] == ["error", "error", "warning", "error"]
    assert "Remedy: upgrade libssl3 3.0.1-1 to 3.0.13-1" in rules[0]["help"]["text"]
    assert rules[0]["properties"]["security-severity"] == "9.8"
    assert "security-severity" not in rules[2]["properties"]
    results = run["results"]
    assert [(r["ruleIndex"], r["level"]) for r in results] == [(0, "error"), (0, "error"), (1, "error"), (2, "warning")]
    assert all(r["ruleId"] == rules[r["ruleIndex"]]["id"] for r in results)
    scored, unscored, package, image = results
    assert scored["properties"]["security-severity"] == "9.8"
    assert "security-severity" not in unscored["properties"]  # CVE-2024-0002 has no score
    uris = [[loc["physicalLocation"]["artifactLocation"]["uri"] for loc in r["locations"]] for r in results]
    image_uri = f"ghcr.io/team/app@{DIGEST.replace(':', '%3A')}"
    assert uris == [
        [image_uri, "var/lib/dpkg/status"],
        [image_uri, LOG4J.location],
        [image_uri, LOG4J.location],
        [image_uri],
    ]
    assert package["message"]["text"].startswith(f"package {LOG4J.name} 2.14.1: ")
    assert image["message"]["text"].startswith("USER: ")
    assert run["properties"]["exitCode"] == 1


def test_sarif_fingerprints_survive_a_rebuild() -> None:
    s = subject([finding(severity="CRITICAL")])
    _, one = check([policy(severity="CRITICAL")], s)
    _, two = check([policy(severity="CRITICAL")], s, image=replace(IMAGE, digest="sha256:" + "e" * 64))

    def fingerprints(doc: dict[str, Any]) -> list[Any]:
        return [r["partialFingerprints"] for r in json.loads(render_check(doc, "sarif"))["runs"][0]["results"]]

    assert fingerprints(one) == fingerprints(two)


# ---------------------------------------------------------------------------------------------------- hostile text


def hostile_check() -> tuple[Evaluation, dict[str, Any]]:
    evil = replace(OPENSSL, name=HOSTILE)
    s = subject(
        [finding("CVE-2024-0001", evil, severity="CRITICAL")],
        packages=(evil, REQUESTS),
        image=details(dockerfile=["RUN curl x \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 ]]> \x00"]),
    )
    policies = [
        policy("critical", action="block", severity="CRITICAL"),
        policy("any deb", packages=[{"ecosystem": "deb", "name": "*"}]),
        policy("no curl", action="block", history=["curl"]),
    ]
    return check(policies, s)


def test_hostile_text_is_escaped_in_every_format() -> None:
    _, doc = hostile_check()
    subject_text = doc["policies"][0]["violations"][0]["subject"]
    assert subject_text == f"CVE-2024-0001 in {HOSTILE[:-1]}\ufffd 3.0.1-1"  # a lone surrogate cannot be written
    json.dumps(doc, ensure_ascii=False).encode("utf-8")

    table = render_check(doc, "table")
    table.encode("utf-8")
    assert not _CONTROL.search(table)
    assert "[31m" not in table and "evil.example" not in table  # escape sequences are stripped, not shown
    assert "\\x00" in table and "\\u202e" in table and "]]>" in table and "click" in table
    assert table.splitlines()[-1] == "2 policies failed (block), 1 warned; exit 1"

    root = junit(doc)
    failure = root.find("testsuite/testcase[@name='critical']/failure")
    assert failure is not None and failure.text is not None
    assert f"- {normalised_xml(subject_text)}: " in failure.text
    assert "lib]]>\\x1b[31mred" in failure.text and "\\x00nul" in failure.text
    for out in root.iter("system-out"):
        assert "[[ATTACHMENT|" not in (out.text or "")

    text = render_check(doc, "sarif")
    text.encode("ascii")
    assert sarif_problems(text) == []
    [result, *_] = json.loads(text)["runs"][0]["results"]
    assert sarif_unescaped(result["message"]["text"]).startswith(f"{subject_text}: ")
    assert "{{0}}" in result["message"]["text"] and "\\[x\\](1)" in result["message"]["text"]
    assert result["properties"]["package"] == HOSTILE[:-1] + "\ufffd"


def test_hostile_acceptances_are_escaped() -> None:
    s = subject([finding("CVE-2024-0001", severity="CRITICAL")])
    reason = "because ]]> \x1b[2J \x00 {1}"
    _, doc = check([policy(severity="CRITICAL")], s, [accept("CVE-2024-0001", reason=reason, by="eve\u202emallory")])
    table = render_check(doc, "table")
    assert not _CONTROL.search(table) and "[2J" not in table and "\\x00" in table
    out = junit(doc).find("testsuite/system-out")
    assert out is not None and out.text is not None and normalised_xml(reason) in out.text


def _with_text(document: dict[str, Any], text: str) -> dict[str, Any]:
    """The document with ``text`` in every field that image contents or users can fill."""
    doc = copy.deepcopy(document)
    doc["image"]["ref"] = "ghcr.io/team/app:" + text
    for p in doc["policies"]:
        p["name"] = p["name"] + text
        p["notes"] = [*p["notes"], text]
        for v in p["violations"]:
            v["subject"], v["detail"], v["remedy"] = text, text + text, "do " + text
            for part in ("finding", "package"):
                if v[part] is not None:
                    key = "package" if part == "finding" else "name"
                    v[part][key] = text
                    v[part]["location"] = text
    for item in doc["accepted"] + doc["expired"]:
        item["acceptance"]["reason"] = item["acceptance"]["by"] = text
    for s in doc["skipped"]:
        s["policy"] = text
    return doc


@functools.cache
def _base_document() -> dict[str, Any]:
    return full_check()[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(exclude_categories=()), max_size=40))
def test_arbitrary_text_never_breaks_an_output(text: str) -> None:
    doc = _with_text(_base_document(), text)

    assert json.loads(render_check(doc, "json")) == doc

    root = junit(doc)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.text is not None
    assert failure.text.startswith(f"- {normalised_xml(text)}: ")
    assert {case.get("classname") for case in root.iter("testcase")} == {xml_text("ghcr.io/team/app:" + text)}

    sarif = render_check(doc, "sarif")
    assert sarif_schema_problems(sarif) == []
    result = json.loads(sarif)["runs"][0]["results"][0]
    assert sarif_unescaped(result["message"]["text"]).startswith(f"{text}: {text}{text}. Remedy: do {text}.")
    for location in result["locations"]:
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        assert re.fullmatch(r"[A-Za-z0-9\-._~%!$&'()*+,;=@/]*", uri)

    table = render_check(doc, "table")
    assert not _CONTROL.search(table) and "\x1b" not in table
    assert table.splitlines()[-1] == "2 policies failed (block), 1 warned, 1 passed; exit 1"


# ---------------------------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("build", [full_check, hostile_check])
def test_a_document_read_back_from_json_renders_the_same(build: Any) -> None:
    """Server mode: the CLI renders the JSON it got from POST /api/v1/check."""
    _, doc = build()
    loaded = json.loads(render_check(doc, "json"))
    assert loaded == doc
    for fmt in ("table", "junit", "sarif", "json"):
        assert render_check(loaded, fmt) == render_check(doc, fmt)
    assert check_exit_code(loaded) == check_exit_code(doc) == 1
