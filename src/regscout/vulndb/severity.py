"""Severity of an advisory for a package: scored from CVSS vectors with `cvss`, else the source's
own word (GHSA severity, Debian urgency, Ubuntu priority)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN")
RANK = {level: index for index, level in enumerate(LEVELS)}
# CVSS v3 first: the version most sources score with, so levels compare across ecosystems.
CVSS_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")
VENDOR_WORDS = {
    "critical": "CRITICAL",
    "important": "HIGH",
    "high": "HIGH",
    "moderate": "MEDIUM",
    "medium": "MEDIUM",
    "low": "LOW",
    "negligible": "LOW",
    "unimportant": "LOW",
    "none": "NONE",
}


@dataclass(frozen=True)
class Severity:
    level: str  # one of LEVELS
    score: float | None = None
    vector: str | None = None
    source: str = "unknown"  # "cvss_v3", "cvss_v4", "cvss_v2", "vendor", "unknown"


UNKNOWN = Severity("UNKNOWN")


@functools.lru_cache(maxsize=65536)
def score_vector(kind: str, vector: str) -> Severity | None:
    """Parsing a vector costs ~40 µs and the same vectors recur across thousands of advisories."""
    try:
        if kind == "CVSS_V3":
            v3 = CVSS3(vector)
            return Severity(str(v3.severities()[0]).upper(), float(v3.scores()[0]), vector, "cvss_v3")
        if kind == "CVSS_V4":
            v4 = CVSS4(vector)
            return Severity(str(v4.severity).upper(), float(v4.base_score), vector, "cvss_v4")
        if kind == "CVSS_V2":
            v2 = CVSS2(vector)
            base = float(v2.scores()[0])
            level = "HIGH" if base >= 7.0 else "MEDIUM" if base >= 4.0 else "LOW"
            return Severity(level, base, vector, "cvss_v2")
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return None


def _from_entries(entries: Sequence[Any]) -> Severity | None:
    by_kind = {str(e.get("type")): str(e.get("score", "")) for e in entries if isinstance(e, Mapping)}
    for kind in CVSS_PREFERENCE:
        if kind in by_kind:
            scored = score_vector(kind, by_kind[kind])
            if scored is not None:
                return scored
    ubuntu = by_kind.get("Ubuntu")
    if ubuntu and ubuntu.lower() in VENDOR_WORDS:
        return Severity(VENDOR_WORDS[ubuntu.lower()], source="vendor")
    return None


def _vendor_word(*blocks: Any) -> Severity | None:
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        for key in ("severity", "urgency", "ubuntu_priority", "priority"):
            word = block.get(key)
            if isinstance(word, str) and word.strip().rstrip("*").lower() in VENDOR_WORDS:
                return Severity(VENDOR_WORDS[word.strip().rstrip("*").lower()], source="vendor")
    return None


def severity_of(record: Mapping[str, Any], affected: Mapping[str, Any]) -> Severity:
    """The affected entry's own severity overrides the record's (OSV schema)."""
    for entries in (affected.get("severity"), record.get("severity")):
        if entries and isinstance(entries, list) and (found := _from_entries(entries)) is not None:
            return found
    return (
        _vendor_word(
            affected.get("ecosystem_specific"), affected.get("database_specific"), record.get("database_specific")
        )
        or UNKNOWN
    )
