"""Printing for the CLI: JSON for machines, Rich for people, errors on stderr with an exit code."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from ..registries.errors import RegistryError
from ..secrets import SecretKeyError, redact
from ..services.integrations import (
    ConnectionTestFailed,
    IntegrationError,
    IntegrationExists,
    IntegrationNotFound,
    InvalidIntegration,
)
from ..services.tokens import TokenError

console = Console()
err_console = Console(stderr=True)

EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_REGISTRY = 4
EXIT_CONFLICT = 5

P = ParamSpec("P")
R = TypeVar("R")


def plain(value: Any) -> Any:
    """Dataclasses, pydantic models, enums and datetimes as JSON-ready values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, sort_keys=True) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {redact(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a user can cause into a message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except IntegrationNotFound as exc:
            fail(str(exc), EXIT_NOT_FOUND)
        except IntegrationExists as exc:
            fail(str(exc), EXIT_CONFLICT)
        except (InvalidIntegration, TokenError, ValueError) as exc:
            fail(str(exc), EXIT_INVALID)
        except ConnectionTestFailed as exc:
            fail(str(exc), EXIT_REGISTRY)
        except (IntegrationError, RegistryError) as exc:
            fail(str(exc), EXIT_REGISTRY)
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
