"""The analyzers regscout runs: the one list of them. A new ecosystem is one module and one entry here."""

from __future__ import annotations

from .apk import ApkAnalyzer
from .base import Analyzer
from .dpkg import DpkgAnalyzer
from .golang import GoBinaryAnalyzer
from .java import JavaAnalyzer
from .node import NodeAnalyzer
from .os_release import OSReleaseAnalyzer
from .php import PhpAnalyzer
from .python import PythonAnalyzer
from .rpm import RpmAnalyzer
from .ruby import RubyAnalyzer
from .rust import RustBinaryAnalyzer

ANALYZER_CLASSES: tuple[type[Analyzer], ...] = (
    OSReleaseAnalyzer,
    DpkgAnalyzer,
    ApkAnalyzer,
    RpmAnalyzer,
    PythonAnalyzer,
    NodeAnalyzer,
    RubyAnalyzer,
    PhpAnalyzer,
    JavaAnalyzer,
    GoBinaryAnalyzer,
    RustBinaryAnalyzer,
)


def default_analyzers() -> list[Analyzer]:
    return [cls() for cls in ANALYZER_CLASSES]
