"""npm packages installed under `node_modules`.

Only package roots count: the path's last `node_modules` segment must be followed by exactly
`<name>/package.json` or `@scope/<name>/package.json` (Trivy's IsPackageRoot), which excludes test
fixtures and nested examples shipped inside packages. A `package.json` outside any `node_modules`
is an application's own manifest, not an installed dependency, and is not reported: its name is
often a generic word ("app", "server") that exists on the registry with unrelated advisories.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB

# npm's rules for names (validate-npm-package-name), upper case allowed for legacy packages.
_VALID_NAME = re.compile(r"(?:@[A-Za-z0-9~-][A-Za-z0-9._~-]*/)?[A-Za-z0-9~-][A-Za-z0-9._~-]*")


def is_package_root(path: str) -> bool:
    parts = path.split("/")
    if parts[-1] != "package.json":
        return False
    dirs = parts[:-1]
    last = len(dirs) - 1 - dirs[::-1].index("node_modules") if "node_modules" in dirs else -1
    if last < 0:
        return False
    rest = dirs[last + 1 :]
    if len(rest) == 1:
        return not rest[0].startswith((".", "@"))
    return len(rest) == 2 and rest[0].startswith("@") and len(rest[0]) > 1 and not rest[1].startswith(".")


def _license_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        kind = value.get("type")
        return (kind.strip() or None) if isinstance(kind, str) else None
    return None


def licenses_of(manifest: dict[str, Any]) -> tuple[str, ...]:
    single = _license_name(manifest.get("license"))
    if single is not None:
        return (single,)
    legacy = manifest.get("licenses")
    if isinstance(legacy, list):
        return tuple(name for name in map(_license_name, legacy) if name is not None)
    return ()


def _purl(name: str, version: str) -> str:
    scope, _, bare = name.rpartition("/")
    return PackageURL(type="npm", namespace=scope or None, name=bare, version=version).to_string()


def parse_package_json(data: bytes, location: str) -> Package | None:
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    name, version = name.strip(), version.strip()
    if not _VALID_NAME.fullmatch(name) or not version or any(c.isspace() for c in version):
        return None
    return Package(
        name=name,
        version=version,
        ecosystem="npm",
        purl=_purl(name, version),
        location=location,
        licenses=licenses_of(manifest),
    )


class NodeAnalyzer(Analyzer):
    name = "node"
    version = 1
    interest = Interest(basenames=frozenset({"package.json"}), max_size=8 * MiB, per_file=True)

    def wants(self, path: str) -> bool:
        return is_package_root(path)

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for file in files:
            package = parse_package_json(file.data, file.path)
            if package is None:
                result.warnings.append(f"{file.path}: package.json without a usable name and version")
            else:
                result.packages.append(package)
        return result
