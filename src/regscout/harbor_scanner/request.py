"""Harbor's scan request, read exactly: bad JSON or wrong JSON types are 400, an invalid field is 422, a
capability regscout does not have is 501 (the status codes the pluggable scanner API gives them)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import mime

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")


class ScanRequestError(Exception):
    """A scan request regscout cannot take; `status` is the answer the API gives it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ScanRequest:
    registry_url: str
    authorization: str  # "" = anonymous
    repository: str
    tag: str
    digest: str
    mime_type: str
    capabilities: tuple[str, ...]  # vulnerability and/or sbom
    sbom_media_type: str | None  # with sbom: the format asked for


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScanRequestError(400, f"{where} must be a JSON object")
    return value


def _string(container: dict[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ScanRequestError(400, f"{where}.{key} must be a string")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ScanRequestError(400, f"{where} must be an array of strings")
    return value


def parse_scan_request(body: bytes) -> ScanRequest:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ScanRequestError(400, f"the body is not JSON: {error}") from None
    data = _object(data, "the body")
    registry = _object(data.get("registry"), "registry") if "registry" in data else {}
    artifact = _object(data.get("artifact"), "artifact") if "artifact" in data else {}
    url = _string(registry, "url", "registry")
    authorization = _string(registry, "authorization", "registry")
    repository = _string(artifact, "repository", "artifact")
    tag = _string(artifact, "tag", "artifact")
    digest = _string(artifact, "digest", "artifact")
    mime_type = _string(artifact, "mime_type", "artifact")
    capabilities, sbom_media_type = _capabilities(data.get("enabled_capabilities"))

    parts = urlsplit(url)
    if not url:
        raise ScanRequestError(422, "registry.url is required")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScanRequestError(422, f"registry.url {url!r} is not an http(s) URL")
    if not repository:
        raise ScanRequestError(422, "artifact.repository is required")
    if not _REPOSITORY.fullmatch(repository):
        raise ScanRequestError(422, f"artifact.repository {repository!r} is not a repository name")
    if not digest:
        raise ScanRequestError(422, "artifact.digest is required")
    if not _DIGEST.fullmatch(digest):
        raise ScanRequestError(422, f"artifact.digest {digest!r} is not a sha256 digest")
    if tag and not _TAG.fullmatch(tag):
        raise ScanRequestError(422, f"artifact.tag {tag!r} is not a tag")
    if not mime.is_consumed(mime_type):
        raise ScanRequestError(
            501, f"artifact.mime_type {mime_type!r} is not an image manifest ({', '.join(mime.CONSUMED)})"
        )
    return ScanRequest(
        url.rstrip("/"), authorization.strip(), repository, tag, digest, mime_type, capabilities, sbom_media_type
    )


def _capabilities(value: Any) -> tuple[tuple[str, ...], str | None]:
    """The enabled capabilities and the SBOM format; none given (Harbor before 2.11) = every capability regscout
    has, as the v1.2 spec says, with SPDX for the SBOM."""
    if value is None:
        return ("vulnerability",), None
    if not isinstance(value, list):
        raise ScanRequestError(400, "enabled_capabilities must be an array")
    if not value:
        return ("vulnerability",), None
    kinds: list[str] = []
    sbom_media_type: str | None = None
    for index, item in enumerate(value):
        where = f"enabled_capabilities[{index}]"
        entry = _object(item, where)
        kind = entry.get("type", "vulnerability")
        if not isinstance(kind, str):
            raise ScanRequestError(400, f"{where}.type must be a string")
        produces = _strings(entry.get("produces_mime_types"), f"{where}.produces_mime_types")
        parameters = entry.get("parameters")
        parameters = _object(parameters, f"{where}.parameters") if parameters is not None else {}
        if kind == "vulnerability":
            wanted: tuple[str, ...] = (mime.VULNERABILITY_REPORT, mime.HARBOR_VULNERABILITY_REPORT)
        elif kind == "sbom":
            wanted = (mime.SBOM_REPORT,)
            sbom_media_type = _sbom_format(parameters, where)
        else:
            raise ScanRequestError(501, f"capability {kind!r} is not one regscout has (vulnerability, sbom)")
        unknown = [media for media in produces if mime.report_type(media) not in wanted]
        if unknown:
            raise ScanRequestError(501, f"regscout does not produce {', '.join(unknown)} for {kind} scans")
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds), sbom_media_type


def _sbom_format(parameters: dict[str, Any], where: str) -> str:
    formats = _strings(parameters.get("sbom_media_types"), f"{where}.parameters.sbom_media_types")
    unsupported = [media for media in formats if media not in mime.SBOM_FORMATS]
    if unsupported:
        raise ScanRequestError(
            501, f"SBOM format {', '.join(unsupported)} is not produced (only {', '.join(mime.SBOM_FORMATS)})"
        )
    if len(set(formats)) > 1:
        raise ScanRequestError(501, "one SBOM format per scan request (Harbor asks for one)")
    return formats[0] if formats else mime.SPDX
