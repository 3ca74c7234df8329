"""Manifests and indexes of the OCI image spec and Docker schema 2, and platform choice."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import DigestMismatchError, ProtocolError, UnsupportedManifestError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def is_digest(ref: str) -> bool:
    return bool(_DIGEST.match(ref))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, expected: str, what: str) -> None:
    if not expected.startswith("sha256:"):
        return  # other algorithms are allowed by the spec; we cannot check what we cannot compute
    actual = sha256_digest(data)
    if actual != expected:
        raise DigestMismatchError(f"{what} digest mismatch: expected {expected}, got {actual}")


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform {text!r} is not OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, wanted: Platform) -> bool:
        if (self.os, self.architecture) != (wanted.os, wanted.architecture):
            return False
        return wanted.variant is None or self.variant in (wanted.variant, None)


DEFAULT_PLATFORM = Platform("linux", "amd64")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str) -> Descriptor:
        if not isinstance(data, dict):
            raise ProtocolError(f"{where}: descriptor is not an object")
        digest, size = data.get("digest"), data.get("size")
        if not isinstance(digest, str) or ":" not in digest:
            raise ProtocolError(f"{where}: descriptor has no valid digest")
        if not isinstance(size, int) or size < 0:
            raise ProtocolError(f"{where}: descriptor {digest} has no valid size")
        platform = None
        raw_platform = data.get("platform")
        if isinstance(raw_platform, dict) and raw_platform.get("os") and raw_platform.get("architecture"):
            platform = Platform(
                str(raw_platform["os"]),
                str(raw_platform["architecture"]),
                str(raw_platform["variant"]) if raw_platform.get("variant") else None,
            )
        annotations = data.get("annotations") if isinstance(data.get("annotations"), dict) else {}
        return cls(str(data.get("mediaType", "")), digest, size, platform, dict(annotations or {}))


@dataclass(frozen=True)
class ImageManifest:
    digest: str
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes


@dataclass(frozen=True)
class ImageIndex:
    digest: str
    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes

    def platforms(self) -> list[Platform]:
        return [m.platform for m in self.manifests if m.platform and m.platform.os != "unknown"]

    def select(self, wanted: Platform) -> Descriptor | None:
        for descriptor in self.manifests:
            if descriptor.platform and descriptor.platform.matches(wanted):
                return descriptor
        return None


Manifest = ImageManifest | ImageIndex


def parse_manifest(body: bytes, content_type: str | None, digest: str) -> Manifest:
    """Parse a manifest body. Raises ProtocolError on anything malformed, and
    UnsupportedManifestError for schema 1 and unknown media types."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"manifest {digest} is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"manifest {digest} is not a JSON object")
    header_type = (content_type or "").split(";")[0].strip()
    media_type = data.get("mediaType") or header_type
    if data.get("schemaVersion") == 1 or media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
        raise UnsupportedManifestError(
            f"legacy manifest not supported: {digest} is a Docker schema 1 manifest",
            hint="Re-push the image with a current Docker or Podman, or convert it with `skopeo copy --format v2s2`",
        )
    if data.get("schemaVersion") != 2:
        raise ProtocolError(f"manifest {digest} has schemaVersion {data.get('schemaVersion')!r}, expected 2")
    if "manifests" in data and media_type not in IMAGE_TYPES:
        if not isinstance(data["manifests"], list):
            raise ProtocolError(f"index {digest}: 'manifests' is not a list")
        entries = tuple(Descriptor.from_json(item, f"index {digest}") for item in data["manifests"])
        return ImageIndex(digest, media_type or OCI_INDEX, entries, body)
    if "config" in data and media_type not in INDEX_TYPES:
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ProtocolError(f"manifest {digest}: 'layers' is not a list")
        return ImageManifest(
            digest,
            media_type or OCI_MANIFEST,
            Descriptor.from_json(data["config"], f"manifest {digest} config"),
            tuple(Descriptor.from_json(layer, f"manifest {digest} layer") for layer in layers),
            body,
        )
    raise UnsupportedManifestError(f"manifest {digest} has unsupported media type {media_type!r}")
