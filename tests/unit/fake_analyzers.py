"""A minimal analyzer for walker tests: each captured file becomes a package named by its path."""

from __future__ import annotations

from collections.abc import Sequence

from regscout.analysis.analyzers.base import Analyzer, Interest
from regscout.analysis.model import AnalyzerResult, CapturedFile, Package


class FileAnalyzer(Analyzer):
    name = "files"
    version = 1

    def __init__(self, interest: Interest) -> None:
        self.interest = interest  # type: ignore[misc]
        self.calls = 0

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        self.calls += 1
        return AnalyzerResult(
            packages=[
                Package(f.path, f.data.decode(errors="replace")[:40], "test", f"pkg:generic/{f.path}", f.path)
                for f in files
            ]
        )
