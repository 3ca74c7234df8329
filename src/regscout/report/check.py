"""The policy check of one image (``regscout image check``, ``POST /api/v1/check``): its JSON document and the
renderings of that document as a terminal table, JSON, JUnit XML and SARIF 2.1.0.

``check_document`` builds the document from an ``Evaluation``; ``render_check`` and ``check_exit_code`` read
nothing but the document, so a CLI that got it as JSON from a server renders exactly what a local check renders.
The document holds JSON types only (objects, arrays, strings, numbers, booleans, null); timestamps are ISO 8601
strings with their offset. Fields, version 1 (new fields may be added; none is removed or changes meaning
without a new ``version``):

- ``version``: 1.
- ``image``: ``ref`` (the reference as given), ``registry``, ``repository``, ``tag`` ("" when checked by digest),
  ``digest`` (the image manifest's), ``platform`` (``linux/amd64``).
- ``outcome``: ``pass``, ``warn`` or ``fail`` — the worst verdict; ``fail`` when a block policy is violated.
- ``evaluated_at``: when the policies were evaluated.
- ``policies``: one entry per evaluated policy, in evaluation order: ``name``, ``description``, ``action``
  (``warn`` | ``block``), ``outcome`` (``pass`` | ``warn`` | ``fail``), ``criteria`` (the criteria the policy
  gives), ``violations``, ``notes`` (what could not be decided: missing dates, unknown OS, ...).
- a violation: ``kind`` (``finding`` | ``package`` | ``image``), ``criterion`` (``findings`` for findings, else
  the criteria), ``subject`` (``CVE-2024-1 in openssl 3.0.1``, ``package log4j-core 2.14.1``, ``USER``),
  ``detail`` (why it breaks the policy), ``remedy`` (what to do), ``finding`` (a finding, or null), ``package``
  (``name``, ``version``, ``ecosystem``, ``purl``, ``location``; or null).
- a finding: ``id``, ``aliases``, ``package``, ``version``, ``ecosystem``, ``purl``, ``severity``, ``score``
  (CVSS base score, or null), ``fixed_versions``, ``fix_state`` (``fixed`` | ``not fixed`` | ``will not fix`` |
  ``unknown``), ``location`` (the file in the image that declared the package), ``links`` (the first five).
- ``skipped``: policies not evaluated: ``policy``, ``reason`` (``disabled`` | ``out of scope``).
- ``accepted``: findings taken out of the policies by an acceptance: ``finding`` and ``acceptance``
  (``vulnerability``, ``scope``, ``registry``, ``repository``, ``digest``, ``reason``, ``by``, ``expires``
  (or null), ``source`` (``manual``, ``.regscoutignore``, a VEX document, ...), ``vex_status``,
  ``justification``).
- ``expired``: findings whose only acceptances have expired, same shape; they were evaluated like any other.
- ``summary``: counts: ``policies`` (evaluated), ``failed``, ``warned``, ``passed``, ``skipped``,
  ``violations`` (over all policies: a finding breaking two policies counts twice), ``accepted``, ``expired``.

Text in the document comes from image contents (package names, history lines, labels) and is kept as it is,
but for lone surrogates, which become U+FFFD so that every JSON encoder can write the document. Each rendering
escapes for its own format: the table strips ANSI escape sequences and shows other control characters as
``\\xNN``; JUnit XML shows the characters XML 1.0 cannot carry as ``\\xNN`` / ``\\uNNNN``; SARIF escapes the
braces and brackets that its message strings reserve.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..analysis.model import Package
from ..policy import Acceptance, AcceptedFinding, Evaluation, Policy, Violation
from ..vulndb.matcher import Finding
from .sarif import sarif_log

__all__ = ["CHECK_FORMATS", "CheckFormat", "CheckedImage", "check_document", "check_exit_code", "render_check"]

CheckFormat = Literal["table", "json", "junit", "sarif"]
CHECK_FORMATS: tuple[CheckFormat, ...] = ("table", "json", "junit", "sarif")
DOCUMENT_VERSION = 1
LINKS_KEPT = 5
TABLE_WIDTH = 120
_REMEDIES_IN_HELP = 20


@dataclass(frozen=True)
class CheckedImage:
    ref: str
    registry: str
    repository: str
    tag: str
    digest: str
    platform: str


# ---------------------------------------------------------------------------------------------------- document

_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str) -> str:
    return _SURROGATE.sub("\ufffd", value)


def _texts(values: Iterable[str]) -> list[str]:
    return [_text(v) for v in values]


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "id": _text(f.id),
        "aliases": _texts(f.aliases),
        "package": _text(f.package),
        "version": _text(f.version),
        "ecosystem": _text(f.ecosystem),
        "purl": _text(f.purl),
        "severity": _text(f.severity),
        "score": f.score,
        "fixed_versions": _texts(f.fixed_versions),
        "fix_state": _text(f.fix_state),
        "location": _text(f.location),
        "links": _texts(f.links[:LINKS_KEPT]),
    }


def _package(p: Package) -> dict[str, Any]:
    return {
        "name": _text(p.name),
        "version": _text(p.version),
        "ecosystem": _text(p.ecosystem),
        "purl": _text(p.purl),
        "location": _text(p.location),
    }


def _violation(v: Violation) -> dict[str, Any]:
    return {
        "kind": v.kind,
        "criterion": _text(v.criterion),
        "subject": _text(v.subject),
        "detail": _text(v.detail),
        "remedy": _text(v.remedy),
        "finding": None if v.finding is None else _finding(v.finding),
        "package": None if v.package is None else _package(v.package),
    }


def _optional(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _acceptance(a: Acceptance) -> dict[str, Any]:
    return {
        "vulnerability": _text(a.vulnerability),
        "scope": a.scope,
        "registry": _optional(a.registry),
        "repository": _optional(a.repository),
        "digest": _optional(a.digest),
        "reason": _text(a.reason),
        "by": _text(a.by),
        "expires": None if a.expires is None else a.expires.isoformat(),
        "source": _text(a.source),
        "vex_status": a.vex_status,
        "justification": _optional(a.justification),
    }


def _accepted(items: Iterable[AcceptedFinding]) -> list[dict[str, Any]]:
    return [{"finding": _finding(item.finding), "acceptance": _acceptance(item.acceptance)} for item in items]


def check_document(
    image: CheckedImage, evaluation: Evaluation, policies: Sequence[Policy], evaluated_at: datetime
) -> dict[str, Any]:
    """The check document (fields in the module docstring). ``policies`` are those given to ``evaluate``; they
    supply the descriptions. ``evaluated_at`` must be timezone-aware."""
    if evaluated_at.utcoffset() is None:
        raise ValueError("evaluated_at must be timezone-aware")
    descriptions = {p.name: p.description for p in policies}
    verdicts = [
        {
            "name": _text(v.policy),
            "description": _text(descriptions.get(v.policy, "")),
            "action": v.action.value,
            "outcome": v.outcome,
            "criteria": list(v.criteria),
            "violations": [_violation(x) for x in v.violations],
            "notes": _texts(v.notes),
        }
        for v in evaluation.verdicts
    ]
    outcomes = [v.outcome for v in evaluation.verdicts]
    return {
        "version": DOCUMENT_VERSION,
        "image": {
            "ref": _text(image.ref),
            "registry": _text(image.registry),
            "repository": _text(image.repository),
            "tag": _text(image.tag),
            "digest": _text(image.digest),
            "platform": _text(image.platform),
        },
        "outcome": evaluation.outcome,
        "evaluated_at": evaluated_at.isoformat(),
        "policies": verdicts,
        "skipped": [{"policy": _text(s.policy), "reason": s.reason} for s in evaluation.skipped],
        "accepted": _accepted(evaluation.accepted),
        "expired": _accepted(evaluation.expired),
        "summary": {
            "policies": len(verdicts),
            "failed": outcomes.count("fail"),
            "warned": outcomes.count("warn"),
            "passed": outcomes.count("pass"),
            "skipped": len(evaluation.skipped),
            "violations": sum(len(v.violations) for v in evaluation.verdicts),
            "accepted": len(evaluation.accepted),
            "expired": len(evaluation.expired),
        },
    }


def check_exit_code(document: Mapping[str, Any]) -> int:
    """The gate: 1 when a block policy failed, else 0 (2, for errors, is the caller's)."""
    return 1 if document["outcome"] == "fail" else 0


def render_check(document: Mapping[str, Any], fmt: CheckFormat) -> str:
    """The document as text, ending in a newline."""
    if fmt == "table":
        return _render_table(document)
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "junit":
        return _render_junit(document)
    if fmt == "sarif":
        return _render_sarif(document)
    raise ValueError(f"unknown check format {fmt!r}; use one of {', '.join(CHECK_FORMATS)}")


# ---------------------------------------------------------------------------------------------------- shared


def verdict_line(document: Mapping[str, Any]) -> str:
    """``2 policies failed (block), 1 warned, 3 passed; exit 1``."""
    summary = document["summary"]
    counts = [(summary["failed"], "failed (block)"), (summary["warned"], "warned"), (summary["passed"], "passed")]
    parts: list[str] = []
    for n, what in counts:
        if n:
            parts.append(f"{n} {what}" if parts else f"{n} {'policy' if n == 1 else 'policies'} {what}")
    return f"{', '.join(parts) or 'no policies evaluated'}; exit {check_exit_code(document)}"


def _finding_label(finding: Mapping[str, Any]) -> str:
    return f"{finding['id']} in {finding['package']} {finding['version']}"


def _moment_label(value: str | None, none: str) -> str:
    if value is None:
        return none
    return value.removesuffix("T00:00:00+00:00")  # a date given as a date reads as one


def _image_name(image: Mapping[str, Any]) -> str:
    """registry/repository@digest: the exact image checked."""
    if not image["digest"]:
        return str(image["ref"])
    return f"{image['registry']}/{image['repository']}@{image['digest']}"


# ---------------------------------------------------------------------------------------------------- table

# CSI (ESC [ or the C1 CSI), OSC (ESC ]) up to BEL or ST, DCS/SOS/PM/APC (ESC P, X, ^, _) up to ST, and two-byte
# escapes (ESC followed by one character). An unterminated string sequence ends at the next control character, so
# that it cannot swallow the rest of the text.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x00-\x1f\x7f]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x00-\x1f\x7f]*(?:\x1b\\)?"
    r"|\x1b[ -~]"
)
_BREAKS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]+")
# Controls, the bidirectional overrides and isolates that reorder what a terminal shows, and lone surrogates (a
# document read from JSON may hold them; no terminal encoding can write them).
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: str) -> str:
    """One line a terminal shows as written: no escape sequences, breaks as spaces, other controls visible."""
    return _INVISIBLE.sub(_escaped, _BREAKS.sub(" ", _ANSI.sub("", value)))


def _grid(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    # Everything that could depend on the terminal or the environment is fixed: the same text everywhere.
    console = Console(
        file=out,
        width=TABLE_WIDTH,
        color_system=None,
        force_terminal=False,
        force_interactive=False,
        force_jupyter=False,
        no_color=True,
        highlight=False,
        markup=False,
        emoji=False,
        legacy_windows=False,
        soft_wrap=False,
    )
    table = Table(box=box.ASCII2, show_lines=False, expand=False, pad_edge=True)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(terminal_text(cell)) for cell in row))
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _wrapped(text: str, indent: str = "") -> list[str]:
    """Prose lines at the table's width; a word longer than a line (a digest) is kept whole."""
    return textwrap.wrap(
        terminal_text(text),
        TABLE_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def _render_table(document: Mapping[str, Any]) -> str:
    image = document["image"]
    lines = [
        *_wrapped(f"regscout image check {image['ref']}: {document['outcome'].upper()}"),
        *_wrapped(f"image {_image_name(image)} ({image['platform']})"),
        *_wrapped(f"evaluated {document['evaluated_at']}"),
    ]
    for policy in document["policies"]:
        if not policy["violations"]:
            continue
        count = len(policy["violations"])
        heading = (
            f"{policy['outcome'].upper()}  {policy['name']}  [{policy['action']}]  "
            f"{count} violation{'s' if count != 1 else ''}"
        )
        lines += [
            "",
            *_wrapped(heading),
            _grid(
                ("Policy", "Finding / subject", "Detail", "Remedy"),
                ((policy["name"], v["subject"], v["detail"], v["remedy"]) for v in policy["violations"]),
            ),
        ]
    notes = [(p["name"], note) for p in document["policies"] for note in p["notes"]]
    if notes:
        lines += ["", "Notes (not decided for want of data):"]
        for name, note in notes:
            lines += _wrapped(f"{name}: {note}", "  ")
    passed = [p["name"] for p in document["policies"] if p["outcome"] == "pass"]
    if passed or document["skipped"]:
        lines.append("")
    if passed:
        lines += _wrapped(f"Passed: {', '.join(passed)}")
    if document["skipped"]:
        lines += _wrapped("Skipped: " + ", ".join(f"{s['policy']} ({s['reason']})" for s in document["skipped"]))
    for key, title in (
        ("accepted", "Accepted findings (not evaluated)"),
        ("expired", "Expired acceptances (these findings were evaluated)"),
    ):
        items = document[key]
        if not items:
            continue
        lines += [
            "",
            f"{title}: {len(items)}",
            _grid(
                ("Finding", "Reason", "By", "Expires", "Source"),
                (
                    (
                        _finding_label(item["finding"]),
                        item["acceptance"]["reason"],
                        item["acceptance"]["by"],
                        _moment_label(item["acceptance"]["expires"], "never"),
                        item["acceptance"]["source"],
                    )
                    for item in items
                ),
            ),
        ]
    lines += ["", verdict_line(document)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- JUnit XML

# What XML 1.0 cannot carry at all, not even as a character reference (§2.2 Char).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# GitLab turns [[ATTACHMENT|path]] in system-out into a link to a job artifact; image text must not make one.
_ATTACHMENT = re.compile(r"\[\[(?=ATTACHMENT\|)", re.IGNORECASE)


def xml_text(value: str) -> str:
    """Text XML 1.0 can carry; ElementTree escapes the rest (``&``, ``<``, ``>``, quotes) as it writes."""
    return _NOT_XML.sub(_escaped, value)


def _violation_lines(policy: Mapping[str, Any]) -> str:
    lines = [f"- {v['subject']}: {v['detail']}\n  remedy: {v['remedy']}" for v in policy["violations"]]
    lines += [f"note: {note}" for note in policy["notes"]]
    return "\n".join(lines)


def _element(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _system_out(parent: ET.Element, text: str) -> None:
    _element(parent, "system-out", _ATTACHMENT.sub("[ [", text))


def _render_junit(document: Mapping[str, Any]) -> str:
    """One testsuite, one testcase per policy (classname: the image reference). A failed (block) policy is a
    ``<failure>`` listing its violations. JUnit has no warning: a warned policy is a passing testcase whose
    ``<system-out>`` lists the violations. A skipped policy is a ``<skipped>`` testcase with the reason; accepted
    and expired findings go to the suite's ``<system-out>``."""
    image = document["image"]
    ref = str(image["ref"])
    summary = document["summary"]
    tests = str(summary["policies"] + summary["skipped"])
    name = f"regscout policy check: {ref}"
    attributes = {"name": name, "tests": tests, "failures": str(summary["failed"]), "errors": "0", "time": "0"}
    root = ET.Element("testsuites", {k: xml_text(v) for k, v in attributes.items()})
    suite = _element(
        root,
        "testsuite",
        name=name,
        tests=tests,
        failures=str(summary["failed"]),
        errors="0",
        skipped=str(summary["skipped"]),
        time="0",
        timestamp=str(document["evaluated_at"]),
    )
    properties = _element(suite, "properties")
    for key, value in (
        ("image", _image_name(image)),
        ("platform", image["platform"]),
        ("outcome", document["outcome"]),
        ("exit code", str(check_exit_code(document))),
    ):
        _element(properties, "property", name=key, value=str(value))
    for policy in document["policies"]:
        case = _element(suite, "testcase", name=policy["name"], classname=ref, time="0")
        count = len(policy["violations"])
        violations = f"{count} violation{'s' if count != 1 else ''} of {policy['action']} policy {policy['name']}"
        if policy["outcome"] == "fail":
            _element(case, "failure", _violation_lines(policy), message=violations, type="block")
        elif policy["outcome"] == "warn":
            _system_out(case, f"warning: {violations}\n{_violation_lines(policy)}")
        elif policy["notes"]:
            _system_out(case, _violation_lines(policy))
    for skipped in document["skipped"]:
        case = _element(suite, "testcase", name=skipped["policy"], classname=ref, time="0")
        _element(case, "skipped", f"policy {skipped['reason']}", message=str(skipped["reason"]))
    accepted = [
        f"{title}: {_finding_label(item['finding'])}: {item['acceptance']['reason']} "
        f"(by {item['acceptance']['by']}, expires {_moment_label(item['acceptance']['expires'], 'never')}, "
        f"source {item['acceptance']['source']})"
        for key, title in (("accepted", "accepted"), ("expired", "acceptance expired"))
        for item in document[key]
    ]
    _system_out(suite, "\n".join([*accepted, verdict_line(document)]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------------------------------- SARIF


def sarif_text(value: str) -> str:
    """A SARIF message string (§3.11.5, §3.11.6): literal braces doubled, literal brackets (and a backslash before
    one) escaped, so text from the image never forms a placeholder or an embedded link."""
    value = re.sub(r"\\(?=[\[\]])", r"\\\\", value)
    value = re.sub(r"([\[\]])", r"\\\1", value)
    return value.replace("{", "{{").replace("}", "}}")


def sarif_uri(path: str) -> str:
    """A relative URI reference for an image name or a path in the image: percent-encoded, so that no colon lands
    in the first segment (GitHub rejects those) and nothing reads as a scheme."""
    return quote(_text(path).lstrip("/"), safe="/@")  # a lone surrogate has no UTF-8 form to percent-encode


_LEVEL = {"block": "error", "warn": "warning"}


def _security_severity(score: Any) -> str:
    return f"{float(score):.1f}"


def _rule_id(policy: Mapping[str, Any]) -> str:
    return f"regscout/policy/{policy['name']}"


def _rule(policy: Mapping[str, Any]) -> dict[str, Any]:
    summary = policy["description"] or f"regscout policy {policy['name']}"
    remedies = list(dict.fromkeys(v["remedy"] for v in policy["violations"]))
    shown = remedies[:_REMEDIES_IN_HELP]
    more = len(remedies) - len(shown)
    help_lines = [
        f"Policy {policy['name']} (action {policy['action']}; criteria: {', '.join(policy['criteria'])}).",
        *(f"Remedy: {r}" for r in shown),
        *([f"... and {more} more remedies."] if more else []),
    ]
    rule: dict[str, Any] = {
        "id": _rule_id(policy),
        "name": policy["name"],
        "shortDescription": {"text": sarif_text(summary)},
        "fullDescription": {"text": sarif_text(summary)},
        "help": {"text": sarif_text("\n".join(help_lines))},
        "defaultConfiguration": {"level": _LEVEL[policy["action"]]},
        "properties": {"tags": ["security", "policy", policy["action"]], "precision": "very-high"},
    }
    scores = [v["finding"]["score"] for v in policy["violations"] if v["finding"] and v["finding"]["score"] is not None]
    if scores:
        rule["properties"]["security-severity"] = _security_severity(max(scores))
    return rule


def _location(uri: str, text: str) -> dict[str, Any]:
    return {
        "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}},
        "message": {"text": sarif_text(text)},
    }


def _result(
    policy: Mapping[str, Any], index: int, violation: Mapping[str, Any], image: Mapping[str, Any]
) -> dict[str, Any]:
    finding, package = violation["finding"], violation["package"]
    path = (finding or package or {}).get("location") or ""
    locations = [_location(sarif_uri(_image_name(image)), f"image {image['ref']}")]
    if path:
        locations.append(_location(sarif_uri(path), f"{path} in image {image['ref']}"))
    properties: dict[str, Any] = {
        "policy": policy["name"],
        "action": policy["action"],
        "kind": violation["kind"],
        "criterion": violation["criterion"],
        "image": _image_name(image),
    }
    if finding is not None:
        properties.update(vulnerability=finding["id"], package=finding["package"], installedVersion=finding["version"])
        if finding["score"] is not None:
            properties["security-severity"] = _security_severity(finding["score"])
    elif package is not None:
        properties.update(package=package["name"], installedVersion=package["version"], purl=package["purl"])
    # Without the digest, so that an alert stays the same alert across rebuilds of the image.
    identity = "\0".join((policy["name"], image["registry"], image["repository"], violation["subject"]))
    return {
        "ruleId": _rule_id(policy),
        "ruleIndex": index,
        "level": _LEVEL[policy["action"]],
        "message": {
            "text": sarif_text(
                f"{violation['subject']}: {violation['detail']}. Remedy: {violation['remedy']}. "
                f"Policy {policy['name']} ({policy['action']}), image {image['ref']}."
            )
        },
        "locations": locations,
        "partialFingerprints": {"regscoutViolation/v1": hashlib.sha256(_text(identity).encode("utf-8")).hexdigest()},
        "properties": properties,
    }


def _render_sarif(document: Mapping[str, Any]) -> str:
    """One rule per evaluated policy (help: its remedies), one result per violation: level ``error`` for a block
    policy, ``warning`` for a warn policy; located at the image, and at the package's file in the image when
    known. ``security-severity`` (the CVSS score) on the results that carry a scored finding, and on the rule (the
    highest)."""
    image = document["image"]
    policies = document["policies"]
    results = [
        _result(policy, index, violation, image)
        for index, policy in enumerate(policies)
        for violation in policy["violations"]
    ]
    properties = {
        "image": _image_name(image),
        "ref": image["ref"],
        "platform": image["platform"],
        "outcome": document["outcome"],
        "evaluatedAt": document["evaluated_at"],
        "exitCode": check_exit_code(document),
    }
    log = sarif_log([_rule(policy) for policy in policies], results, properties)
    return json.dumps(log, indent=2) + "\n"
