"""A stored result as the console lists and searches it: its OS and counts as columns, each finding as a row, and
the day's open findings per severity. Built from the stored JSON, so the migration that indexes old results and
every new save share it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from ..store.results_models import FindingsDaily, ImageFinding, ScanResult

# The result's severity columns; NONE and UNKNOWN count as "other".
SEVERITY_COLUMNS = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low"}
DAILY_SEVERITIES = ("critical", "high", "medium", "low", "other")


def os_name(inventory: Mapping[str, Any]) -> str:
    os = inventory.get("os") or {}
    name = os.get("pretty_name") or " ".join(p for p in (os.get("name") or os.get("id"), os.get("version_id")) if p)
    return str(name)[:200]


def result_columns(inventory: Mapping[str, Any], findings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The columns of ScanResult that lists filter and sort on."""
    counts = dict.fromkeys(DAILY_SEVERITIES, 0)
    fixable = 0
    for finding in findings:
        counts[SEVERITY_COLUMNS.get(str(finding.get("severity")), "other")] += 1
        fixable += 1 if finding.get("fixed_versions") else 0
    return {"os": os_name(inventory), "packages": len(inventory.get("packages") or ()), "fixable": fixable, **counts}


def finding_rows(result_id: int, findings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "result_id": result_id,
            "vuln_id": str(f["id"])[:100],
            "package": str(f["package"])[:300],
            "version": str(f["version"])[:200],
            "ecosystem": str(f.get("ecosystem", ""))[:40],
            "severity": str(f.get("severity", "UNKNOWN"))[:10],
            "score": f.get("score"),
            "fix_state": str(f.get("fix_state", "unknown"))[:20],
            "fixed_versions": ", ".join(f.get("fixed_versions") or ()),
        }
        for f in findings
    ]


def reindex(session: Session, row: ScanResult, inventory: Mapping[str, Any], findings: list[dict[str, Any]]) -> None:
    """Replace the result's finding rows and columns (its row must have an id: flush first)."""
    for name, value in result_columns(inventory, findings).items():
        setattr(row, name, value)
    session.execute(delete(ImageFinding).where(ImageFinding.result_id == row.id))
    rows = finding_rows(row.id, findings)
    if rows:
        session.execute(insert(ImageFinding), rows)


def record_today(session: Session, now: datetime | None = None) -> None:
    """Today's open findings per severity over all stored images (sums of indexed columns), replacing what an
    earlier write today recorded. Concurrent writers each write a complete day; the last one stays."""
    today = (now or datetime.now(UTC)).date()
    columns = [getattr(ScanResult, name) for name in DAILY_SEVERITIES]
    totals = session.execute(
        select(*(func.coalesce(func.sum(c), 0) for c in columns), *(func.count().filter(c > 0) for c in columns))
    ).one()
    session.execute(delete(FindingsDaily).where(FindingsDaily.day == today))
    session.add_all(
        FindingsDaily(day=today, severity=name, count=int(totals[i]), images=int(totals[i + len(columns)]))
        for i, name in enumerate(DAILY_SEVERITIES)
    )
