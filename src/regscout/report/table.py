"""The terminal table: one row per finding, severity in colour, a summary line."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..analysis.image import ImageReport
from ..vulndb.matcher import Finding
from ..vulndb.severity import LEVELS

COLOURS = {"CRITICAL": "bold red", "HIGH": "red", "MEDIUM": "yellow", "LOW": "cyan", "NONE": "dim", "UNKNOWN": "dim"}


def summary_line(findings: list[Finding]) -> str:
    counts = {level: sum(1 for f in findings if f.severity == level) for level in LEVELS if level != "NONE"}
    return f"Total: {len(findings)} (" + ", ".join(f"{level}: {n}" for level, n in counts.items()) + ")"


def render_table(console: Console, report: ImageReport, findings: list[Finding], registry_host: str) -> None:
    details = report.details
    os = report.inventory.os
    title = (
        f"{registry_host}/{details.repository}@{details.digest[:19]} ({os.id} {os.version_id})"
        if os
        else (f"{registry_host}/{details.repository}@{details.digest[:19]}")
    )
    table = Table(title=title, title_justify="left")
    for column in ("Package", "Vulnerability", "Severity", "Status", "Installed", "Fixed", "Title"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(
            f.package,
            f.id,
            f"[{COLOURS[f.severity]}]{f.severity}[/]",
            f.fix_state,
            f.version,
            ", ".join(f.fixed_versions) or "—",
            f.summary[:80],
        )
    console.print(table)
    console.print(summary_line(findings))
