"""Producing a report or SBOM safely: any failure becomes one ReportError that names the image, the format and
the cause, and a file is only ever replaced whole (written beside it under a temporary name, then renamed)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class ReportError(Exception):
    """A report or SBOM of an image could not be produced or written."""

    def __init__(self, image: str, fmt: str, cause: BaseException | str) -> None:
        self.image = image
        self.format = fmt
        self.cause = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"cannot write the {fmt} report of {image}: {self.cause}")


def rendered(image: str, fmt: str, render: Callable[[], str]) -> str:
    """The document `render` makes, or a ReportError saying which image and format failed, and why."""
    try:
        return render()
    except Exception as exc:  # whatever a writer or its library raises, the user gets one clear line
        raise ReportError(image, fmt, exc) from exc


def write_atomically(path: Path, text: str, *, image: str, fmt: str) -> None:
    """Write `text` to `path` whole or not at all: an existing file is left as it was when anything fails."""
    directory = path.parent
    try:
        handle, name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise ReportError(image, fmt, f"cannot create a file in {directory}: {_reason(exc)}") from exc
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        temporary.chmod(_mode_for(path))
        temporary.replace(path)
    except BaseException as exc:  # interrupted or failed: the partial file goes, the old one stays
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(exc, Exception):
            raise ReportError(image, fmt, f"cannot write {path}: {_reason(exc)}") from exc
        raise


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"


def _mode_for(path: Path) -> int:
    """The mode the file has now, or the one a plain open() would give it (mkstemp makes 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
