"""A Harbor stand-in: calls a pluggable scanner adapter the way Harbor v2.11+ does.

Written from ``/work/shared/HARBOR.md`` (sections named in each docstring) and Harbor's own
client: ``src/pkg/scan/rest/v1/{client.go,spec.go,models.go}``, ``src/pkg/scan/rest/auth/``,
``src/pkg/scan/job.go``, ``src/pkg/scan/sbom/sbom.go``, ``src/pkg/scan/vuln/{report,severity}.go``
(goharbor/harbor). Where HARBOR.md asks for more than Harbor checks, the stand-in checks it too
and says so.

Waiting for ``Refresh-After`` is Harbor's protocol, not test synchronisation: ``sleep`` is
injectable so unit tests need not wait, and ``time_scale`` shortens the waits against a real
adapter. The 5 s per-call timeout is not scaled.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

import httpx

from tests.harness.scanner_spec import ScannerSpec, SpecViolation, same_media_type

__all__ = [
    "DEFAULT_REFRESH_SECONDS",
    "FIRST_CHECK_SECONDS",
    "HARBOR_REPORT_MIME_TYPES",
    "MIME_DOCKER_MANIFEST",
    "MIME_ERROR",
    "MIME_METADATA",
    "MIME_NATIVE_REPORT",
    "MIME_OCI_MANIFEST",
    "MIME_SBOM_REPORT",
    "MIME_SCAN_REQUEST",
    "MIME_SCAN_RESPONSE",
    "MIME_VULN_REPORT",
    "SBOM_MEDIA_TYPES",
    "SEVERITIES",
    "Exchange",
    "HarborCallFailed",
    "HarborRejected",
    "HarborScanFailed",
    "HarborStandIn",
    "ScanResult",
    "ScannerAuth",
    "ScannerUnhealthy",
    "build_scan_request",
    "harbor_error_message",
    "harbor_refresh_after",
    "metadata_problems",
    "report_problems",
]

# spec.go / models.go constants
MIME_METADATA = "application/vnd.scanner.adapter.metadata+json; version=1.0"
MIME_SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
MIME_SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
MIME_ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
MIME_VULN_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
MIME_NATIVE_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
MIME_SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
MIME_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MIME_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HARBOR_REPORT_MIME_TYPES = (MIME_NATIVE_REPORT, MIME_VULN_REPORT, MIME_SBOM_REPORT)  # models.go supportedMimeTypes
SBOM_MEDIA_TYPES = ("application/spdx+json", "application/vnd.cyclonedx+json")
SBOM_SPDX = "application/spdx+json"  # the only one Harbor asks for (sbom/sbom.go)
SEVERITIES = ("Unknown", "Negligible", "Low", "Medium", "High", "Critical")
FIRST_CHECK_SECONDS = 2.0  # job.go firstCheckInterval
DEFAULT_REFRESH_SECONDS = 5  # client.go defaultRefreshInterval
_GO_USER_AGENT = "Go-http-client/1.1"
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE)
_SCAN_ID = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")  # RFC 3986 pchar without '%'

AuthKind = Literal["Bearer", "Basic", "APIKey"]
CapabilityType = Literal["vulnerability", "sbom"]


# -- errors -------------------------------------------------------------------------------------


class HarborRejected(AssertionError):
    """Harbor would not accept what the adapter did."""


class ScannerUnhealthy(HarborRejected):
    """Harbor marks the scanner unhealthy (HARBOR.md "Metadata"; models.go ``Validate``)."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("scanner unhealthy: " + "; ".join(reasons))


class HarborScanFailed(HarborRejected):
    """Harbor fails the scan for good (HARBOR.md "Timing": one failed call, no retry).

    ``status`` is the HTTP status (None when there was none: timeout, connection error, or a
    scan Harbor would not start); ``message`` is the adapter's error-envelope message when there
    was one (``has_envelope``), otherwise a description of what Harbor would have logged.
    """

    def __init__(self, status: int | None, message: str, body: bytes = b"", *, has_envelope: bool = False) -> None:
        self.status = status
        self.message = message
        self.body = body
        self.has_envelope = has_envelope
        super().__init__(
            f"Harbor fails the scan: {'HTTP ' + str(status) if status is not None else 'no response'}: {message}"
        )


class HarborCallFailed(HarborRejected):
    """A ``raw`` call that got no usable response in time (Harbor's 5 s client timeout)."""


class _CallError(Exception):
    pass


# -- auth ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScannerAuth:
    """How Harbor authenticates to the adapter (HARBOR.md "Authentication of Harbor to us"; rest/auth/*.go).

    ``credential`` is the token (Bearer), ``user:pass`` (Basic, base64-encoded on the wire) or the key
    (APIKey, sent raw in ``X-ScannerAdapter-API-Key``). Harbor's authorizers refuse an empty credential.
    """

    kind: AuthKind
    credential: str

    def __post_init__(self) -> None:
        if self.kind not in ("Bearer", "Basic", "APIKey"):
            raise ValueError(f"auth kind {self.kind!r}: Harbor knows Bearer, Basic and APIKey")
        if not self.credential:
            raise ValueError(f"{self.kind}: missing access credential (Harbor refuses to authorize)")

    def headers(self) -> dict[str, str]:
        if self.kind == "Bearer":
            return {"Authorization": f"Bearer {self.credential}"}
        if self.kind == "Basic":
            return {"Authorization": "Basic " + base64.b64encode(self.credential.encode()).decode("ascii")}
        return {"X-ScannerAdapter-API-Key": self.credential}


# -- records ------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One call to the adapter: what was sent and what came back (status None: no response)."""

    method: str
    path: str
    query: str
    status: int | None
    request_headers: httpx.Headers
    headers: httpx.Headers
    elapsed: float
    body: bytes = b""
    request_body: bytes = b""
    error: str | None = None


@dataclass
class ScanResult:
    """A finished scan as Harbor saw it."""

    scan_id: str
    report: dict[str, Any]
    polls: int
    refresh_after: list[int] = field(default_factory=list)
    """The waits Harbor derived from each 302 (after its fallbacks)."""
    refresh_after_raw: list[str | None] = field(default_factory=list)
    """The ``Refresh-After`` header of each 302 as sent (None: absent)."""
    report_mime_type: str = MIME_VULN_REPORT
    request: dict[str, Any] = field(default_factory=dict)
    """The scan request body sent."""


# -- Harbor's parsing rules -----------------------------------------------------------------------


def harbor_refresh_after(value: str | None) -> int:
    """The seconds Harbor waits after a 302 (client.go ``reportResponseHandler``).

    ``strconv.ParseInt(v, 10, 8)``: an optional sign and decimal digits in -128..127; anything else
    (absent, empty, non-numeric, above 127) falls back to 5. 0 and negatives are returned as they are:
    Harbor resets its timer to them and polls again at once (job.go), which the stand-in rejects.
    """
    if value and re.fullmatch(r"[+-]?[0-9]+", value):
        number = int(value)
        if -128 <= number <= 127:
            return number
    return DEFAULT_REFRESH_SECONDS


def harbor_error_message(body: bytes) -> tuple[str, bool]:
    """The message Harbor would log for an unexpected status, and whether the envelope was there.

    client.go ``generalRespHandlerFunc`` unmarshals a non-empty body into ``{"error":{"message":…}}``;
    if that fails its log shows only the JSON error, so the adapter's text is lost (HARBOR.md "Scan
    request": "a non-JSON error body hides your message in Harbor's log").
    """
    if not body:
        return "empty body, no error envelope: Harbor logs only 'unexpected status code'", False
    snippet = body[:200].decode("utf-8", "replace")
    try:
        document = json.loads(body)
    except ValueError:
        return (
            'body is not the error envelope {"error":{"message":...}} (not JSON): Harbor\'s log shows only '
            f"a JSON syntax error and hides it: {snippet!r}"
        ), False
    error = document.get("error") if isinstance(document, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        return (
            'body is JSON but not the error envelope {"error":{"message":...}}: Harbor logs an empty or '
            f"unmarshal-error message instead: {snippet!r}"
        ), False
    if not message:
        return "error envelope with an empty message: Harbor logs no reason", True
    return message, True


# Go's encoding/json: a JSON null leaves a field at its zero value; a wrong JSON type is an error.
_Shape: TypeAlias = "str | dict[str, _Shape] | tuple[str, _Shape]"
_SCANNER: dict[str, _Shape] = {"name": "string", "vendor": "string", "version": "string"}
_ARTIFACT: dict[str, _Shape] = {"repository": "string", "digest": "string", "tag": "string", "mime_type": "string"}
_METADATA: dict[str, _Shape] = {
    "scanner": _SCANNER,
    "capabilities": (
        "list",
        {
            "type": "string",
            "consumes_mime_types": ("list", "string"),
            "produces_mime_types": ("list", "string"),
            "additional_attributes": ("map", "any"),
        },
    ),
    "properties": ("map", "string"),
}
_CVSS_SOURCE: dict[str, _Shape] = {"V3Score": "number", "V2Score": "number", "V3Vector": "string", "V2Vector": "string"}
_VULNERABILITY: dict[str, _Shape] = {
    "id": "string",
    "package": "string",
    "version": "string",
    "fix_version": "string",
    "severity": "string",
    "status": "string",
    "description": "string",
    "links": ("list", "string"),
    "artifact_digests": ("list", "string"),
    "layer": {"digest": "string", "diff_id": "string"},
    "preferred_cvss": {"score_v3": "number", "score_v2": "number", "vector_v3": "string", "vector_v2": "string"},
    "cwe_ids": ("list", "string"),
    "vendor_attributes": {"CVSS": ("map", _CVSS_SOURCE)},
}
_VULN_REPORT: dict[str, _Shape] = {
    "generated_at": "string",
    "artifact": _ARTIFACT,
    "scanner": _SCANNER,
    "severity": "string",
    "vulnerabilities": ("list", _VULNERABILITY),
}
_SBOM_REPORT: dict[str, _Shape] = {
    "generated_at": "string",
    "artifact": _ARTIFACT,
    "scanner": _SCANNER,
    "vendor_attributes": ("map", "any"),
    "media_type": "string",
    "sbom": ("map", "any"),
}


def _go_type_problems(value: Any, shape: _Shape, where: str) -> list[str]:
    """What Go's ``json.Unmarshal`` would reject, for a struct/map/slice shape (unknown keys ignored)."""
    if value is None or shape == "any":
        return []
    if shape == "string":
        return [] if isinstance(value, str) else [f"{where}: expected a string, got {json.dumps(value)[:60]}"]
    if shape == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number, got {json.dumps(value)[:60]}"]
    if isinstance(shape, tuple):
        kind, inner = shape
        if kind == "list":
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {json.dumps(value)[:60]}"]
            return [p for i, item in enumerate(value) for p in _go_type_problems(item, inner, f"{where}[{i}]")]
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {json.dumps(value)[:60]}"]
        return [p for key, item in value.items() for p in _go_type_problems(item, inner, f"{where}.{key}")]
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {json.dumps(value)[:60]}"]
    assert isinstance(shape, dict)
    return [
        p
        for key, inner in shape.items()
        if key in value
        for p in _go_type_problems(value[key], inner, f"{where}.{key}")
    ]


def metadata_problems(metadata: Any) -> list[str]:
    """Why Harbor would mark the scanner unhealthy; empty when healthy.

    Harbor (models.go ``ScannerAdapterMetadata.Validate``): scanner name, vendor, version non-empty; at
    least one capability; each capability consumes the Docker v2 manifest type and produces at least
    one of ``HARBOR_REPORT_MIME_TYPES`` matched to the letter. HARBOR.md "Metadata" adds, and the
    stand-in checks: the OCI manifest type consumed too; ``type`` vulnerability (default) or sbom; the
    sbom capability's ``additional_attributes.sbom_media_types`` (including SPDX, the only format
    Harbor requests: sbom/sbom.go); properties string->string, the database times RFC 3339, the
    registry authorization type Basic or Bearer.
    """
    if not isinstance(metadata, dict):
        return [f"metadata is not a JSON object: {json.dumps(metadata)[:80]}"]
    problems = _go_type_problems(metadata, _METADATA, "metadata")
    if problems:
        return problems
    scanner = metadata.get("scanner") or {}
    if not all(scanner.get(key) for key in ("name", "vendor", "version")):
        problems.append(f"invalid scanner in metadata: name, vendor and version must be non-empty, got {scanner!r}")
    capabilities = metadata.get("capabilities") or []
    if not capabilities:
        problems.append("invalid capabilities in metadata: at least one capability is required")
    for index, capability in enumerate(capabilities):
        where = f"capabilities[{index}]"
        if not isinstance(capability, dict):
            problems.append(f"{where} is null")
            continue
        consumes = capability.get("consumes_mime_types") or []
        produces = capability.get("produces_mime_types") or []
        kind = capability.get("type") or "vulnerability"
        if MIME_DOCKER_MANIFEST not in consumes:
            problems.append(f"{where}: missing {MIME_DOCKER_MANIFEST} in consumes_mime_types")
        if MIME_OCI_MANIFEST not in consumes:
            problems.append(f"{where}: missing {MIME_OCI_MANIFEST} in consumes_mime_types (HARBOR.md)")
        if not any(mime in HARBOR_REPORT_MIME_TYPES for mime in produces):
            problems.append(
                f"{where}: produces_mime_types {produces!r} has none of {', '.join(HARBOR_REPORT_MIME_TYPES)} "
                "(matched to the letter)"
            )
        if kind not in ("vulnerability", "sbom"):
            problems.append(f"{where}: type {kind!r} is neither vulnerability nor sbom")
        if kind == "sbom":
            media_types = (capability.get("additional_attributes") or {}).get("sbom_media_types")
            if not isinstance(media_types, list) or not media_types or not all(isinstance(m, str) for m in media_types):
                problems.append(f"{where}: the sbom capability must list additional_attributes.sbom_media_types")
            else:
                unknown = [m for m in media_types if m not in SBOM_MEDIA_TYPES]
                if unknown:
                    problems.append(
                        f"{where}: unknown sbom_media_types {unknown!r} (known: {', '.join(SBOM_MEDIA_TYPES)})"
                    )
                if SBOM_SPDX not in media_types:
                    problems.append(f"{where}: sbom_media_types lacks {SBOM_SPDX}, the only format Harbor requests")
    properties = metadata.get("properties") or {}
    for key in (
        "harbor.scanner-adapter/vulnerability-database-updated-at",
        "harbor.scanner-adapter/vulnerability-database-next-update-at",
    ):
        value = properties.get(key)
        if value is not None and not _is_rfc3339(value):
            problems.append(f"properties[{key!r}] = {value!r} is not an RFC 3339 time")
    auth_type = properties.get("harbor.scanner-adapter/registry-authorization-type")
    if auth_type is not None and auth_type not in ("Basic", "Bearer"):
        problems.append(
            f"properties['harbor.scanner-adapter/registry-authorization-type'] = {auth_type!r}: Basic or Bearer"
        )
    return problems


def _is_rfc3339(value: str) -> bool:
    if not _RFC3339.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def report_problems(report: Any, *, mime_type: str, digest: str, sbom_media_type: str | None = None) -> list[str]:
    """What Harbor would reject in a report (HARBOR.md "Report"; vuln/report.go, sbom/model/report.go).

    Types as Go unmarshals them (numbers are numbers, strings are strings, null is a zero value).
    Vulnerability reports: severities one of ``SEVERITIES`` (report and items), ``artifact.digest``
    equal to the scanned digest. SBOM reports: ``media_type`` the requested one and ``sbom`` an SPDX
    (``spdxVersion``) or CycloneDX (``bomFormat``) document.
    """
    if not isinstance(report, dict):
        return [f"report is not a JSON object: {json.dumps(report)[:80]}"]
    if same_media_type(mime_type, MIME_SBOM_REPORT):
        problems = _go_type_problems(report, _SBOM_REPORT, "report")
        if problems:
            return problems
        if report.get("media_type") != sbom_media_type:
            problems.append(f"report.media_type {report.get('media_type')!r} is not the requested {sbom_media_type!r}")
        sbom = report.get("sbom")
        if not isinstance(sbom, dict) or not sbom:
            problems.append("report.sbom is missing or empty: Harbor pushes it as the SBOM accessory")
        elif sbom_media_type == SBOM_SPDX and not (isinstance(sbom.get("spdxVersion"), str) and sbom["spdxVersion"]):
            problems.append("report.sbom is not an SPDX document (no spdxVersion)")
        elif sbom_media_type == "application/vnd.cyclonedx+json" and sbom.get("bomFormat") != "CycloneDX":
            problems.append(f"report.sbom is not a CycloneDX document (bomFormat {sbom.get('bomFormat')!r})")
        return problems
    problems = _go_type_problems(report, _VULN_REPORT, "report")
    if problems:
        return problems
    if report.get("severity") not in SEVERITIES:
        problems.append(f"report.severity {report.get('severity')!r} is not one of {', '.join(SEVERITIES)}")
    artifact = report.get("artifact") or {}
    if artifact.get("digest") != digest:
        problems.append(f"report.artifact.digest {artifact.get('digest')!r} is not the scanned {digest!r}")
    for index, item in enumerate(report.get("vulnerabilities") or []):
        if not isinstance(item, dict):
            problems.append(f"report.vulnerabilities[{index}] is null")
        elif item.get("severity") not in SEVERITIES:
            severity = item.get("severity")
            problems.append(
                f"report.vulnerabilities[{index}].severity {severity!r} is not one of {', '.join(SEVERITIES)}"
            )
    return problems


def build_scan_request(
    repository: str,
    digest: str,
    *,
    registry_url: str,
    registry_authorization: str = "",
    tag: str = "",
    mime_type: str = MIME_DOCKER_MANIFEST,
    capability: CapabilityType = "vulnerability",
    produces: str | None = None,
    sbom_media_type: str | None = None,
    insecure: bool = False,
    size: int | None = None,
) -> dict[str, Any]:
    """The scan request body as Harbor 2.11+ builds it (HARBOR.md "Scan request"; models.go, sbom/sbom.go)."""
    artifact: dict[str, Any] = {"repository": repository, "tag": tag, "digest": digest, "mime_type": mime_type}
    if size is not None:
        artifact["size"] = size
    enabled: dict[str, Any]
    if capability == "sbom":
        enabled = {
            "type": "sbom",
            "produces_mime_types": [produces or MIME_SBOM_REPORT],
            "parameters": {"sbom_media_types": [sbom_media_type or SBOM_SPDX]},
        }
    else:
        enabled = {"type": "vulnerability", "produces_mime_types": [produces or MIME_VULN_REPORT], "parameters": None}
    return {
        "registry": {"url": registry_url, "authorization": registry_authorization, "insecure": insecure},
        "artifact": artifact,
        "enabled_capabilities": [enabled],
    }


# -- the stand-in ---------------------------------------------------------------------------------


class HarborStandIn:
    """Harbor v2.11+ as a caller of one registered scanner (HARBOR.md "Endpoints", "Timing").

    ``base_url`` is the registration URL: one trailing ``/`` is stripped and ``/api/v1`` appended
    (spec.go ``NewSpec``). Every call carries ``auth``'s header, must finish (headers and whole body)
    within ``timeout_seconds`` (client.go: ``http.Client{Timeout: 5 * time.Second}``), does not follow
    redirects (``ErrUseLastResponse``), is recorded in ``exchanges`` and, when ``spec`` is given, has
    its response checked with ``spec.validate_response``. ``transport`` replaces the network (tests).
    Proxy variables are ignored (``trust_env=False``) so tests never leave the machine.
    """

    def __init__(
        self,
        base_url: str,
        auth: ScannerAuth | None,
        *,
        spec: ScannerSpec | None = None,
        timeout_seconds: float = 5.0,
        time_scale: float = 1.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout_seconds <= 0 or time_scale < 0:
            raise ValueError("timeout_seconds must be > 0 and time_scale >= 0")
        self.base_url = base_url
        self.api_base = (base_url[:-1] if base_url.endswith("/") else base_url) + "/api/v1"
        self.auth = auth
        self.spec = spec
        self.timeout_seconds = timeout_seconds
        self.time_scale = time_scale
        self.sleep = sleep
        self.exchanges: list[Exchange] = []
        tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._client = httpx.Client(
            verify=tls,
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HarborStandIn:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- one call -------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, headers: Mapping[str, str | None], content: bytes | None = None
    ) -> httpx.Response:
        """Send, read the whole body under the deadline, record, check the time, validate."""
        # Go's client sends no Accept unless asked, and only gzip as Accept-Encoding (it decodes that itself).
        merged: dict[str, str | None] = {"user-agent": _GO_USER_AGENT, "accept-encoding": "gzip", "accept": None}
        merged.update({key.lower(): value for key, value in (self.auth.headers() if self.auth else {}).items()})
        merged.update({key.lower(): value for key, value in headers.items()})
        sent = {key: value for key, value in merged.items() if value is not None}
        request = self._client.build_request(method, self.api_base + path, headers=sent, content=content)
        for key in merged.keys() - sent.keys():  # None: leave the header out, defaults included
            request.headers.pop(key, None)
        start = time.monotonic()
        deadline = start + self.timeout_seconds
        status: int | None = None
        response_headers = httpx.Headers()
        raw: list[bytes] = []
        error: str | None = None
        response: httpx.Response | None = None
        try:
            streamed = self._client.send(request, stream=True)
            status, response_headers = streamed.status_code, streamed.headers
            try:
                if streamed.is_stream_consumed:  # an in-memory transport hands over a read response
                    response = streamed
                else:
                    for chunk in streamed.iter_raw():
                        raw.append(chunk)
                        if time.monotonic() > deadline:
                            break
            finally:
                streamed.close()
        except httpx.TimeoutException as exc:
            error = f"timed out after {time.monotonic() - start:.3f}s ({type(exc).__name__})"
        except httpx.TransportError as exc:
            error = f"transport error: {exc!r}"
        elapsed = time.monotonic() - start
        if error is None and elapsed > self.timeout_seconds:
            error = f"took {elapsed:.3f}s; Harbor's client gives up after {self.timeout_seconds:g}s (client.go Timeout)"
        if error is None and status is not None and response is None:
            try:  # decodes Content-Encoding once, as Go's transport does for gzip
                response = httpx.Response(status, headers=response_headers, content=b"".join(raw), request=request)
            except httpx.DecodingError as exc:
                error = f"body could not be decoded: {exc}"
        self.exchanges.append(
            Exchange(
                method=method,
                path=request.url.path,
                query=request.url.query.decode("ascii"),
                status=status,
                request_headers=request.headers,
                headers=response_headers,
                elapsed=elapsed,
                body=response.content if response is not None else b"".join(raw),
                request_body=content or b"",
                error=error,
            )
        )
        if error is not None or response is None:
            raise _CallError(error or "no response")
        if self.spec is not None:
            self.spec.validate_response(
                method,
                request.url.path,
                response.status_code,
                response.headers.get("Content-Type"),
                response.content,
                headers=response.headers,
            )
        return response

    def raw(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str | None] | None = None,
        content: bytes | str | None = None,
    ) -> httpx.Response:
        """Any call below ``{base}/api/v1`` (``path`` like ``/scan``), recorded and validated like the others.

        ``headers`` are added to (and override) the auth header; a value of None removes a header.
        Raises ``HarborCallFailed`` on a timeout or connection error.
        """
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with '/' (it is appended to {self.api_base})")
        body = content.encode() if isinstance(content, str) else content
        try:
            return self._call(method.upper(), path, headers or {}, body)
        except _CallError as exc:
            raise HarborCallFailed(f"{method.upper()} {path}: {exc}") from None

    # -- metadata -------------------------------------------------------------------------------

    def check_health(self) -> dict[str, Any]:
        """GET metadata as Harbor does and judge it (HARBOR.md "Metadata"); returns the metadata JSON."""
        try:
            response = self._call("GET", "/metadata", {"Accept": MIME_METADATA})
        except _CallError as exc:
            raise ScannerUnhealthy([f"GET /metadata: {exc}"]) from None
        if response.status_code != 200:
            message, _ = harbor_error_message(response.content)
            raise ScannerUnhealthy(
                [f"GET /metadata answered {response.status_code}; Harbor accepts only 200: {message}"]
            )
        try:
            metadata = json.loads(response.content)
        except ValueError as exc:
            raise ScannerUnhealthy([f"metadata is not JSON: {exc}"]) from None
        problems = metadata_problems(metadata)
        if problems:
            raise ScannerUnhealthy(problems)
        assert isinstance(metadata, dict)
        return metadata

    # -- scan -----------------------------------------------------------------------------------

    def scan(
        self,
        repository: str,
        digest: str,
        *,
        registry_url: str,
        registry_authorization: str = "",
        tag: str = "",
        mime_type: str = MIME_DOCKER_MANIFEST,
        capability: CapabilityType = "vulnerability",
        sbom_media_type: str | None = None,
        insecure: bool = False,
        produces: str | None = None,
        size: int | None = None,
        max_wait_seconds: float = 120.0,
    ) -> ScanResult:
        """One scan, as Harbor runs it (HARBOR.md "Scan request", "Report", "Timing"; job.go, client.go).

        Metadata first; then POST the request (only 202 with a non-empty ``id`` is success); wait 2 s;
        poll the report with ``Accept`` = ``produces`` (default: the v1.1 vulnerability report, or the
        SBOM report) and, for SBOM, ``?sbom_media_type=`` (default SPDX, as Harbor always asks):
        200 is done, 302 waits ``Refresh-After`` seconds, anything else, a timeout or a bad body
        fails the scan for good (``HarborScanFailed``). ``max_wait_seconds`` (real time) bounds the
        polling; Harbor's own bound is 30 minutes.
        """
        if capability == "vulnerability" and sbom_media_type is not None:
            raise ValueError("sbom_media_type is for capability='sbom'")
        if capability == "sbom":
            sbom_media_type = sbom_media_type or SBOM_SPDX
        produces = produces or (MIME_SBOM_REPORT if capability == "sbom" else MIME_VULN_REPORT)

        metadata = self.check_health()
        advertised = [
            cap
            for cap in metadata.get("capabilities") or []
            if (cap.get("type") or "vulnerability") == capability
            and mime_type in (cap.get("consumes_mime_types") or [])
        ]
        if not advertised:
            raise HarborScanFailed(None, f"the scanner has no {capability} capability consuming {mime_type}")
        if produces not in (advertised[0].get("produces_mime_types") or []):
            raise HarborScanFailed(None, f"the {capability} capability does not produce {produces!r}")
        if capability == "sbom":
            listed = (advertised[0].get("additional_attributes") or {}).get("sbom_media_types") or []
            if sbom_media_type not in listed:
                raise HarborScanFailed(None, f"the sbom capability does not list {sbom_media_type!r}")

        request = build_scan_request(
            repository,
            digest,
            registry_url=registry_url,
            registry_authorization=registry_authorization,
            tag=tag,
            mime_type=mime_type,
            capability=capability,
            produces=produces,
            sbom_media_type=sbom_media_type,
            insecure=insecure,
            size=size,
        )
        body = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()  # like Go's json.Marshal
        if self.spec is not None:
            self.spec.validate_request("POST", httpx.URL(self.api_base + "/scan").path, MIME_SCAN_REQUEST, body)
        try:
            response = self._call(
                "POST", "/scan", {"Content-Type": MIME_SCAN_REQUEST, "Accept": MIME_SCAN_RESPONSE}, body
            )
        except _CallError as exc:
            raise HarborScanFailed(None, f"POST /scan: {exc}") from None
        if response.status_code != 202:
            raise self._failed(response, "POST /scan", expected=202)
        scan_id = self._scan_id(response)

        report_path = f"/scan/{scan_id}/report"  # spec.go: the id goes into the URL as it is
        if sbom_media_type is not None:
            report_path += "?sbom_media_type=" + urllib.parse.quote_plus(sbom_media_type)  # url.QueryEscape
        result = ScanResult(scan_id=scan_id, report={}, polls=0, report_mime_type=produces, request=request)
        self.sleep(FIRST_CHECK_SECONDS * self.time_scale)
        started = time.monotonic()
        while True:
            result.polls += 1
            what = f"GET /scan/{scan_id}/report (poll {result.polls})"
            try:
                response = self._call("GET", report_path, {"Accept": produces})
            except _CallError as exc:
                raise HarborScanFailed(None, f"{what}: {exc}") from None
            if response.status_code == 200:
                break
            if response.status_code != 302:
                raise self._failed(response, what, expected=200)
            values = response.headers.get_list("Refresh-After")
            raw = values[0] if values else None  # Go's Header.Get: the first value
            wait = harbor_refresh_after(raw)
            result.refresh_after_raw.append(raw)
            result.refresh_after.append(wait)
            if wait <= 0:
                raise HarborScanFailed(
                    302,
                    f"{what}: Refresh-After {raw!r} means {wait}s: Harbor would poll again at once, in a busy loop",
                    response.content,
                )
            if time.monotonic() - started + wait * self.time_scale > max_wait_seconds:
                raise HarborScanFailed(
                    302,
                    f"{what}: report still not ready after {max_wait_seconds:g}s (max_wait_seconds)",
                    response.content,
                )
            self.sleep(wait * self.time_scale)

        if self.spec is not None:
            content_type = response.headers.get("Content-Type")
            if content_type is None or not same_media_type(content_type, produces):
                raise SpecViolation(
                    f"report Content-Type {content_type!r} is not the requested {produces!r} "
                    "(Harbor does not check it; HARBOR.md: set it right anyway)"
                )
        try:
            report = json.loads(response.content)
        except ValueError as exc:
            raise HarborScanFailed(200, f"{what}: report is not JSON ({exc})", response.content) from None
        problems = report_problems(report, mime_type=produces, digest=digest, sbom_media_type=sbom_media_type)
        if problems:
            raise HarborScanFailed(200, f"{what}: " + "; ".join(problems), response.content)
        result.report = report
        return result

    def _scan_id(self, response: httpx.Response) -> str:
        """The ``id`` of a 202 (models.go ``ScanResponse``; client.go refuses an empty one)."""
        try:
            document = json.loads(response.content)
        except ValueError as exc:
            raise HarborScanFailed(202, f"POST /scan: the 202 body is not JSON ({exc})", response.content) from None
        scan_id = document.get("id") if isinstance(document, dict) else None
        if not isinstance(scan_id, str) or not scan_id:
            raise HarborScanFailed(
                202, f"POST /scan: the 202 body has no non-empty string id: {document!r}", response.content
            )
        if not _SCAN_ID.fullmatch(scan_id):
            raise HarborScanFailed(
                202, f"POST /scan: id {scan_id!r} cannot go into a URL path unescaped (spec.go)", response.content
            )
        return scan_id

    @staticmethod
    def _failed(response: httpx.Response, what: str, *, expected: int) -> HarborScanFailed:
        message, has_envelope = harbor_error_message(response.content)
        return HarborScanFailed(
            response.status_code,
            message
            if has_envelope
            else f"{what}: unexpected status {response.status_code}, expected {expected}: {message}",
            response.content,
            has_envelope=has_envelope,
        )
