"""The reports Harbor receives: the vulnerability report (v1.1, the same body as harbor+json 1.0) and the SBOM
report with an SPDX or CycloneDX document inside. Rendered once, when the scan ends, and stored as they are sent."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..analysis.image import ImageReport
from ..analysis.sbom import render as render_sbom
from ..vulndb.matcher import Finding
from . import mime

SCANNER = {"name": "regscout", "vendor": "regscout", "version": __version__}
# Harbor's scale; regscout's NONE (a CVSS score of 0) is what Harbor calls Negligible.
HARBOR_SEVERITY = {
    "CRITICAL": "Critical",
    "HIGH": "High",
    "MEDIUM": "Medium",
    "LOW": "Low",
    "NONE": "Negligible",
    "UNKNOWN": "Unknown",
}
HARBOR_RANK = {level: rank for rank, level in enumerate(("Unknown", "Negligible", "Low", "Medium", "High", "Critical"))}


def artifact_of(repository: str, digest: str, tag: str, mime_type: str) -> dict[str, str]:
    """The report's `artifact`: as Harbor sent it, with the Docker manifest type when Harbor sent none."""
    return {"repository": repository, "digest": digest, "tag": tag, "mime_type": mime_type or mime.DOCKER_MANIFEST}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _cvss(finding: Finding) -> dict[str, Any]:
    """preferred_cvss: the score under the CVSS version its vector names (v4 has no field in Harbor's model)."""
    vector = finding.vector or ""
    if vector.startswith("CVSS:3"):
        return {"score_v3": finding.score, "vector_v3": vector} if finding.score is not None else {"vector_v3": vector}
    if vector and not vector.startswith("CVSS:"):
        return {"score_v2": finding.score, "vector_v2": vector} if finding.score is not None else {"vector_v2": vector}
    return {}


def vulnerability_item(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": finding.id,
        "package": finding.package,
        "version": finding.version,
        "fix_version": ", ".join(finding.fixed_versions),
        "severity": HARBOR_SEVERITY.get(finding.severity, "Unknown"),
        "status": finding.fix_state,
        "description": finding.summary,
        "links": list(finding.links),
        "layer": {"digest": finding.layer_digest, "diff_id": finding.layer_diff_id},
        "cwe_ids": list(finding.cwe_ids),
        "vendor_attributes": {
            "advisories": list(finding.advisories),
            "aliases": list(finding.aliases),
            "ecosystem": finding.ecosystem,
            "purl": finding.purl,
            "location": finding.location,
            "severity_source": finding.severity_source,
        },
    }
    cvss = _cvss(finding)
    if cvss:
        item["preferred_cvss"] = cvss
    if finding.vector and finding.vector.startswith("CVSS:4") and finding.score is not None:
        item["vendor_attributes"]["cvss_v4"] = {"score": finding.score, "vector": finding.vector}
    return item


def vulnerability_report(findings: Iterable[Finding], artifact: dict[str, str]) -> dict[str, Any]:
    # Harbor keys a vulnerability by id, package and version: one item for each, the worst severity kept.
    items: dict[tuple[str, str, str], dict[str, Any]] = {}
    for finding in findings:
        item = vulnerability_item(finding)
        key = (item["id"], item["package"], item["version"])
        kept = items.get(key)
        if kept is None or HARBOR_RANK[item["severity"]] > HARBOR_RANK[kept["severity"]]:
            items[key] = item
    ordered = sorted(items.values(), key=lambda i: (-HARBOR_RANK[i["severity"]], i["id"], i["package"]))
    worst = ordered[0]["severity"] if ordered else "Unknown"
    return {
        "generated_at": _now(),
        "artifact": artifact,
        "scanner": dict(SCANNER),
        "severity": worst,
        "vulnerabilities": ordered,
    }


def sbom_report(report: ImageReport, media_type: str, registry_host: str, artifact: dict[str, str]) -> dict[str, Any]:
    document = json.loads(render_sbom(report, mime.SBOM_FORMATS[media_type], registry_host))
    return {
        "generated_at": _now(),
        "artifact": artifact,
        "scanner": dict(SCANNER),
        "vendor_attributes": {"packages": len(report.inventory.packages)},
        "media_type": media_type,
        "sbom": document,
    }
