"""Every vulnerability report format as text: one place that maps a format name to its writer."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from ..analysis.image import ImageReport
from ..analysis.sbom import render as render_sbom
from ..vulndb.matcher import Finding
from .cyclonedx_vulns import render_cyclonedx
from .json_report import render_json
from .sarif import render_sarif
from .table import render_table

Writer = Callable[[ImageReport, list[Finding], str], str]

DOCUMENT_WRITERS: dict[str, Writer] = {
    "json": render_json,
    "sarif": render_sarif,
    "cyclonedx": render_cyclonedx,
    "spdx": lambda report, _findings, host: render_sbom(report, "spdx", host),
}


def render_report(fmt: str, report: ImageReport, findings: list[Finding], host: str, console: Console) -> str:
    """The report as text; `console` sets the table's width and colours (a terminal's, or plain for a file)."""
    if fmt == "table":
        with console.capture() as captured:
            render_table(console, report, findings, host)
        return captured.get()
    return DOCUMENT_WRITERS[fmt](report, findings, host) + "\n"
