"""`regscout accept …`: risk acceptances. An accepted finding is shown as accepted and takes no part in the
policies until the acceptance expires or is revoked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..policy import Acceptance
from ..policy.ignore import parse_ignore_file
from ..policy.model import parse_acceptance
from ..policy.vex import parse_openvex
from ..registries.reference import parse_reference
from ..runtime import Runtime
from ..services.audit import Actor
from .output import console, err_console, handle_errors, print_json
from .policy import reevaluate

app = typer.Typer(help="Risk acceptances: accept a vulnerability for an image, a repository, a registry or everywhere.")


def _scope(digest: str | None, repository: str | None, registry: str | None, everywhere: bool) -> dict[str, Any]:
    given = [name for name, value in (("--digest", digest), ("--repository", repository)) if value]
    if everywhere:
        given.append("--everywhere")
    if len(given) > 1 or (registry and (everywhere or repository)):
        raise ValueError(f"give one scope, not {' and '.join(given + (['--registry'] if registry else []))}")
    if digest:
        return {"scope": "image", "digest": digest, **({"registry": registry} if registry else {})}
    if repository:
        reference = parse_reference(repository)
        if reference.tag is not None or reference.digest is not None:
            raise ValueError(f"--repository {repository}: name a repository (HOST/PATH), without a tag or digest")
        return {"scope": "repository", "registry": reference.registry_host, "repository": reference.repository}
    if registry:
        return {"scope": "registry", "registry": registry}
    if everywhere:
        return {"scope": "everywhere"}
    raise ValueError("say where it is accepted: --digest, --repository HOST/PATH, --registry HOST or --everywhere")


@app.command("add")
@handle_errors
def add(
    vulnerability: Annotated[str, typer.Argument(help="CVE-…, GHSA-… or any advisory id")],
    reason: Annotated[str, typer.Option(help="Why the risk is accepted (kept with the acceptance)")],
    digest: Annotated[str | None, typer.Option(help="For this image only (sha256:…)")] = None,
    repository: Annotated[
        str | None, typer.Option(help="For a repository: HOST/PATH (docker.io/library/nginx)")
    ] = None,
    registry: Annotated[str | None, typer.Option(help="For a registry host (with --digest: that image there)")] = None,
    everywhere: Annotated[bool, typer.Option("--everywhere", help="For every image")] = False,
    expires: Annotated[str | None, typer.Option(help="YYYY-MM-DD (start of that day, UTC) or a time with zone")] = None,
    purl: Annotated[list[str] | None, typer.Option(help="Only in this package (package URL); repeatable")] = None,
    path: Annotated[list[str] | None, typer.Option(help="Only at this file path (glob); repeatable")] = None,
) -> None:
    """Accept a vulnerability."""
    actor = Actor.cli()
    values: dict[str, Any] = {
        "vulnerability": vulnerability,
        "reason": reason,
        "by": actor.name,
        "expires": expires,
        "purls": purl or [],
        "paths": path or [],
        **_scope(digest, repository, registry, everywhere),
    }
    runtime = Runtime.from_env()
    view = runtime.acceptances.add(parse_acceptance(values), actor=actor)
    console.print(f"accepted {escape(view.acceptance.vulnerability)} as acceptance {view.id}")
    reevaluate(runtime, "acceptances")


@app.command("import")
@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="A .regscoutignore (Trivy's .trivyignore forms) or an OpenVEX document")],
    vex: Annotated[bool, typer.Option("--vex", help="The file is OpenVEX (else: by its content)")] = False,
) -> None:
    """Store the acceptances of an ignore file (for every image) or a VEX document (for its products)."""
    acceptances = read_acceptances(file, vex=vex)
    runtime = Runtime.from_env()
    actor = Actor.cli()
    for acceptance in acceptances:
        view = runtime.acceptances.add(acceptance, actor=actor)
        console.print(f"accepted {escape(acceptance.vulnerability)} as acceptance {view.id}")
    if acceptances:
        reevaluate(runtime, "acceptances")
    else:
        err_console.print(f"{file} accepts nothing")


def read_acceptances(file: Path, *, vex: bool = False) -> list[Acceptance]:
    """An ignore file or an OpenVEX document (JSON with an OpenVEX @context) as acceptances."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc.strerror}") from None
    if vex or text.lstrip().startswith("{"):
        result = parse_openvex(text, source=str(file))
        for skipped in result.skipped:
            err_console.print(f"[yellow]{file}:[/] {escape(skipped)}")
        return list(result.acceptances)
    return parse_ignore_file(file.name, text)


@app.command("list")
@handle_errors
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Revoked ones too")] = False,
    vulnerability: Annotated[str | None, typer.Option(help="Only for this id")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> None:
    """The acceptances, active and expired (and revoked with --all)."""
    views = Runtime.from_env().acceptances.list_all(include_revoked=all_, vulnerability=vulnerability)
    now = datetime.now(UTC)
    if fmt == "json":
        print_json([v.as_json(now) for v in views])
        return
    if fmt != "table":
        raise ValueError("--format must be table or json")
    table = Table("id", "vulnerability", "where", "state", "expires", "by", "reason")
    for view in views:
        a = view.acceptance
        where = {
            "image": f"image {a.digest}",
            "repository": f"{a.registry}/{a.repository}",
            "registry": f"registry {a.registry}",
        }.get(a.scope, "everywhere")
        table.add_row(
            str(view.id),
            escape(a.vulnerability),
            escape(where),
            view.state(now),
            a.expires.strftime("%Y-%m-%d %H:%M") if a.expires else "never",
            escape(view.created_by),
            escape(a.reason),
        )
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(ident: Annotated[int, typer.Argument(help="The acceptance's id (accept list)")]) -> None:
    """End an acceptance now: its findings count again."""
    runtime = Runtime.from_env()
    view = runtime.acceptances.revoke(ident, actor=Actor.cli())
    console.print(f"revoked acceptance {view.id} ({escape(view.acceptance.vulnerability)})")
    reevaluate(runtime, "acceptances")
