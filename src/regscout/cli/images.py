"""`regscout sbom` and `regscout image-info`: analyse one image straight from its registry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from ..analysis.image import ImageReport, ProgressCallback
from ..report.writer import rendered
from ..runtime import Runtime
from ..services.images import ResolvedImage
from .output import check_output, console, emit, err_console, handle_errors, print_json

RefArg = Annotated[str, typer.Argument(help="host[:port]/repository:tag or …@sha256:…")]
RegistryOpt = Annotated[str | None, typer.Option("--registry", help="Integration whose credentials to use")]
PlatformOpt = Annotated[str | None, typer.Option("--platform", help="OS/ARCH[/VARIANT] from a multi-arch index")]


@contextmanager
def progress_bars() -> Iterator[ProgressCallback]:
    """Rich progress bars, one per layer while it streams (only on a terminal)."""
    columns = (TextColumn("layer {task.fields[layer]}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        tasks: dict[int, TaskID] = {}

        def progress(index: int, done: int, total: int) -> None:
            if index not in tasks:
                tasks[index] = bar.add_task("", total=total, layer=index)
            bar.update(tasks[index], completed=done)

        yield progress


def analyze_with_progress(ref: str, registry: str | None, platform: str | None) -> tuple[ResolvedImage, ImageReport]:
    runtime = Runtime.from_env()
    with progress_bars() as progress:
        return asyncio.run(runtime.images.analyze(ref, registry=registry, platform=platform, progress=progress))


def sbom(
    ref: RefArg,
    registry: RegistryOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="cyclonedx, spdx or json")] = "cyclonedx",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout")] = None,
    platform: PlatformOpt = None,
) -> None:
    """Write an SBOM of an image (CycloneDX 1.6 JSON, SPDX 2.3 JSON, or regscout JSON)."""
    from ..analysis.sbom import FORMATS, render

    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
    check_output(output)
    resolved, report = analyze_with_progress(ref, registry, platform)
    host = resolved.reference.registry_host
    image = f"{host}/{report.details.repository}@{report.details.digest}"
    document = rendered(image, fmt, lambda: render(report, fmt, host) + "\n")
    emit(document, output, image=image, fmt=fmt)
    if output is not None:
        err_console.print(f"wrote the {fmt} SBOM of {image} to {output}")
    stats = report.stats
    err_console.print(
        f"{len(report.inventory.packages)} packages; {stats.layers} layers, {stats.layers_from_cache} from cache, "
        f"{stats.bytes_fetched} bytes fetched ({resolved.source})"
    )


def image_info(
    ref: RefArg,
    registry: RegistryOpt = None,
    platform: PlatformOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show an image's details: OS, layers with the history line that made each, config, packages."""
    from ..analysis.sbom import native

    resolved, report = analyze_with_progress(ref, registry, platform)
    if as_json:
        print_json(native(report))
        return
    details, inventory = report.details, report.inventory
    summary = Table(show_header=False, box=None)
    os_text = inventory.os.pretty_name or f"{inventory.os.id} {inventory.os.version_id}" if inventory.os else "unknown"
    for key, value in [
        ("image", f"{resolved.reference.registry_host}/{details.repository}@{details.digest}"),
        ("platform", details.platform + (f" (from index {details.index_digest})" if details.index_digest else "")),
        ("created", details.created.isoformat() if details.created else "—"),
        ("os", os_text),
        ("size", f"{details.total_size:,} bytes compressed in {len(details.layers)} layers"),
        ("user", details.user or "root (not set)"),
        ("entrypoint", " ".join(details.entrypoint) or "—"),
        ("cmd", " ".join(details.cmd) or "—"),
        ("workdir", details.working_dir or "—"),
        ("ports", ", ".join(details.exposed_ports) or "—"),
        ("env", ", ".join(f"{k}={v}" for k, v in details.env.items()) or "—"),
        ("labels", ", ".join(f"{k}={v}" for k, v in details.labels.items()) or "—"),
    ]:
        summary.add_row(f"[bold]{key}[/]", value)
    console.print(summary)
    layers = Table("#", "digest", "size", "created by")
    for layer in details.layers:
        layers.add_row(str(layer.index), layer.digest[:19], f"{layer.size:,}", layer.created_by[:100])
    console.print(layers)
    counts: dict[str, int] = {}
    for found in inventory.packages:
        counts[found.package.ecosystem] = counts.get(found.package.ecosystem, 0) + 1
    console.print("packages: " + (", ".join(f"{n} {eco}" for eco, n in sorted(counts.items())) or "none found"))
    if details.dockerfile:
        console.print("[bold]history as a Dockerfile[/]")
        for line in details.dockerfile:
            console.print(f"  {line}", highlight=False, markup=False)


sbom_command = handle_errors(sbom)
image_info_command = handle_errors(image_info)
