"""`regscout image REF`: scan one image and report, like `trivy image`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..report import FORMATS, filter_findings, parse_severities
from ..report.writer import rendered
from ..runtime import Runtime
from .check import IgnoreFileOpt, VexOpt, accepted_findings, local_acceptances
from .images import PlatformOpt, RefArg, RegistryOpt, progress_bars
from .output import check_output, console, emit, err_console


def image(
    ref: RefArg,
    registry: RegistryOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, sarif, cyclonedx or spdx")] = "table",
    severity: Annotated[str | None, typer.Option(help="Only these, e.g. CRITICAL,HIGH")] = None,
    ignore_unfixed: Annotated[bool, typer.Option("--ignore-unfixed", help="Only findings with a fix")] = False,
    exit_code: Annotated[int, typer.Option("--exit-code", help="Exit with this code when findings remain")] = 0,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file")] = None,
    platform: PlatformOpt = None,
    ignore_file: IgnoreFileOpt = None,
    vex: VexOpt = None,
) -> None:
    """Scan an image for known vulnerabilities; the result is stored per image digest. Findings that the ignore
    file or a VEX document accepts are left out of the report (and said so on stderr)."""
    from ..report.formats import render_report  # the writers' libraries load only when a report is written

    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    check_output(output)
    severities = parse_severities(severity)
    acceptances = local_acceptances(ignore_file, vex)
    runtime = Runtime.from_env()
    if runtime.vulndb.is_empty():
        err_console.print(
            "[yellow]warning:[/] the vulnerability database is empty: run `regscout db update` "
            "(or `regscout db import FILE` where there is no network)"
        )
    with progress_bars() as progress:
        outcome = asyncio.run(runtime.scans.scan(ref, registry=registry, platform=platform, progress=progress))
    findings = outcome.findings
    if acceptances:
        accepted = accepted_findings(outcome, acceptances)
        findings = [f for f in findings if f.key not in accepted]
        if accepted:
            err_console.print(f"{len(accepted)} findings accepted by --ignore-file/--vex are not reported")
    shown = filter_findings(findings, severities, ignore_unfixed)
    host = outcome.resolved.reference.registry_host
    image = f"{host}/{outcome.report.details.repository}@{outcome.report.details.digest}"
    table_console = Console(width=200, color_system=None) if output else console
    text = rendered(image, fmt, lambda: render_report(fmt, outcome.report, shown, host, table_console))
    emit(text, output, image=image, fmt=fmt)
    if output:
        err_console.print(f"wrote the {fmt} report of {image} to {output}")
    if exit_code and shown:
        raise typer.Exit(exit_code)
