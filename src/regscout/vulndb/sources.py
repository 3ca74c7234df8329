"""Where vulnerability data comes from: the default OSV exports, and the settings that replace them
(`REGSCOUT_VULN_SOURCES`, `REGSCOUT_VULN_MIRROR`) or tune updates. Documented in docs/vulndb.md."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from .errors import SourceConfigError

OSV_BASE = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = (
    "Debian",
    "Ubuntu",
    "Alpine",
    "Rocky Linux",
    "AlmaLinux",
    "Red Hat",
    "PyPI",
    "npm",
    "Maven",
    "Go",
    "RubyGems",
    "crates.io",
    "Packagist",
    "NuGet",
)
DEFAULT_INTERVAL = 6 * 3600
DEFAULT_MAX_DOWNLOAD_MB = 4096
DEFAULT_INCREMENTAL_LIMIT = 1000
KINDS = ("osv-zip", "osv-dir", "url")
SourceKind = Literal["osv-zip", "osv-dir", "url"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_DURATION = re.compile(r"(\d+)\s*([smhd]?)\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def is_remote(location: str) -> bool:
    return location.startswith(("http://", "https://"))


@dataclass(frozen=True)
class SourceSpec:
    """A source: `osv-zip` is an OSV export's `<ECOSYSTEM>/all.zip` (URL or file; with a remote
    `modified_id.csv` next to it, updates are incremental); `osv-dir` a directory of record files;
    `url` any other zip of OSV records, downloaded whole each time."""

    name: str
    url: str
    kind: SourceKind

    @property
    def changes_url(self) -> str | None:
        """The `modified_id.csv` beside an OSV export's `all.zip`, if this source has one."""
        if self.kind == "osv-zip" and is_remote(self.url) and self.url.endswith("/all.zip"):
            return self.url[: -len("all.zip")] + "modified_id.csv"
        return None

    def record_url(self, record_id: str) -> str:
        return self.url[: -len("all.zip")] + quote(record_id, safe="") + ".json"


def source_name(ecosystem: str) -> str:
    """`Rocky Linux` → `rocky-linux`: the name a default source is known by."""
    return re.sub(r"\s+", "-", ecosystem.strip()).lower()


def osv_source(ecosystem: str, base: str = OSV_BASE) -> SourceSpec:
    if is_remote(base):
        url = f"{base.rstrip('/')}/{quote(ecosystem)}/all.zip"
    else:
        url = str(Path(base) / ecosystem / "all.zip")
    return SourceSpec(source_name(ecosystem), url, "osv-zip")


def guess_kind(location: str) -> SourceKind:
    if is_remote(location):
        return "osv-zip" if location.endswith("/all.zip") else "url"
    return "osv-zip" if location.endswith(".zip") else "osv-dir"


def _source(entry: object, index: int, base: str) -> SourceSpec:
    where = f"REGSCOUT_VULN_SOURCES[{index}]"
    if isinstance(entry, str):
        if not entry.strip():
            raise SourceConfigError(f"{where}: an empty ecosystem name")
        return osv_source(entry.strip(), base)
    if not isinstance(entry, dict):
        raise SourceConfigError(f"{where}: expected an ecosystem name or an object, got {type(entry).__name__}")
    unknown = set(entry) - {"name", "url", "kind"}
    if unknown:
        raise SourceConfigError(f"{where}: unknown keys {sorted(unknown)} (allowed: name, url, kind)")
    name, url, kind = entry.get("name"), entry.get("url"), entry.get("kind")
    if not isinstance(url, str) or not url:
        raise SourceConfigError(f"{where}: `url` (a URL, zip file or directory) is required")
    if kind is None:
        kind = guess_kind(url)
    if kind not in KINDS:
        raise SourceConfigError(f"{where}: `kind` must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "url" and not is_remote(url):
        raise SourceConfigError(f"{where}: kind `url` needs an http(s) URL")
    if kind == "osv-dir" and is_remote(url):
        raise SourceConfigError(f"{where}: kind `osv-dir` needs a local directory")
    if not isinstance(name, str):
        raise SourceConfigError(f"{where}: `name` is required")
    return SourceSpec(check_name(name), url, kind)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SourceConfigError(f"source name {name!r}: use 1-100 letters, digits, '.', '_' or '-'")
    return name


def parse_sources(value: str, base: str = OSV_BASE) -> tuple[SourceSpec, ...]:
    """`REGSCOUT_VULN_SOURCES`: a JSON list inline (when it starts with `[`), else the path of a file
    holding that list. Entries are OSV ecosystem names (`"Debian"`) or `{name, url, kind?}` objects."""
    text = value.strip()
    origin = "REGSCOUT_VULN_SOURCES"
    if not text.startswith("["):
        path = Path(text).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise SourceConfigError(f"{origin}: cannot read the source list {path}: {exc}") from exc
        origin = str(path)
    try:
        entries: Any = json.loads(text)
    except ValueError as exc:
        raise SourceConfigError(f"{origin}: not valid JSON: {exc}") from exc
    if not isinstance(entries, list):
        raise SourceConfigError(f"{origin}: expected a JSON list of sources")
    specs = tuple(_source(entry, index, base) for index, entry in enumerate(entries))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SourceConfigError(f"{origin}: source names used twice: {', '.join(duplicates)}")
    return specs


def parse_duration(value: str, setting: str) -> int:
    match = _DURATION.match(value.strip().lower())
    if not match:
        raise SourceConfigError(f"{setting}: expected seconds or a number with s, m, h or d (like 6h), got {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _positive_int(value: str, setting: str) -> int:
    if not value.strip().isdigit() or int(value) <= 0:
        raise SourceConfigError(f"{setting}: expected a positive whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class VulnConfig:
    sources: tuple[SourceSpec, ...] = field(default_factory=lambda: tuple(osv_source(e) for e in DEFAULT_ECOSYSTEMS))
    update_interval: int = DEFAULT_INTERVAL  # seconds; 0 = no scheduled updates
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_MB << 20
    incremental_limit: int = DEFAULT_INCREMENTAL_LIMIT  # more changed records than this: download all.zip

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VulnConfig:
        env = os.environ if environ is None else environ
        base = env.get("REGSCOUT_VULN_MIRROR", "").strip() or OSV_BASE
        listed = env.get("REGSCOUT_VULN_SOURCES", "").strip()
        interval = env.get("REGSCOUT_VULN_UPDATE_INTERVAL", "").strip()
        max_mb = env.get("REGSCOUT_VULN_MAX_DOWNLOAD_MB", "").strip()
        return cls(
            sources=parse_sources(listed, base) if listed else tuple(osv_source(e, base) for e in DEFAULT_ECOSYSTEMS),
            update_interval=parse_duration(interval, "REGSCOUT_VULN_UPDATE_INTERVAL") if interval else DEFAULT_INTERVAL,
            max_download_bytes=(
                _positive_int(max_mb, "REGSCOUT_VULN_MAX_DOWNLOAD_MB") << 20
                if max_mb
                else DEFAULT_MAX_DOWNLOAD_MB << 20
            ),
        )

    def source(self, name: str) -> SourceSpec | None:
        return next((s for s in self.sources if s.name == name), None)
