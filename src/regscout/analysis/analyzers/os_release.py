"""The operating system: os-release, then distribution-specific release files.

`etc/os-release` is usually a symlink to `../usr/lib/os-release` and only regular files are captured, so both
paths are asked for. Within one layer the order is etc/os-release, usr/lib/os-release, then the distro files;
across layers the image-level merge takes the topmost layer's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..model import AnalyzerResult, CapturedFile, OSRelease
from .base import Analyzer, Interest

KiB = 1024

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
DEBIAN_VERSION = "etc/debian_version"
LSB_RELEASE = "etc/lsb-release"
ALPINE_RELEASE = "etc/alpine-release"
SYSTEM_RELEASE_CPE = "etc/system-release-cpe"
# The specific files first: on Rocky, AlmaLinux and CentOS redhat-release is a copy of (or link to) them.
REDHAT_RELEASES = (
    "etc/rocky-release",
    "etc/almalinux-release",
    "etc/centos-release",
    "etc/redhat-release",
)

# "<Name> release <version> (<codename>)" → os-release ID, longest names first.
REDHAT_NAMES = (
    ("red hat enterprise linux", "rhel"),
    ("centos stream", "centos"),
    ("centos", "centos"),
    ("rocky linux", "rocky"),
    ("almalinux", "almalinux"),
    ("scientific linux", "scientific"),
    ("oracle linux", "ol"),
    ("fedora", "fedora"),
    ("cloudlinux", "cloudlinux"),
)
REDHAT_RELEASE_RE = re.compile(r"^(?P<name>.+?)\s+release\s+(?P<version>\S+)(?:\s+\((?P<codename>[^)]*)\))?", re.I)

# CPE vendor (cpe:/o:<vendor>:<product>:<version> or cpe:2.3:o:...) → os-release ID.
CPE_VENDORS = {
    "redhat": "rhel",
    "centos": "centos",
    "rocky": "rocky",
    "almalinux": "almalinux",
    "fedoraproject": "fedora",
    "amazon": "amzn",
    "oracle": "ol",
    "scientificlinux": "scientific",
}


class OSReleaseAnalyzer(Analyzer):
    name = "os-release"
    version = 1
    interest = Interest(
        exact=frozenset(
            (*OS_RELEASE, DEBIAN_VERSION, LSB_RELEASE, ALPINE_RELEASE, SYSTEM_RELEASE_CPE, *REDHAT_RELEASES)
        ),
        max_size=64 * KiB,
    )

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        by_path = {f.path: f.data.decode("utf-8", "replace") for f in files}
        for path, reader in _READERS:
            text = by_path.get(path)
            if text is None:
                continue
            release = reader(text, path)
            if release is not None:
                result.os = _supplement(release, by_path)
                return result
            result.warnings.append(f"{path}: no operating system found in it")
        return result


def parse_os_release(text: str) -> dict[str, str]:
    """Shell-style `KEY=value` assignments (os-release(5)): quotes, backslash escapes, comments."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            continue
        values[key] = _unquote(raw.strip())
    return values


def _unquote(raw: str) -> str:
    """One shell word: quotes removed and backslash escapes resolved (inside double quotes only before
    `$`, `"`, backslash and backtick); an unclosed quote runs to the end of the line. Unquoted spaces are
    kept (`NAME=Debian GNU/Linux` is invalid shell but occurs) and " #" starts a comment."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(raw):
        char = raw[i]
        if quote == "'":
            quote = "" if char == "'" else quote
            out.append("" if char == "'" else char)
        elif char == "\\" and i + 1 < len(raw) and (not quote or raw[i + 1] in '$"\\`'):
            i += 1
            out.append(raw[i])
        elif char == '"' or (char == "'" and not quote):
            quote = "" if quote else char
        elif char == "#" and not quote and (i == 0 or raw[i - 1].isspace()):
            break
        else:
            out.append(char)
        i += 1
    return "".join(out).strip()


def _from_os_release(text: str, path: str) -> OSRelease | None:
    values = parse_os_release(text)
    os_id = values.get("ID", "").lower()
    if not os_id:
        return None
    return OSRelease(
        id=os_id,
        version_id=values.get("VERSION_ID", ""),
        name=values.get("NAME", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        version_codename=values.get("VERSION_CODENAME", ""),
        source=path,
    )


def _from_alpine_release(text: str, path: str) -> OSRelease | None:
    version = text.strip().split()[0] if text.strip() else ""
    if not version[:1].isdigit():
        return None
    return OSRelease(id="alpine", version_id=version, name="Alpine Linux", source=path)


def _from_lsb_release(text: str, path: str) -> OSRelease | None:
    values = parse_os_release(text)
    os_id = values.get("DISTRIB_ID", "").lower()
    if not os_id:
        return None
    return OSRelease(
        id=os_id,
        version_id=values.get("DISTRIB_RELEASE", ""),
        name=values.get("DISTRIB_ID", ""),
        pretty_name=values.get("DISTRIB_DESCRIPTION", ""),
        version_codename=values.get("DISTRIB_CODENAME", ""),
        source=path,
    )


def _from_system_release_cpe(text: str, path: str) -> OSRelease | None:
    parts = text.strip().split(":")
    if parts[:2] == ["cpe", "2.3"]:
        parts = ["cpe", "/o", *parts[3:]]  # cpe:2.3:o:vendor:product:version → the 2.2 layout
    if len(parts) < 5 or parts[0] != "cpe" or parts[1] != "/o":
        return None
    os_id = CPE_VENDORS.get(parts[2].lower())
    if os_id is None:
        return None
    return OSRelease(id=os_id, version_id=parts[4], id_like=_rhel_like(os_id), source=path)


def _from_redhat_release(text: str, path: str) -> OSRelease | None:
    match = REDHAT_RELEASE_RE.match(text.strip())
    if match is None:
        return None
    name = match["name"].strip()
    lowered = name.lower()
    os_id = next((i for prefix, i in REDHAT_NAMES if lowered.startswith(prefix)), None)
    if os_id is None:
        return None
    return OSRelease(
        id=os_id,
        version_id=match["version"],
        name=name,
        pretty_name=text.strip().splitlines()[0],
        id_like=_rhel_like(os_id),
        version_codename=match["codename"] or "",
        source=path,
    )


def _from_debian_version(text: str, path: str) -> OSRelease | None:
    value = text.strip()
    if not value or len(value.split()) != 1:
        return None
    return OSRelease(id="debian", version_id=_debian_version_id(value), name="Debian GNU/Linux", source=path)


def _debian_version_id(value: str) -> str:
    """ "12.5" → "12" (os-release's VERSION_ID for Debian is the major release); "trixie/sid" stays as is."""
    major = value.split(".")[0]
    return major if major.isdigit() else value


def _rhel_like(os_id: str) -> tuple[str, ...]:
    return () if os_id in ("rhel", "fedora") else ("rhel",)


def _supplement(release: OSRelease, by_path: dict[str, str]) -> OSRelease:
    """Debian testing and sid have no VERSION_ID in os-release; etc/debian_version ("trixie/sid") fills it."""
    debian_version = by_path.get(DEBIAN_VERSION, "").strip()
    if release.id == "debian" and not release.version_id and debian_version and len(debian_version.split()) == 1:
        return replace(release, version_id=_debian_version_id(debian_version))
    return release


_READERS: tuple[tuple[str, Callable[[str, str], OSRelease | None]], ...] = (
    *((path, _from_os_release) for path in OS_RELEASE),
    (ALPINE_RELEASE, _from_alpine_release),
    (LSB_RELEASE, _from_lsb_release),
    (SYSTEM_RELEASE_CPE, _from_system_release_cpe),
    *((path, _from_redhat_release) for path in REDHAT_RELEASES),
    (DEBIAN_VERSION, _from_debian_version),
)
