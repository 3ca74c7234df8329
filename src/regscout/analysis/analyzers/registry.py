"""The analyzers regscout runs: the one list of them."""

from __future__ import annotations

from .base import Analyzer

ANALYZER_CLASSES: tuple[type[Analyzer], ...] = ()


def default_analyzers() -> list[Analyzer]:
    return [cls() for cls in ANALYZER_CLASSES]
