"""The media types of the pluggable scanner API, and Accept matching as lenient as Harbor needs it."""

from __future__ import annotations

from dataclasses import dataclass

METADATA = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
VULNERABILITY_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
HARBOR_VULNERABILITY_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"

CONSUMED = (OCI_MANIFEST, DOCKER_MANIFEST)
SBOM_FORMATS = {SPDX: "spdx", CYCLONEDX: "cyclonedx"}
REPORT_TYPES = (VULNERABILITY_REPORT, HARBOR_VULNERABILITY_REPORT, SBOM_REPORT)


@dataclass(frozen=True)
class MediaType:
    essence: str  # type/subtype, lower case
    version: str | None

    @classmethod
    def parse(cls, text: str) -> MediaType:
        essence, *params = text.split(";")
        version = None
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "version":
                version = value.strip().strip('"')
        return cls(essence.strip().lower(), version)

    def matches(self, other: MediaType) -> bool:
        return self.essence == other.essence and (self.version is None or self.version == other.version)


_KNOWN = {media: MediaType.parse(media) for media in REPORT_TYPES}


def report_type(accept: str | None) -> str | None:
    """The report type an Accept header asks for: the first of its entries that names one regscout produces.
    Empty, `*/*` or `application/*` mean the v1.1 vulnerability report; None when it names none of them."""
    if not accept or not accept.strip():
        return VULNERABILITY_REPORT
    for entry in accept.split(","):
        wanted = MediaType.parse(entry)
        if wanted.essence in ("*/*", "application/*"):
            return VULNERABILITY_REPORT
        for media, known in _KNOWN.items():
            if wanted.matches(known):
                return media
    return None


def is_consumed(mime_type: str) -> bool:
    """Whether an artifact of this media type is one regscout scans (empty: Harbor did not say)."""
    return not mime_type or MediaType.parse(mime_type).essence in CONSUMED
