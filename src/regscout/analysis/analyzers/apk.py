"""Alpine (and Wolfi/Chainguard): apk-tools' installed database, `lib/apk/db/installed`.

The format is blank-line separated records of `X:value` lines: P name, V version, A arch, o origin (the
source package), L license, m maintainer, F directory then R files in it (owned paths).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest

INSTALLED_PATHS = ("lib/apk/db/installed", "usr/lib/apk/db/installed")
EXTRA_KEYS = (("m", "maintainer"), ("c", "commit"), ("U", "url"))


class ApkAnalyzer(Analyzer):
    name = "apk"
    version = 1
    interest = Interest(exact=frozenset(INSTALLED_PATHS))

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for captured in files:
            _analyze_database(captured, result)
        return result


class _Record:
    __slots__ = ("directory", "fields", "files")

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.files: list[str] = []
        self.directory = ""

    def add(self, key: str, value: str) -> None:
        if key == "F":
            self.directory = value.strip("/")
        elif key == "R":
            if value:
                self.files.append(f"{self.directory}/{value}" if self.directory else value)
        elif key not in self.fields:
            self.fields[key] = value


def parse_installed(text: str) -> tuple[list[_Record], int]:
    """The records of an installed database and the number of lines that are not `X:value`."""
    records: list[_Record] = []
    record = _Record()
    junk = 0
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            if record.fields or record.files:
                records.append(record)
                record = _Record()
            continue
        if len(line) < 2 or line[1] != ":":
            junk += 1
            continue
        record.add(line[0], line[2:])
    if record.fields or record.files:
        records.append(record)
    return records, junk


def _analyze_database(captured: CapturedFile, result: AnalyzerResult) -> None:
    records, junk = parse_installed(captured.data.decode("utf-8", "replace"))
    if junk:
        result.warnings.append(f"{captured.path}: {junk} malformed line(s) skipped")
    seen: set[str] = set()
    incomplete = 0
    for record in records:
        package = package_from_record(record.fields, captured.path)
        if package is None:
            incomplete += 1
            continue
        if package.name in seen:  # apk never installs a name twice; a repeated record is a damaged database
            continue
        seen.add(package.name)
        result.packages.append(package)
        result.owned_files.update(record.files)
    if incomplete:
        result.warnings.append(f"{captured.path}: {incomplete} record(s) without a name or version skipped")


def package_from_record(fields: dict[str, str], location: str) -> Package | None:
    name = fields.get("P", "").strip()
    version = fields.get("V", "").strip()
    if not name or not version:
        return None
    origin = fields.get("o", "").strip() or name
    license_ = fields.get("L", "").strip()
    package = Package(
        name=name,
        version=version,
        ecosystem="apk",
        purl="",
        location=location,
        source_name=origin,
        source_version=version,  # sub-packages carry their origin's version
        licenses=(license_,) if license_ else (),
        arch=fields.get("A", "").strip() or None,
        extra=tuple((label, fields[key]) for key, label in EXTRA_KEYS if fields.get(key)),
    )
    return replace(package, purl=apk_purl(package, None))


def apk_purl(package: Package, os_id: str | None) -> str:
    """`pkg:apk/<os_id or alpine>/<name>@<version>?arch=..&upstream=<origin>`; `distro=` is left to the caller.

    Wolfi and Chainguard images use the same database: the merge calls this again with the image's ID."""
    qualifiers: dict[str, str] = {}
    if package.arch:
        qualifiers["arch"] = package.arch
    if package.source_name:
        qualifiers["upstream"] = package.source_name
    namespace = os_id.lower() if os_id else "alpine"
    return PackageURL(
        type="apk", namespace=namespace, name=package.name, version=package.version, qualifiers=qualifiers
    ).to_string()
