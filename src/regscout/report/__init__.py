"""Vulnerability reports: table, JSON, SARIF 2.1.0 and CycloneDX with vulnerabilities."""

from __future__ import annotations

from collections.abc import Iterable

from ..vulndb.matcher import Finding
from ..vulndb.severity import LEVELS

FORMATS = ("table", "json", "sarif", "cyclonedx", "spdx")


def parse_severities(text: str | None) -> set[str] | None:
    if not text:
        return None
    wanted = {part.strip().upper() for part in text.split(",") if part.strip()}
    unknown = wanted - set(LEVELS)
    if unknown:
        raise ValueError(f"unknown severity {', '.join(sorted(unknown))}; use {','.join(LEVELS)}")
    return wanted


def filter_findings(findings: Iterable[Finding], severities: set[str] | None, ignore_unfixed: bool) -> list[Finding]:
    return [
        f
        for f in findings
        if (severities is None or f.severity in severities) and (not ignore_unfixed or f.fix_state == "fixed")
    ]
