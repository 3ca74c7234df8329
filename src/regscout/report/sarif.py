"""SARIF 2.1.0: one rule per vulnerability, one result per affected package, located at the file that
declared the package, with GitHub's `security-severity` so code-scanning ranks them."""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..analysis.image import ImageReport
from ..vulndb.matcher import Finding

LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "NONE": "note", "UNKNOWN": "note"}
DEFAULT_SCORE = {"CRITICAL": 9.5, "HIGH": 8.0, "MEDIUM": 5.5, "LOW": 2.0, "NONE": 0.0, "UNKNOWN": 0.0}


def _rule(f: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": f.id,
        "shortDescription": {"text": f.summary or f.id},
        "fullDescription": {"text": f.summary or f.id},
        "help": {
            "text": f"{f.id} ({f.severity}). Advisories: {', '.join(f.advisories)}. Links: {', '.join(f.links[:5])}"
        },
        "properties": {
            "security-severity": f"{f.score if f.score is not None else DEFAULT_SCORE[f.severity]:.1f}",
            "tags": ["vulnerability", "security", f.severity],
            "precision": "very-high",
        },
    }
    if f.links:
        rule["helpUri"] = f.links[0]
    return rule


def render_sarif(report: ImageReport, findings: list[Finding], registry_host: str) -> str:
    artifact = f"{registry_host}/{report.details.repository}@{report.details.digest}"
    rules: dict[str, int] = {}
    rule_list: list[dict[str, Any]] = []
    results = []
    for f in findings:
        if f.id not in rules:
            rules[f.id] = len(rule_list)
            rule_list.append(_rule(f))
        fixed = f"fixed in {', '.join(f.fixed_versions)}" if f.fixed_versions else f.fix_state
        results.append(
            {
                "ruleId": f.id,
                "ruleIndex": rules[f.id],
                "level": LEVEL[f.severity],
                "message": {
                    "text": f"{f.package} {f.version} ({f.ecosystem}) is affected by {f.id}, severity "
                    f"{f.severity}; {fixed}. Image {artifact}, layer {f.layer_index}."
                },
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": f.location}, "region": {"startLine": 1}},
                        "message": {"text": artifact},
                    }
                ],
                "properties": {
                    "package": f.package,
                    "installedVersion": f.version,
                    "fixedVersions": list(f.fixed_versions),
                    "fixState": f.fix_state,
                    "purl": f.purl,
                    "layerDigest": f.layer_digest,
                },
            }
        )
    document = sarif_log(rule_list, results, {"image": artifact, "platform": report.details.platform})
    return json.dumps(document, indent=2)


def sarif_log(rules: list[dict[str, Any]], results: list[dict[str, Any]], properties: dict[str, Any]) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one run of regscout (the vulnerability report and the policy check share it)."""
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "regscout",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://regscout.invalid/docs",
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": properties,
            }
        ],
    }
