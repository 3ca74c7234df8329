"""Printing for the CLI: JSON for machines, Rich for people, errors on stderr with an exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..analysis.tarwalk import LayerFormatError
from ..harbor_scanner.registrations import RegistrationError, RegistrationNotFound
from ..jsonable import plain
from ..registries.errors import RegistryError
from ..report.writer import ReportError, write_atomically
from ..scanning.jobs import JobError, JobNotFound
from ..scanning.manual import NotIntegrated
from ..scanning.syncs import SyncNotFound
from ..secrets import SecretKeyError, redact
from ..services.integrations import (
    ConnectionTestFailed,
    IntegrationError,
    IntegrationExists,
    IntegrationNotFound,
    InvalidIntegration,
)
from ..services.policies import AcceptanceNotFound, PolicyExists, PolicyNotFound
from ..services.tokens import TokenError
from ..services.users import UserError

console = Console()
err_console = Console(stderr=True)

EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_REGISTRY = 4
EXIT_CONFLICT = 5
EXIT_REPORT = 6

P = ParamSpec("P")
R = TypeVar("R")


def json_text(value: Any) -> str:
    return json.dumps(plain(value), indent=2, sort_keys=True) + "\n"


def print_json(value: Any) -> None:
    sys.stdout.write(json_text(value))


def check_output(output: Path | None) -> None:
    """Refuse an --output that can never be written before any image is pulled (ValueError: exit 2)."""
    if output is None:
        return
    if output.is_dir():
        raise ValueError(f"--output {output} is a directory; name a file")
    parent = output.parent
    if not parent.is_dir():
        raise ValueError(f"--output {output}: the directory {parent} does not exist")


def emit(text: str, output: Path | None, *, image: str, fmt: str) -> None:
    """A finished document to stdout, or to a file that is replaced whole or not at all."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomically(output, text, image=image, fmt=fmt)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a user can cause into a message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (
            IntegrationNotFound,
            JobNotFound,
            NotIntegrated,
            SyncNotFound,
            RegistrationNotFound,
            PolicyNotFound,
            AcceptanceNotFound,
        ) as exc:
            fail(str(exc), EXIT_NOT_FOUND)
        except JobError as exc:
            fail(str(exc), EXIT_CONFLICT)
        except (IntegrationExists, PolicyExists) as exc:
            fail(str(exc), EXIT_CONFLICT)
        except (InvalidIntegration, TokenError, RegistrationError, UserError, ValueError) as exc:
            fail(str(exc), EXIT_INVALID)
        except ConnectionTestFailed as exc:
            fail(str(exc), EXIT_REGISTRY)
        except (IntegrationError, RegistryError, LayerFormatError) as exc:
            fail(str(exc), EXIT_REGISTRY)
        except ReportError as exc:
            fail(str(exc), EXIT_REPORT)
        except SecretKeyError as exc:
            fail(str(exc), 1)

    return wrapper


STATUS_STYLE = {
    "Connected": "green",
    "Authorization failed": "red",
    "Not found": "red",
    "SSL handshake error": "red",
    "Rate limited": "yellow",
    "Unknown": "yellow",
}
