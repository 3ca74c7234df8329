"""regscout's JSON report: the image, its OS, every finding with every field, and a summary."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from typing import Any

from ..analysis.image import ImageReport
from ..jsonable import plain
from ..vulndb.matcher import Finding


def summary(findings: list[Finding]) -> dict[str, int]:
    return dict(Counter(f.severity for f in findings))


def render_json(report: ImageReport, findings: list[Finding], registry_host: str) -> str:
    document: dict[str, Any] = {
        "artifact": f"{registry_host}/{report.details.repository}@{report.details.digest}",
        "image": plain(report.details),
        "os": plain(report.inventory.os),
        "packages": len(report.inventory.packages),
        "summary": summary(findings),
        "findings": [asdict(f) for f in findings],
    }
    return json.dumps(document, indent=2, sort_keys=True)
