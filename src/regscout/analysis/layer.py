"""Analyse one layer: walk its tar once, apply capture rules, run the analyzers, and record what
the layer does to lower layers (whiteouts, opaque directories, non-directory entries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO

from .analyzers.base import Analyzer
from .capture import CapturePlan
from .decompress import CHUNK, decompressed_chunks
from .model import AnalyzerResult, CapturedFile
from .tarwalk import (
    DIRECTORY,
    HARDLINK,
    REGULAR,
    CountingReader,
    LayerFormatError,
    ReadAhead,
    TarWalker,
)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
STRUCTURE_ANALYZER = "layer-structure"
STRUCTURE_VERSION = 2  # 2: non-directory paths kept as paths, not 8-byte hashes
DEFAULT_MAX_UNCOMPRESSED = 64 * 1024**3


@dataclass
class LayerStructure:
    """What this layer removes from the layers below it."""

    whiteouts: set[str] = field(default_factory=set)  # paths deleted (with everything under them)
    opaque_dirs: set[str] = field(default_factory=set)  # dirs whose lower contents are hidden
    # Every non-directory path: a file or symlink here replaces a lower layer's directory of that
    # name. Kept as the paths themselves: no hashing while the walker runs, no collisions, and the
    # sorted list compresses to less than the 8-byte hashes that version 1 stored.
    non_dirs: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "whiteouts": sorted(self.whiteouts),
            "opaque_dirs": sorted(self.opaque_dirs),
            "non_dirs": sorted(self.non_dirs),
            "warnings": self.warnings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerStructure:
        return cls(
            whiteouts=set(data.get("whiteouts", [])),
            opaque_dirs=set(data.get("opaque_dirs", [])),
            non_dirs=set(data.get("non_dirs", [])),
            warnings=list(data.get("warnings", [])),
        )

    def hides(self, location: str) -> bool:
        """Whether a lower layer's file at `location` is gone once this layer is applied: it or a
        directory above it was whited out, its directory made opaque, or a directory above it
        replaced by a file or symlink (which removes everything that was below it)."""
        if location in self.whiteouts:
            return True
        parts = location.split("/")
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if ancestor in self.whiteouts or ancestor in self.opaque_dirs or ancestor in self.non_dirs:
                return True
        return False


@dataclass
class LayerAnalysis:
    diff_id: str
    structure: LayerStructure
    results: dict[str, AnalyzerResult]  # analyzer name -> result
    uncompressed_size: int = 0
    format: str = "tar"


def analyze_layer(
    source: BinaryIO | Iterable[bytes],
    analyzers: list[Analyzer],
    *,
    expected_diff_id: str | None = None,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
) -> LayerAnalysis:
    """Read a layer (compressed or not) once and analyse it. `source` is a file object or the
    blob's pieces as they arrive."""
    plan = CapturePlan(analyzers)
    pieces = iter(partial(source.read, CHUNK), b"") if hasattr(source, "read") else source
    decompressed, fmt = decompressed_chunks(pieces)
    ahead = ReadAhead(decompressed)
    counter = CountingReader(ahead, max_uncompressed)
    walker = TarWalker(counter)
    structure = LayerStructure()
    captured: dict[str, list[CapturedFile]] = {analyzer.name: [] for analyzer in analyzers}
    results = {analyzer.name: AnalyzerResult() for analyzer in analyzers}
    try:
        _walk(walker, plan, structure, captured, results)
        walker.drain()  # whatever follows the end marker still counts for the diff_id
    finally:
        ahead.close()
        digest = counter.digest  # also stops the hashing thread
    structure.warnings.extend(walker.warnings)
    if expected_diff_id and expected_diff_id.startswith("sha256:") and digest != expected_diff_id:
        raise LayerFormatError(
            f"the layer's uncompressed content is {digest}, not the diff_id {expected_diff_id} the image "
            "config declares: the image is inconsistent; nothing was kept"
        )
    for analyzer in analyzers:
        if captured[analyzer.name]:
            results[analyzer.name].absorb(analyzer.analyze(captured[analyzer.name]))
    return LayerAnalysis(expected_diff_id or digest, structure, results, counter.count, fmt)


def _walk(
    walker: TarWalker,
    plan: CapturePlan,
    structure: LayerStructure,
    captured: dict[str, list[CapturedFile]],
    results: dict[str, AnalyzerResult],
) -> None:
    """Walk the entries; per-file analyzers run at once, the others get their files at the end."""
    by_path: dict[str, CapturedFile] = {}
    match = plan.match
    add_non_dir = structure.non_dirs.add
    for path, kind, size, mode, linkname in walker.entries():
        if WHITEOUT_PREFIX in path and _record_whiteout(path, structure):
            continue
        if kind != DIRECTORY:
            add_non_dir(path)
        if kind == HARDLINK:
            _capture_hardlink(path, linkname, by_path, plan, captured)
            continue
        if kind not in REGULAR:
            continue
        wanting = match(path, mode, size)
        if not wanting:
            continue
        _capture_file(walker, path, size, mode, wanting, structure, by_path, captured, results)


def _capture_file(
    walker: TarWalker,
    path: str,
    size: int,
    mode: int,
    wanting: Sequence[Analyzer],
    structure: LayerStructure,
    by_path: dict[str, CapturedFile],
    captured: dict[str, list[CapturedFile]],
    results: dict[str, AnalyzerResult],
) -> None:
    """Read the body of a file some analyzers want (within their size caps) and hand it over."""
    fitting = [a for a in wanting if size <= a.interest.max_size]
    for analyzer in wanting:
        if analyzer not in fitting:
            structure.warnings.append(
                f"{analyzer.name}: skipped {path} ({size} bytes, over its {analyzer.interest.max_size})"
            )
    if not fitting:
        return
    data = walker.read_body(max(a.interest.max_size for a in fitting))
    file = CapturedFile(path, data, mode, size)
    if any(not a.interest.per_file for a in fitting):
        by_path[path] = file  # kept for hardlinks to it, as the batched analyzers keep it anyway
    for analyzer in fitting:
        if analyzer.interest.per_file:
            results[analyzer.name].absorb(analyzer.analyze([file]))
        else:
            captured[analyzer.name].append(file)


def _record_whiteout(path: str, structure: LayerStructure) -> bool:
    """Record `path` if it is a whiteout or opaque marker (which are not entries themselves)."""
    directory, _, basename = path.rpartition("/")
    if not basename.startswith(WHITEOUT_PREFIX):
        return False
    if basename == OPAQUE_MARKER:
        structure.opaque_dirs.add(directory)
    else:
        hidden = basename[len(WHITEOUT_PREFIX) :]
        structure.whiteouts.add(f"{directory}/{hidden}" if directory else hidden)
    return True


def _capture_hardlink(
    path: str, target: str, by_path: dict[str, CapturedFile], plan: CapturePlan, captured: dict[str, list[CapturedFile]]
) -> None:
    """A hardlink to a file captured earlier in this layer is the same content under another name."""
    source = by_path.get(target.lstrip("/"))
    if source is None:
        return
    for analyzer in plan.match(path, source.mode, source.size):
        if source.size <= analyzer.interest.max_size:
            captured[analyzer.name].append(CapturedFile(path, source.data, source.mode, source.size))
