"""`regscout image check REF`: the CI gate, as `roxctl image check`. Exit 1 when a block policy fails, 0 otherwise
(warn policies included), 2 when the check could not be made.

Locally it scans with this machine's database and vulnerability data; with ``--server`` the server scans and
evaluates (the CI job needs no database), and the document it answers is rendered here."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import httpx
import typer

from ..policy import Acceptance, Subject, evaluate
from ..report.check import check_exit_code, render_check
from ..secrets import redact
from .accept import read_acceptances
from .images import PlatformOpt, RefArg, RegistryOpt, progress_bars
from .output import check_output, emit, err_console, fail, handle_errors

if TYPE_CHECKING:
    from ..services.scan import ScanOutcome

EXIT_CHECK_ERROR = 2
CHECK_FORMATS = ("table", "json", "junit", "sarif")
DEFAULT_IGNORE_FILE = ".regscoutignore"
SERVER_TIMEOUT = httpx.Timeout(900.0, connect=15.0)  # the server pulls and analyses the image while we wait

IgnoreFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--ignore-file",
        help=f"Accepted vulnerabilities, Trivy's .trivyignore forms (default: {DEFAULT_IGNORE_FILE} when present)",
    ),
]
VexOpt = Annotated[list[Path] | None, typer.Option("--vex", help="An OpenVEX document; repeatable")]


def local_acceptances(ignore_file: Path | None, vex: list[Path] | None) -> list[Acceptance]:
    """What ``--ignore-file`` and ``--vex`` accept; ``.regscoutignore`` in the working directory by default."""
    if ignore_file is None and Path(DEFAULT_IGNORE_FILE).is_file():
        ignore_file = Path(DEFAULT_IGNORE_FILE)
    acceptances = read_acceptances(ignore_file) if ignore_file is not None else []
    for document in vex or ():
        acceptances.extend(read_acceptances(document, vex=True))
    return acceptances


def accepted_findings(outcome: ScanOutcome, acceptances: Sequence[Acceptance]) -> set[tuple[str, ...]]:
    """The keys of the scan's findings that the acceptances accept (now: expired ones accept nothing)."""
    details = outcome.report.details
    subject = Subject(
        outcome.resolved.reference.registry_host,
        details.repository,
        outcome.resolved.reference.tag or "",
        details.digest,
        outcome.report.inventory,
        outcome.findings,
        details,
    )
    evaluation = evaluate([], subject, acceptances, datetime.now(UTC))
    return {item.finding.key for item in evaluation.accepted}


def gate(func: Callable[..., int]) -> Callable[..., None]:
    """Errors exit 2 (whatever code they would have elsewhere), so 1 always means a block policy failed."""
    guarded = handle_errors(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = guarded(*args, **kwargs)
        except typer.Exit as exc:
            raise typer.Exit(EXIT_CHECK_ERROR if exc.exit_code else 0) from None
        except Exception as exc:  # noqa: BLE001 - anything unforeseen is "could not check" (2), never "passed"
            fail(f"the check failed: {exc}", EXIT_CHECK_ERROR)
        raise typer.Exit(code)

    return wrapper


def _from_server(server: str, token_env: str | None, body: dict[str, Any], ca_file: Path | None) -> dict[str, Any]:
    if token_env is None:
        raise ValueError("--server needs --token-env NAME: the environment variable holding the API token")
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise ValueError(f"the environment variable {token_env} (from --token-env) is empty or not set")
    url = server.rstrip("/") + "/api/v1/check"
    verify: str | bool = str(ca_file) if ca_file is not None else True
    try:
        response = httpx.post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=SERVER_TIMEOUT, verify=verify
        )
    except httpx.HTTPError as exc:
        raise ValueError(f"cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:500]
        raise ValueError(f"{url} answered {response.status_code}: {detail}")
    document = response.json()
    if not isinstance(document, dict) or "outcome" not in document:
        raise ValueError(f"{url} did not answer a check document")
    return cast(dict[str, Any], document)


@gate
def check(
    ref: RefArg,
    registry: RegistryOpt = None,
    platform: PlatformOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, junit or sarif")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file")] = None,
    ignore_file: IgnoreFileOpt = None,
    vex: VexOpt = None,
    server: Annotated[str | None, typer.Option(help="Check through this regscout server (https://…)")] = None,
    token_env: Annotated[
        str | None, typer.Option("--token-env", help="With --server: the environment variable holding the token")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="With --server: trust this CA (PEM)")] = None,
) -> int:
    """Evaluate the enabled policies on an image: exit 1 when a block policy fails, 0 otherwise, 2 on error."""
    if fmt not in CHECK_FORMATS:
        raise ValueError(f"--format must be one of {', '.join(CHECK_FORMATS)}")
    check_output(output)
    acceptances = local_acceptances(ignore_file, vex)
    if server is not None:
        body = {
            "image": ref,
            "registry": registry,
            "platform": platform,
            "acceptances": [a.model_dump(mode="json") for a in acceptances],
        }
        document = _from_server(server, token_env, body, ca_file)
    else:
        from ..runtime import Runtime

        runtime = Runtime.from_env()
        if runtime.vulndb.is_empty():
            err_console.print("[yellow]warning:[/] the vulnerability database is empty: run `regscout db update`")
        with progress_bars() as progress:
            document = asyncio.run(
                runtime.check.check(
                    ref, registry=registry, platform=platform, acceptances=acceptances, progress=progress
                )
            )
    text = render_check(document, cast(Literal["table", "json", "junit", "sarif"], fmt))
    image = str(document.get("image", {}).get("ref", ref))
    emit(text if text.endswith("\n") else text + "\n", output, image=redact(image), fmt=fmt)
    if output:
        err_console.print(f"wrote the {fmt} check of {image} to {output}: {document['outcome']}")
    return check_exit_code(document)
