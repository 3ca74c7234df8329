"""The analyzer contract.

An analyzer declares which files it wants with an `Interest` (cheap, data-driven rules the layer
walker compiles once, so it never calls every analyzer for every tar entry), then receives the
files of one layer that matched and returns an AnalyzerResult. Analyzers never touch the disk or
the network, and never raise on bad input: a malformed file becomes a warning and is skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ..model import AnalyzerResult, CapturedFile

MiB = 1024 * 1024


@dataclass(frozen=True)
class Interest:
    exact: frozenset[str] = frozenset()  # exact normalised paths: "var/lib/dpkg/status"
    basenames: frozenset[str] = frozenset()  # "METADATA", "package.json", "installed.json"
    suffixes: tuple[str, ...] = ()  # ".gemspec", ".jar", ".dist-info/METADATA"
    directories: tuple[str, ...] = ()  # direct children of these dirs: "var/lib/dpkg/status.d/"
    executables: bool = False  # regular files with an execute bit and at least 1 KiB
    max_size: int = 64 * MiB  # larger matches are skipped with a warning
    # Each file is analysed alone as soon as it is read, and its bytes dropped: for analyzers
    # whose files are independent (binaries, archives, metadata files), so memory holds one at a time.
    per_file: bool = False
    extra: frozenset[str] = field(default_factory=frozenset)  # reserved


class Analyzer(ABC):
    name: ClassVar[str]  # stable identifier, part of the cache key
    version: ClassVar[int]  # bump when results change; cached results of older versions are redone
    interest: ClassVar[Interest]

    def wants(self, path: str) -> bool:
        """A second, exact check for paths the Interest matched (e.g. node_modules package roots)."""
        return True

    @abstractmethod
    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        """Analyze this layer's captured files. Must not raise on malformed content."""
