"""`regscout image`: a group whose default command is the scan, so `regscout image REF` stays the one-command
scan (like `trivy image REF`) while `regscout image add REGISTRY REPO` queues an image."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from . import check, jobs, scan
from .output import handle_errors

DEFAULT_COMMAND = "scan"


class DefaultScanGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's vendored click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DefaultScanGroup,
    no_args_is_help=True,
    help="Scan an image now (regscout image REF, the same as regscout image scan REF), or queue one (image add).",
)
app.command(DEFAULT_COMMAND)(handle_errors(scan.image))
app.command("add")(handle_errors(jobs.add_image))
app.command("check")(check.check)
