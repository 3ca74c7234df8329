"""The image's CycloneDX SBOM with its vulnerabilities, each pointing at the affected component."""

from __future__ import annotations

from decimal import Decimal

from cyclonedx.model import XsUri
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
)
from cyclonedx.output.json import JsonV1Dot6

from ..analysis.image import ImageReport
from ..analysis.sbom import cyclonedx_bom
from ..vulndb.matcher import Finding

METHODS = {
    "cvss_v3": VulnerabilityScoreSource.CVSS_V3_1,
    "cvss_v4": VulnerabilityScoreSource.CVSS_V4,
    "cvss_v2": VulnerabilityScoreSource.CVSS_V2,
}


def _severity(level: str) -> VulnerabilitySeverity:
    return {
        "CRITICAL": VulnerabilitySeverity.CRITICAL,
        "HIGH": VulnerabilitySeverity.HIGH,
        "MEDIUM": VulnerabilitySeverity.MEDIUM,
        "LOW": VulnerabilitySeverity.LOW,
        "NONE": VulnerabilitySeverity.NONE,
    }.get(level, VulnerabilitySeverity.UNKNOWN)


def render_cyclonedx(report: ImageReport, findings: list[Finding], registry_host: str) -> str:
    bom, components = cyclonedx_bom(report, registry_host)
    by_key = {
        found.package.key(): component for found, component in zip(report.inventory.packages, components, strict=True)
    }
    for number, f in enumerate(findings):
        component = by_key.get((f.ecosystem, f.package, f.version, f.location))
        rating = VulnerabilityRating(
            score=Decimal(str(f.score)) if f.score is not None else None,
            severity=_severity(f.severity),
            method=METHODS.get(f.severity_source, VulnerabilityScoreSource.OTHER),
            vector=f.vector,
        )
        cwes = [int(c.split("-")[1]) for c in f.cwe_ids if c.startswith("CWE-") and c.split("-")[1].isdigit()]
        vulnerability = Vulnerability(
            bom_ref=f"vuln:{f.id}:{number}",
            id=f.id,
            description=f.summary or None,
            ratings=[rating],
            cwes=cwes,
            recommendation=f"Upgrade {f.package} to {', '.join(f.fixed_versions)}" if f.fixed_versions else None,
            advisories=[VulnerabilityAdvisory(url=XsUri(link)) for link in f.links[:5]],
            affects=[BomTarget(ref=component.bom_ref.value)]
            if component is not None and component.bom_ref.value
            else [],
        )
        bom.vulnerabilities.add(vulnerability)
    return str(JsonV1Dot6(bom).output_as_string(indent=2))
