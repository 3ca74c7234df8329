"""Python distributions: wheel `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `*.egg-info` files and
`EGG-INFO/PKG-INFO` of unpacked eggs.

Naming rule: `Package.name` is the declared `Name` header, unchanged; its PEP 503 normalised form
(the key OSV's PyPI data uses) is in `extra` as ("normalized_name", ...). The purl carries the
purl-spec form of the name (lower case, `_` → `-`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import Message
from email.parser import HeaderParser

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB

# A License header longer than this, or spanning lines, is the licence text itself, not a name.
_MAX_LICENSE_NAME = 200
_NOT_A_LICENSE = frozenset({"", "unknown", "none", "n/a"})
_CLASSIFIER_PREFIX = "License ::"
_VALID_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")  # PEP 508


def normalize_name(name: str) -> str:
    """PEP 503 normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_metadata_path(path: str) -> bool:
    parts = path.split("/")
    base = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    if base == "METADATA":
        return parent.endswith(".dist-info") and len(parent) > len(".dist-info")
    if base == "PKG-INFO":
        return parent == "EGG-INFO" or (parent.endswith(".egg-info") and len(parent) > len(".egg-info"))
    return base.endswith(".egg-info") and len(base) > len(".egg-info")


def _licenses(message: Message) -> tuple[str, ...]:
    """License-Expression (PEP 639) first, then a short License header, then trove classifiers."""
    for field in ("License-Expression", "License"):
        for value in _all(message, field):
            if value.lower() not in _NOT_A_LICENSE and "\n" not in value and len(value) <= _MAX_LICENSE_NAME:
                return (value,)
    names: dict[str, None] = {}  # ordered and de-duplicated
    for classifier in _all(message, "Classifier"):
        if not classifier.startswith(_CLASSIFIER_PREFIX):
            continue
        last = classifier.rsplit("::", 1)[-1].strip()
        if last and last != "OSI Approved":
            names[last] = None
    return tuple(names)


def _all(message: Message, field: str) -> list[str]:
    return [str(value).strip() for value in message.get_all(field) or []]


def parse_metadata(data: bytes, location: str) -> Package | None:
    # Core metadata is UTF-8; decoding first keeps non-ASCII values readable, which
    # BytesHeaderParser's ASCII + surrogateescape decoding would not.
    message = HeaderParser().parsestr(data.decode("utf-8", errors="replace"), headersonly=True)
    name = next(iter(_all(message, "Name")), "")
    version = next(iter(_all(message, "Version")), "")
    if not _VALID_NAME.fullmatch(name) or not version or any(c.isspace() for c in version):
        return None
    return Package(
        name=name,
        version=version,
        ecosystem="PyPI",
        purl=PackageURL(type="pypi", name=name, version=version).to_string(),
        location=location,
        licenses=_licenses(message),
        extra=(("normalized_name", normalize_name(name)),),
    )


class PythonAnalyzer(Analyzer):
    name = "python"
    version = 1
    interest = Interest(
        suffixes=(".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info", "EGG-INFO/PKG-INFO"),
        max_size=8 * MiB,
        per_file=True,
    )

    def wants(self, path: str) -> bool:
        return is_metadata_path(path)

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for file in files:
            package = parse_metadata(file.data, file.path)
            if package is None:
                result.warnings.append(f"{file.path}: Python metadata without a valid Name and Version")
            else:
                result.packages.append(package)
        return result
