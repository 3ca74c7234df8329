"""`regscout image REF`: scan one image and report, like `trivy image`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..analysis.sbom import render as render_sbom
from ..report import FORMATS, filter_findings, parse_severities
from ..report.cyclonedx_vulns import render_cyclonedx
from ..report.json_report import render_json
from ..report.sarif import render_sarif
from ..report.table import render_table
from ..runtime import Runtime
from .images import PlatformOpt, RefArg, RegistryOpt, progress_bars
from .output import console, err_console


def image(
    ref: RefArg,
    registry: RegistryOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, sarif, cyclonedx or spdx")] = "table",
    severity: Annotated[str | None, typer.Option(help="Only these, e.g. CRITICAL,HIGH")] = None,
    ignore_unfixed: Annotated[bool, typer.Option("--ignore-unfixed", help="Only findings with a fix")] = False,
    exit_code: Annotated[int, typer.Option("--exit-code", help="Exit with this code when findings remain")] = 0,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file")] = None,
    platform: PlatformOpt = None,
) -> None:
    """Scan an image for known vulnerabilities; the result is stored per image digest."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    severities = parse_severities(severity)
    runtime = Runtime.from_env()
    if runtime.vulndb.is_empty():
        err_console.print(
            "[yellow]warning:[/] the vulnerability database is empty: run `regscout db update` "
            "(or `regscout db import FILE` where there is no network)"
        )
    with progress_bars() as progress:
        outcome = asyncio.run(runtime.scans.scan(ref, registry=registry, platform=platform, progress=progress))
    shown = filter_findings(outcome.findings, severities, ignore_unfixed)
    host = outcome.resolved.reference.registry_host
    if fmt == "table" and output:
        with output.open("w") as handle:
            render_table(Console(file=handle, width=200), outcome.report, shown, host)
    elif fmt == "table":
        render_table(console, outcome.report, shown, host)
    else:
        text = {
            "json": lambda: render_json(outcome.report, shown, host),
            "sarif": lambda: render_sarif(outcome.report, shown, host),
            "cyclonedx": lambda: render_cyclonedx(outcome.report, shown, host),
            "spdx": lambda: render_sbom(outcome.report, "spdx", host),
        }[fmt]()
        if output:
            output.write_text(text + "\n")
        else:
            sys.stdout.write(text + "\n")
    if output:
        err_console.print(f"wrote the {fmt} report to {output}")
    if exit_code and shown:
        raise typer.Exit(exit_code)
