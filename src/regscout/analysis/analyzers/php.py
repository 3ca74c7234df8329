"""PHP packages installed by Composer: `vendor/composer/installed.json`.

Composer 2 writes `{"packages": [...], "dev": bool, "dev-package-names": [...]}`, Composer 1 a bare
array of packages. Versions are reported as declared (`v6.4.0` keeps its `v`); the normalised
form Composer computed is kept in `extra`. Dev packages are installed too, so they are reported,
marked ("dev", "true").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB

_VALID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # Composer's vendor and project names


def is_installed_json(path: str) -> bool:
    parts = path.split("/")
    return len(parts) >= 2 and parts[-1] == "installed.json" and parts[-2] == "composer"


def _entries(document: Any) -> tuple[list[Any], set[str]] | None:
    if isinstance(document, list):
        return document, set()
    if isinstance(document, dict) and isinstance(document.get("packages"), list):
        dev_names = document.get("dev-package-names")
        dev = {n for n in dev_names if isinstance(n, str)} if isinstance(dev_names, list) else set()
        return document["packages"], dev
    return None


def _licenses(entry: dict[str, Any]) -> tuple[str, ...]:
    value = entry.get("license")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())


def _package(entry: Any, dev: set[str], location: str) -> Package | None:
    if not isinstance(entry, dict):
        return None
    name, version = entry.get("name"), entry.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    version = version.strip()
    if not version or any(c.isspace() for c in version):
        return None
    vendor, _, project = name.strip().partition("/")
    if not _VALID_PART.fullmatch(vendor) or not _VALID_PART.fullmatch(project):
        return None
    extra: list[tuple[str, str]] = []
    normalized = entry.get("version_normalized")
    if isinstance(normalized, str) and normalized:
        extra.append(("version_normalized", normalized))
    if name in dev:
        extra.append(("dev", "true"))
    return Package(
        name=name.strip(),
        version=version,
        ecosystem="Packagist",
        purl=PackageURL(type="composer", namespace=vendor, name=project, version=version).to_string(),
        location=location,
        licenses=_licenses(entry),
        extra=tuple(extra),
    )


def parse_installed_json(data: bytes, location: str) -> tuple[list[Package], list[str]]:
    try:
        found = _entries(json.loads(data))
    except (ValueError, RecursionError) as exc:
        return [], [f"{location}: not JSON: {exc}"]
    if found is None:
        return [], [f"{location}: neither a Composer 2 object nor a Composer 1 array"]
    entries, dev = found
    packages: list[Package] = []
    skipped = 0
    for entry in entries:
        package = _package(entry, dev, location)
        if package is None:
            skipped += 1
        else:
            packages.append(package)
    return packages, [f"{location}: {skipped} entries without a vendor/name and version"] if skipped else []


class PhpAnalyzer(Analyzer):
    name = "php"
    version = 1
    interest = Interest(suffixes=("composer/installed.json",), max_size=32 * MiB, per_file=True)

    def wants(self, path: str) -> bool:
        return is_installed_json(path)

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for file in files:
            packages, warnings = parse_installed_json(file.data, file.path)
            result.packages.extend(packages)
            result.warnings.extend(warnings)
        return result
