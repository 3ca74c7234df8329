"""Image references as people write them: `host[:port]/repo:tag`, `repo@sha256:…`, `alpine`."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
DOCKER_HUB_REGISTRY = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")


class InvalidReference(ValueError):
    pass


@dataclass(frozen=True)
class ImageReference:
    host: str | None  # None when the reference names no registry (Docker Hub by convention)
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when given, else the tag (default latest)."""
        return self.digest or self.tag or "latest"

    @property
    def registry_host(self) -> str:
        return DOCKER_HUB_REGISTRY if self.host is None or self.host in DOCKER_HUB_HOSTS else self.host

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}" if self.host else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse like Docker does: the first component is a host when it has a dot or a colon or is
    `localhost`; Docker Hub names of one component get `library/`."""
    original = text.strip()
    if not original or any(c.isspace() for c in original):
        raise InvalidReference(f"{text!r} is not an image reference")
    rest, digest = original, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReference(f"{digest!r} is not a digest (expected sha256:<64 hex>)")
    host: str | None = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, rest = first.lower(), remainder
    tag = None
    name, colon, maybe_tag = rest.rpartition(":")
    if colon and "/" not in maybe_tag:
        rest, tag = name, maybe_tag
        if not _TAG.match(tag):
            raise InvalidReference(f"{tag!r} is not a valid tag")
    if not _PATH.match(rest):
        raise InvalidReference(f"{rest!r} is not a valid repository name (lower case, / separated)")
    if (host is None or host in DOCKER_HUB_HOSTS) and "/" not in rest:
        rest = f"library/{rest}"
    return ImageReference(host, rest, tag, digest)


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (with or without a port): Docker treats those as plain-HTTP registries."""
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
