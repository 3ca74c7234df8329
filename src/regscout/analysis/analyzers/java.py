"""Java archives (jar, war, ear and Syft's other zip-based kinds), including nested archives.

Identity of one archive, in order (Trivy's order, without the online Maven Central lookup):
1. every `META-INF/maven/<groupId>/<artifactId>/pom.properties` (shaded jars carry several; each
   is a package);
2. else the main section of `META-INF/MANIFEST.MF`;
3. else the file name (`name-1.2.3.jar`).
`Package.name` is `groupId:artifactId`. When no groupId is known the name is the bare artifactId
and the package carries ("unmatchable", "no groupId"): guessing a group would produce wrong matches.

Archives are opened from memory. Nested archives (`WEB-INF/lib/*.jar`, `BOOT-INF/lib/*.jar`, ...)
are opened recursively under `Limits`; a nested archive's declared size and compression ratio are
checked before a byte of it is inflated, and every read is capped whatever the header claims.
"""

from __future__ import annotations

import io
import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeGuard

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par", ".sar", ".nar", ".jpi", ".hpi", ".kar", ".far", ".lpkg")

# Everything zipfile and its decompressors raise on damaged or hostile input.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,  # encrypted members
    NotImplementedError,  # unsupported compression methods
    zlib.error,
    lzma.LZMAError,
    struct.error,
    KeyError,
    IndexError,
    OverflowError,
)
_POM_PROPERTIES = re.compile(r"META-INF/maven/[^/]+/[^/]+/pom\.properties")
_FILE_NAME = re.compile(
    r"(?P<artifact>[a-zA-Z0-9._-]*[^-*/])-(?P<version>\d\S*?(?:-SNAPSHOT)?)\.(?:"
    + "|".join(s[1:] for s in ARCHIVE_SUFFIXES)
    + r")",
    re.IGNORECASE,
)
_MAX_FILE_NAME = 255
_PROPERTY = re.compile(r"([^=:\s]+)\s*[=:\s]\s*(.*)")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


@dataclass(frozen=True)
class Limits:
    max_depth: int = 4  # nesting levels below the captured archive (ear > war > jar > shaded jar)
    max_nested_size: int = 64 * MiB  # declared uncompressed size of one nested archive
    max_ratio: int = 100  # nested archives are already compressed; a higher ratio is a bomb
    max_total: int = 512 * MiB  # bytes inflated per captured archive, all levels together
    max_reads: int = 10_000  # members inflated per captured archive
    max_metadata: int = 1 * MiB  # one MANIFEST.MF or pom.properties
    max_central_directory: int = 16 * MiB  # bounds the ZipInfo objects zipfile builds (~300k entries)


@dataclass
class _Budget:
    limits: Limits
    inflated: int = 0
    reads: int = 0
    warnings: list[str] = field(default_factory=list)
    exhausted: bool = False

    def allow(self, size: int, location: str) -> bool:
        if self.exhausted:
            return False
        if self.reads >= self.limits.max_reads or self.inflated + size > self.limits.max_total:
            self.exhausted = True
            self.warnings.append(f"{location}: archive limits reached (size or member count); stopped here")
            return False
        return True


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def central_directory_size(data: bytes) -> int | None:
    """The central directory size the end record declares (zip64 aware), or None if there is none."""
    end = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return None
    (size,) = struct.unpack_from("<I", data, end + 12)
    if size != 0xFFFFFFFF:
        return int(size)
    locator = end - 20
    if locator < 0 or data[locator : locator + 4] != _ZIP64_LOCATOR:
        return None
    (record,) = struct.unpack_from("<Q", data, locator + 8)
    if record + 56 > len(data) or data[record : record + 4] != _ZIP64_EOCD:
        return None
    return int(struct.unpack_from("<Q", data, record + 40)[0])


def parse_properties(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = _PROPERTY.match(line)
        if match is not None:
            values.setdefault(match.group(1), match.group(2).strip())
    return values


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a MANIFEST.MF; continuation lines start with one space."""
    values: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line:
            break
        if line.startswith(" ") and last is not None:
            values[last] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = key.strip()
        values[last] = value.strip()
    return values


@dataclass(frozen=True)
class _Identity:
    group: str | None
    artifact: str
    version: str
    source: str
    licenses: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()


def _usable(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value if value and "%" not in value and "${" not in value else None


def _is_token(value: str | None) -> TypeGuard[str]:
    return value is not None and _TOKEN.fullmatch(value) is not None


def _is_version(value: str | None) -> TypeGuard[str]:
    return value is not None and _usable(value) == value and not any(c.isspace() for c in value)


def _from_file_name(file_name: str) -> tuple[str, str] | None:
    # The pattern backtracks quadratically; zip member names can be 64 KiB long.
    match = _FILE_NAME.fullmatch(file_name) if len(file_name) <= _MAX_FILE_NAME else None
    if match is None or not _is_token(match.group("artifact")):
        return None
    return match.group("artifact"), match.group("version")


def identity_from_manifest(manifest: dict[str, str], file_name: str) -> _Identity | None:
    versions = (manifest.get(k) for k in ("Implementation-Version", "Bundle-Version", "Specification-Version"))
    version = next((v.strip() for v in versions if v is not None and _is_version(v.strip())), None)
    parsed = _from_file_name(file_name)
    titles = (manifest.get(k) for k in ("Implementation-Title", "Specification-Title", "Bundle-Name"))
    candidates = (parsed[0] if parsed else None, file_name.rsplit(".", 1)[0], *titles)
    artifact = next((c.strip() for c in candidates if c is not None and _is_token(c.strip())), None)
    if version is None or artifact is None:
        return None
    # Maven's archiver writes the groupId as Implementation-Vendor-Id. Bundle-SymbolicName is not a
    # groupId (org.hamcrest names org.hamcrest:hamcrest), so it is only passed on.
    group = (manifest.get("Implementation-Vendor-Id") or "").strip()
    license_name = _usable(manifest.get("Bundle-License"))
    symbolic = _usable((manifest.get("Bundle-SymbolicName") or "").split(";", 1)[0])
    return _Identity(
        group if _is_token(group) else None,
        artifact,
        version,
        "manifest",
        (license_name,) if license_name else (),
        (("bundle_symbolic_name", symbolic),) if symbolic else (),
    )


def identity_from_file_name(file_name: str) -> _Identity | None:
    parsed = _from_file_name(file_name)
    return _Identity(None, parsed[0], parsed[1], "filename") if parsed else None


def _package(identity: _Identity, location: str) -> Package:
    extra = [("identity", identity.source), *identity.extra]
    if identity.group:
        name = f"{identity.group}:{identity.artifact}"
    else:
        name = identity.artifact
        extra.append(("unmatchable", "no groupId"))
    purl = PackageURL(type="maven", namespace=identity.group, name=identity.artifact, version=identity.version)
    return Package(
        name=name,
        version=identity.version,
        ecosystem="Maven",
        purl=purl.to_string(),
        location=location,
        licenses=identity.licenses,
        extra=tuple(extra),
    )


class _Walker:
    """One captured archive and everything nested in it."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.budget = _Budget(limits)
        self.packages: list[Package] = []

    def warn(self, message: str) -> None:
        self.budget.warnings.append(message)

    def archive(self, data: bytes, location: str, depth: int) -> None:
        directory = central_directory_size(data)
        if directory is not None and directory > self.limits.max_central_directory:
            self.warn(f"{location}: central directory of {directory} bytes is over the limit; skipped")
            return
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                infos = archive.infolist()
                self._identify(archive, infos, location)
                for info in infos:
                    if not info.is_dir() and is_archive_name(info.filename):
                        self._nested(archive, info, location, depth)
        except _ZIP_ERRORS as exc:
            self.warn(f"{location}: unreadable archive: {exc}")

    def _read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, location: str) -> bytes | None:
        if info.file_size > cap:
            self.warn(f"{location}: {info.filename} declares {info.file_size} bytes, over the {cap} limit; skipped")
            return None
        if not self.budget.allow(info.file_size, location):
            return None
        self.budget.reads += 1
        try:
            with archive.open(info) as member:
                data = member.read(cap + 1)
        except _ZIP_ERRORS as exc:
            self.warn(f"{location}: unreadable member {info.filename}: {exc}")
            return None
        self.budget.inflated += len(data)
        if len(data) > cap:
            self.warn(f"{location}: {info.filename} inflates past its declared size; skipped")
            return None
        return data

    def _text(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, location: str) -> str | None:
        data = self._read(archive, info, self.limits.max_metadata, location)
        return None if data is None else data.decode("utf-8", errors="replace")

    def _identify(self, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], location: str) -> None:
        manifest = self._manifest(archive, infos, location)
        identities = self._pom_identities(archive, infos, location)
        # The manifest describes the jar itself, so its licence fits only an unshaded jar.
        if len(identities) == 1 and (license_name := _usable(manifest.get("Bundle-License"))):
            identities[0] = replace(identities[0], licenses=(license_name,))
        if not identities:
            file_name = location.rsplit("/", 1)[-1]
            fallback = identity_from_manifest(manifest, file_name) or identity_from_file_name(file_name)
            identities = [fallback] if fallback else []
        self.packages.extend(_package(identity, location) for identity in identities)

    def _manifest(self, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], location: str) -> dict[str, str]:
        info = next((i for i in infos if i.filename == "META-INF/MANIFEST.MF"), None)
        text = None if info is None else self._text(archive, info, location)
        return {} if text is None else parse_manifest(text)

    def _pom_identities(self, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], location: str) -> list[_Identity]:
        identities: list[_Identity] = []
        for info in infos:
            if not _POM_PROPERTIES.fullmatch(info.filename):
                continue
            text = self._text(archive, info, location)
            props = parse_properties(text) if text is not None else {}
            group, artifact, version = (props.get(k) for k in ("groupId", "artifactId", "version"))
            if _is_token(group) and _is_token(artifact) and _is_version(version):
                identities.append(_Identity(group, artifact, version, "pom.properties"))
        return identities

    def _nested(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, location: str, depth: int) -> None:
        nested_location = f"{location}!/{info.filename}"
        if depth >= self.limits.max_depth:
            self.warn(f"{nested_location}: nested deeper than {self.limits.max_depth} archives; skipped")
            return
        if info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
            self.warn(f"{nested_location}: compression ratio over {self.limits.max_ratio}; skipped as a zip bomb")
            return
        data = self._read(archive, info, self.limits.max_nested_size, location)
        if data is not None:
            self.archive(data, nested_location, depth + 1)


class JavaAnalyzer(Analyzer):
    name = "java"
    version = 1
    interest = Interest(suffixes=ARCHIVE_SUFFIXES, max_size=256 * MiB, per_file=True)

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for file in files:
            walker = _Walker(self.limits)
            walker.archive(file.data, file.path, depth=0)
            result.packages.extend(walker.packages)
            result.warnings.extend(walker.budget.warnings)
        return result
