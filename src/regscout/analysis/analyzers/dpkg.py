"""Debian and Ubuntu: dpkg's status database, distroless status.d stanzas, md5sums (owned files), copyright licenses.

Licenses and owned files can only be joined to packages whose status stanza is in the same layer; see
`licenses_from_copyright` for the per-file parser the image-level merge can reuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from packageurl import normalize

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
DOC = "usr/share/doc/"

# Files beside the stanzas in status.d (and in info/) that are not stanzas.
CONTROL_SUFFIXES = (
    ".md5sums", ".list", ".conffiles", ".preinst", ".postinst", ".prerm", ".postrm", ".config",
    ".templates", ".triggers", ".shlibs", ".symbols", ".sha256sums",
)  # fmt: skip

# Third status word of packages whose files are on disk and configured at least once. dpkg's own
# triggers-awaited/pending states are installed packages waiting for a trigger run, so they count too.
INSTALLED_STATES = frozenset({"installed", "half-configured", "triggers-awaited", "triggers-pending"})

# Third-party maintainers (Trivy's rule): their files are not recorded as OS-owned, so language packages
# bundled inside (nodesource's npm, for example) are still scanned.
THIRD_PARTY_MAINTAINERS = ("@nvidia.com", "support@docker.com", "@nodesource.com")

WANTED_FIELDS = frozenset({
    "package", "version", "architecture", "source", "status", "maintainer", "installed-size",
    "depends", "pre-depends", "provides",
})  # fmt: skip

EXTRA_FIELDS = ("maintainer", "installed-size", "depends", "pre-depends", "provides")

SOURCE_RE = re.compile(r"(?P<name>\S+)(?:\s+\((?P<version>[^)]*)\))?")
DEP5_FORMAT_RE = re.compile(r"\A\ufeff?\s*Format:", re.IGNORECASE)
DEP5_LICENSE_RE = re.compile(r"^License:[ \t]*(\S[^\n]*)$", re.MULTILINE)
COMMON_LICENSE_RE = re.compile(r"/?usr/share/common-licenses/([0-9A-Za-z_.+-]+[0-9A-Za-z+])")
LICENSE_SPLIT_RE = re.compile(r"\s*,?\s+(?:or|and)\s+|\s*[,|]\s*", re.IGNORECASE)

# Debian short names (DEP-5 and /usr/share/common-licenses) → SPDX identifiers.
SPDX_NAMES = {
    "apache-2": "Apache-2.0", "apache-2.0": "Apache-2.0", "artistic": "Artistic-1.0-Perl",
    "bsd": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause", "cc0-1.0": "CC0-1.0", "expat": "MIT", "mit": "MIT", "isc": "ISC",
    "gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later",
    "gfdl-1.3": "GFDL-1.3-only", "gfdl-1.3+": "GFDL-1.3-or-later",
    "gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later", "gpl-2.0": "GPL-2.0-only",
    "gpl-2.0+": "GPL-2.0-or-later", "gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later",
    "gpl-3.0": "GPL-3.0-only", "gpl-3.0+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later", "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later", "mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0", "zlib": "Zlib",
    "public-domain": "LicenseRef-public-domain",
}  # fmt: skip


@dataclass(frozen=True)
class _Stanza:
    fields: dict[str, str]
    location: str


class DpkgAnalyzer(Analyzer):
    name = "dpkg"
    version = 1
    interest = Interest(
        exact=frozenset({STATUS}),
        directories=(STATUS_D,),
        suffixes=(".md5sums", "/copyright"),
    )

    def wants(self, path: str) -> bool:
        if path == STATUS:
            return True
        if path.startswith(STATUS_D):
            return path.count("/") == 4
        if path.startswith(INFO):
            return path.endswith(".md5sums") and path.count("/") == 4
        return path.startswith(DOC) and path.endswith("/copyright") and path.count("/") == 4

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        stanzas: list[_Stanza] = []
        md5sums: dict[str, CapturedFile] = {}
        copyrights: dict[str, CapturedFile] = {}
        for captured in files:
            path = captured.path
            if path.endswith(".md5sums") and (path.startswith(INFO) or path.startswith(STATUS_D)):
                md5sums[_basename(path)[: -len(".md5sums")]] = captured
            elif path.startswith(DOC):
                copyrights[path.split("/")[3]] = captured
            elif path == STATUS or (path.startswith(STATUS_D) and not path.endswith(CONTROL_SUFFIXES)):
                stanzas.extend(_read_stanzas(captured, result.warnings))
        maintainers = _collect_packages(stanzas, copyrights, result)
        for key, captured in md5sums.items():
            if not _is_third_party(maintainers.get(key.partition(":")[0], "")):
                result.owned_files.update(owned_files_from_md5sums(captured.data))
        return result


def _basename(path: str) -> str:
    return path.rpartition("/")[2]


def _read_stanzas(captured: CapturedFile, warnings: list[str]) -> Iterator[_Stanza]:
    text = captured.data.decode("utf-8", "replace")
    junk = 0
    for fields, bad_lines in parse_deb822(text):
        junk += bad_lines
        yield _Stanza(fields, captured.path)
    if junk:
        warnings.append(f"{captured.path}: {junk} malformed line(s) skipped")


def parse_deb822(text: str) -> Iterator[tuple[dict[str, str], int]]:
    """Paragraphs of the fields in WANTED_FIELDS (lower-cased keys) and the count of junk lines in each.

    Continuation lines are kept only for wanted fields (Description and Conffiles are most of the bytes).
    The first occurrence of a duplicated key wins."""
    fields: dict[str, str] = {}
    continued: dict[str, list[str]] = {}  # lists, not repeated concatenation: linear for hostile input
    junk = 0
    current: str | None = None
    for line in text.split("\n"):
        first = line[:1]
        if (first == " " or first == "\t") and not line.isspace():  # most lines: Description, Conffiles
            if current is not None:
                continued.setdefault(current, [fields[current]]).append(line.strip())
            continue
        if not line or line.isspace():
            if fields or junk:
                yield _joined(fields, continued), junk
                fields, continued, junk, current = {}, {}, 0, None
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key:
            junk += 1
            current = None
            continue
        key = key.lower()
        if key in WANTED_FIELDS and key not in fields:
            fields[key] = value.strip()
            current = key
        else:
            current = None
    if fields or junk:
        yield _joined(fields, continued), junk


def _joined(fields: dict[str, str], continued: dict[str, list[str]]) -> dict[str, str]:
    for key, parts in continued.items():
        fields[key] = " ".join(parts)
    return fields


def _collect_packages(
    stanzas: list[_Stanza], copyrights: dict[str, CapturedFile], result: AnalyzerResult
) -> dict[str, str]:
    """Append the installed packages to `result`; return package name → maintainer."""
    maintainers: dict[str, str] = {}
    seen: set[tuple[str, str, str]] = set()
    skipped = 0
    for stanza in stanzas:
        package = package_from_stanza(stanza.fields, stanza.location)
        if package is None:
            skipped += not _well_formed(stanza.fields)
            continue
        key = (package.name, package.arch or "", package.location)
        if key in seen:
            continue
        seen.add(key)
        copyright_file = copyrights.get(package.name)
        if copyright_file is not None:
            package = replace(package, licenses=licenses_from_copyright(copyright_file.data))
        maintainers[package.name] = stanza.fields.get("maintainer", "")
        result.packages.append(package)
    if skipped:
        result.warnings.append(f"dpkg: {skipped} stanza(s) without a package name or version skipped")
    return maintainers


def _well_formed(fields: dict[str, str]) -> bool:
    """A stanza that names a package and a version (one that is merely not installed is no warning)."""
    return bool(fields.get("package") and fields.get("version"))


def _installed(status: str | None, location: str) -> bool:
    if status is None:  # dpkg always writes Status; distroless status.d stanzas have none
        return location != STATUS
    words = status.split()
    return len(words) == 3 and words[2] in INSTALLED_STATES


def package_from_stanza(fields: dict[str, str], location: str) -> Package | None:
    name = fields.get("package", "")
    version = fields.get("version", "")
    if not name or not version or " " in name or " " in version:
        return None
    if not _installed(fields.get("status"), location):
        return None
    source_name, source_version = name, version
    source = fields.get("source")
    if source:
        match = SOURCE_RE.match(source)
        if match:
            source_name = match["name"]
            source_version = (match["version"] or "").strip() or version
    arch = fields.get("architecture") or None
    return Package(
        name=name,
        version=version,
        ecosystem="deb",
        purl=_purl("debian", name, version, arch, source_name, source_version),
        location=location,
        source_name=source_name,
        source_version=source_version,
        arch=arch,
        extra=tuple((key, fields[key]) for key in EXTRA_FIELDS if fields.get(key)),
    )


def deb_purl(package: Package, os_id: str | None) -> str:
    """`pkg:deb/<os_id or debian>/<name>@<version>?arch=..&upstream=<source>[@<source version>]`.

    The analyzer cannot know the image's OS, so it builds the purl with "debian"; the merge calls this again
    with the image's os-release ID (ubuntu, ...) once it is known. `distro=` is left to the caller."""
    return _purl(
        os_id.lower() if os_id else "debian",
        package.name,
        package.version,
        package.arch,
        package.source_name or package.name,
        package.source_version or package.version,
    )


def _purl(namespace: str, name: str, version: str, arch: str | None, source_name: str, source_version: str) -> str:
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if source_version != version:
        qualifiers["upstream"] = f"{source_name}@{source_version}"
    elif source_name != name:
        qualifiers["upstream"] = source_name
    # packageurl's own normalize() and PackageURL.to_string()'s assembly: PackageURL(...).to_string() normalizes
    # twice, which is half the time of parsing a large status file.
    _type, ns, n, v, query, _subpath = normalize("deb", namespace, name, version, qualifiers, None)
    return f"pkg:deb/{ns}/{n}@{v}?{query}" if query else f"pkg:deb/{ns}/{n}@{v}"


def owned_files_from_md5sums(data: bytes) -> set[str]:
    """Paths from an md5sums file (`<md5>  <path>` per line), without the leading "/"."""
    paths: set[str] = set()
    for line in data.decode("utf-8", "replace").splitlines():
        _digest, sep, path = line.partition("  ")
        path = path.strip().lstrip("/")
        if sep and path:
            paths.add(path)
    return paths


def licenses_from_copyright(data: bytes) -> tuple[str, ...]:
    """License names from a `usr/share/doc/<pkg>/copyright` file, SPDX identifiers where known.

    Machine-readable (DEP-5) files name them in `License:` fields; there the common-licenses references only
    point at the text ("GPL-1+" refers to common-licenses/GPL-1). Free-form files are read for their
    `/usr/share/common-licenses/<name>` references only: a `License:` line in prose is not a field."""
    text = data.decode("utf-8", "replace")
    names: list[str] = []
    if DEP5_FORMAT_RE.match(text):
        for value in DEP5_LICENSE_RE.findall(text):
            names.extend(part for part in LICENSE_SPLIT_RE.split(value.strip()) if part)
    else:
        names.extend(COMMON_LICENSE_RE.findall(text))
    normalized = (SPDX_NAMES.get(name.lower(), name) for name in names)
    return tuple(dict.fromkeys(normalized))


def _is_third_party(maintainer: str) -> bool:
    lowered = maintainer.lower()
    return any(marker in lowered for marker in THIRD_PARTY_MAINTAINERS)
