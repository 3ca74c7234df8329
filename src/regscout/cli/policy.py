"""`regscout policy …`: the stored policies. Every change re-evaluates the stored images at once (from their stored
results; nothing is pulled) and says how many verdicts changed."""

from __future__ import annotations

import sys
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from ..policy import dump_policies, load_policies
from ..runtime import Runtime
from ..services.audit import Actor
from .output import console, err_console, handle_errors, print_json

app = typer.Typer(help="Policies: what images must (block) or should (warn) not be.", no_args_is_help=True)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json")]
DocumentFormatOpt = Annotated[str, typer.Option("--format", "-f", help="yaml or json")]


def _document_format(fmt: str) -> Literal["yaml", "json"]:
    if fmt not in ("yaml", "json"):
        raise ValueError("--format must be yaml or json")
    return "yaml" if fmt == "yaml" else "json"


def reevaluate(
    runtime: Runtime, cause: Literal["policies", "acceptances"], policies: Collection[str] | None = None
) -> None:
    """Shared by the policy and acceptance commands: only the named policies when given, else all."""
    summary = runtime.verdicts.reevaluate_all(cause, policies=policies)
    err_console.print(
        f"re-evaluated {summary.images} stored images in {summary.seconds:.1f} s: "
        f"{summary.events} verdicts changed on {summary.changed} images"
    )


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


@app.command("list")
@handle_errors
def list_(fmt: FormatOpt = "table") -> None:
    """The policies in evaluation order, with how many stored images each fails or warns on."""
    runtime = Runtime.from_env()
    views = runtime.policies.list_all()
    counts = runtime.verdicts.counts()
    if fmt == "json":
        print_json([{**v.as_json(), "images": counts.get(v.name, {})} for v in views])
        return
    if fmt != "table":
        raise ValueError("--format must be table or json")
    table = Table("name", "enabled", "action", "scope", "criteria", "failing", "warning")
    for view in views:
        policy, images = view.policy, counts.get(view.name, {})
        scope = policy.scope
        scope_text = ", ".join([*scope.registries, *scope.repositories, *(f"tag {t}" for t in scope.tags)]) or "all"
        table.add_row(
            escape(policy.name),
            "yes" if policy.enabled else "no",
            policy.action.value,
            escape(scope_text),
            ", ".join(policy.criteria.given()),
            str(images.get("fail", 0)),
            str(images.get("warn", 0)),
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(name: str, fmt: DocumentFormatOpt = "yaml") -> None:
    """One policy as a document that `policy apply` takes back."""
    view = Runtime.from_env().policies.get(name)
    sys.stdout.write(dump_policies([view.policy], _document_format(fmt)))


@app.command("export")
@handle_errors
def export(fmt: DocumentFormatOpt = "yaml") -> None:
    """Every policy, as one document that `policy apply` takes back."""
    sys.stdout.write(dump_policies([v.policy for v in Runtime.from_env().policies.list_all()], _document_format(fmt)))


@app.command("apply")
@handle_errors
def apply(file: Annotated[str, typer.Argument(help="A YAML or JSON policy document; - reads stdin")]) -> None:
    """Create or replace the policies of a document, by name (others are left as they are)."""
    policies = load_policies(_read(file))
    runtime = Runtime.from_env()
    applied = runtime.policies.apply(policies, actor=Actor.cli())
    for verb, names in (("created", applied.created), ("updated", applied.updated), ("unchanged", applied.unchanged)):
        for name in names:
            console.print(f"{verb} {escape(name)}")
    if applied.changed:
        reevaluate(runtime, "policies", [*applied.created, *applied.updated])


def _set_enabled(name: str, enabled: bool) -> None:
    runtime = Runtime.from_env()
    view = runtime.policies.set_enabled(name, enabled, actor=Actor.cli())
    console.print(f"{'enabled' if enabled else 'disabled'} {escape(view.name)}")
    reevaluate(runtime, "policies", [view.name])


@app.command("enable")
@handle_errors
def enable(name: str) -> None:
    """Evaluate this policy from now on."""
    _set_enabled(name, True)


@app.command("disable")
@handle_errors
def disable(name: str) -> None:
    """Stop evaluating this policy (it is kept)."""
    _set_enabled(name, False)


@app.command("remove")
@handle_errors
def remove(name: str) -> None:
    """Delete a policy and its verdicts."""
    runtime = Runtime.from_env()
    runtime.policies.delete(name, actor=Actor.cli())
    console.print(f"removed {escape(name)}")
    reevaluate(runtime, "policies", [name])


@app.command("defaults")
@handle_errors
def defaults() -> None:
    """Add the shipped policies (disabled until enabled) that are not stored yet."""
    runtime = Runtime.from_env()
    added = runtime.policies.install_defaults(actor=Actor.cli())
    for name in added:
        console.print(f"added {escape(name)} (disabled: `regscout policy enable {escape(name)}` turns it on)")
    if not added:
        console.print("the shipped policies are all stored already")


@app.command("reevaluate")
@handle_errors
def reevaluate_command() -> None:
    """Evaluate every stored image again now (after a change made elsewhere, or to check the timing)."""
    reevaluate(Runtime.from_env(), "policies")
