"""Which analyzers want which tar entry, decided with a few dict lookups per entry.

The analyzers' Interest rules are compiled once into tables; the walker asks `match` for every
entry, so this must stay cheap: a layer can hold 100,000 entries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from .analyzers.base import Analyzer

MIN_EXECUTABLE = 1024


class CapturePlan:
    def __init__(self, analyzers: Sequence[Analyzer]) -> None:
        self.analyzers = tuple(analyzers)
        self._exact: dict[str, list[Analyzer]] = defaultdict(list)
        self._basenames: dict[str, list[Analyzer]] = defaultdict(list)
        self._directories: dict[str, list[Analyzer]] = defaultdict(list)
        self._suffixes: list[tuple[str, Analyzer]] = []
        self._executables: list[Analyzer] = []
        for analyzer in self.analyzers:
            interest = analyzer.interest
            for path in interest.exact:
                self._exact[path].append(analyzer)
            for name in interest.basenames:
                self._basenames[name].append(analyzer)
            for directory in interest.directories:
                self._directories[directory.rstrip("/")].append(analyzer)
            self._suffixes.extend((suffix, analyzer) for suffix in interest.suffixes)
            if interest.executables:
                self._executables.append(analyzer)
        self._suffix_tuple = tuple(suffix for suffix, _ in self._suffixes)

    def match(self, path: str, mode: int, size: int) -> Sequence[Analyzer]:
        """Analyzers that want this regular file, in plan order, without duplicates."""
        directory, _, basename = path.rpartition("/")
        exact = self._exact.get(path)
        by_name = self._basenames.get(basename)
        by_directory = self._directories.get(directory)
        suffixed = bool(self._suffix_tuple) and path.endswith(self._suffix_tuple)
        executable = bool(self._executables) and mode & 0o111 and size >= MIN_EXECUTABLE
        if not (exact or by_name or by_directory or suffixed or executable):
            return ()  # most entries: five lookups, no list built
        found = [*(exact or ()), *(by_name or ()), *(by_directory or ())]
        if suffixed:
            found.extend(analyzer for suffix, analyzer in self._suffixes if path.endswith(suffix))
        if executable:
            found.extend(self._executables)
        unique: list[Analyzer] = []
        for analyzer in found:
            if analyzer not in unique and analyzer.wants(path):
                unique.append(analyzer)
        return unique
