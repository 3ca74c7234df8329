"""The Harbor stand-in and the spec validator, against a tiny in-process fake adapter (no network)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.harness.harbor_standin import (
    MIME_DOCKER_MANIFEST,
    MIME_ERROR,
    MIME_METADATA,
    MIME_OCI_MANIFEST,
    MIME_SBOM_REPORT,
    MIME_SCAN_REQUEST,
    MIME_SCAN_RESPONSE,
    MIME_VULN_REPORT,
    HarborCallFailed,
    HarborScanFailed,
    HarborStandIn,
    ScannerAuth,
    ScannerUnhealthy,
    build_scan_request,
    harbor_refresh_after,
)
from tests.harness.scanner_spec import ScannerSpec, SpecVersion, SpecViolation, parse_media_type

DIGEST = "sha256:" + "ab" * 32
REPO = "library/nginx"
REGISTRY = "https://harbor.example.com"
SCANNER = {"name": "regscout", "vendor": "regscout", "version": "0.1.0"}
METADATA: dict[str, Any] = {
    "scanner": SCANNER,
    "capabilities": [
        {
            "type": "vulnerability",
            "consumes_mime_types": [MIME_OCI_MANIFEST, MIME_DOCKER_MANIFEST],
            "produces_mime_types": [MIME_VULN_REPORT],
        },
        {
            "type": "sbom",
            "consumes_mime_types": [MIME_OCI_MANIFEST, MIME_DOCKER_MANIFEST],
            "produces_mime_types": [MIME_SBOM_REPORT],
            "additional_attributes": {"sbom_media_types": ["application/spdx+json", "application/vnd.cyclonedx+json"]},
        },
    ],
    "properties": {
        "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
        "harbor.scanner-adapter/vulnerability-database-updated-at": "2025-01-02T03:04:05.678Z",
        "harbor.scanner-adapter/registry-authorization-type": "Bearer",
    },
}
VULN_REPORT: dict[str, Any] = {
    "generated_at": "2025-01-02T03:04:05Z",
    "artifact": {"repository": REPO, "digest": DIGEST, "tag": "1.25", "mime_type": MIME_DOCKER_MANIFEST},
    "scanner": SCANNER,
    "severity": "High",
    "vulnerabilities": [
        {
            "id": "CVE-2024-0001",
            "package": "openssl",
            "version": "3.0.0",
            "fix_version": "3.0.1",
            "severity": "High",
            "description": "a bug",
            "links": ["https://nvd.nist.gov/vuln/detail/CVE-2024-0001"],
            "layer": {"digest": "sha256:" + "cd" * 32, "diff_id": "sha256:" + "ef" * 32},
            "preferred_cvss": {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
            "cwe_ids": ["CWE-20"],
            "vendor_attributes": {"CVSS": {"nvd": {"V3Score": 7.5, "V3Vector": "CVSS:3.1/AV:N"}}},
        }
    ],
}
SBOM_REPORT: dict[str, Any] = {
    "generated_at": "2025-01-02T03:04:05Z",
    "artifact": {"repository": REPO, "digest": DIGEST, "tag": "1.25", "mime_type": MIME_DOCKER_MANIFEST},
    "scanner": SCANNER,
    "vendor_attributes": {},
    "media_type": "application/spdx+json",
    "sbom": {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"},
}

Reply = tuple[int, dict[str, str], bytes]


def reply(status: int, document: Any = None, content_type: str | None = None, **headers: str) -> Reply:
    body = b"" if document is None else (document if isinstance(document, bytes) else json.dumps(document).encode())
    all_headers = {key.replace("_", "-"): value for key, value in headers.items()}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return status, all_headers, body


def envelope(message: str) -> bytes:
    return json.dumps({"error": {"message": message}}).encode()


@dataclass
class FakeAdapter:
    """Answers metadata, scan and report from canned replies; the report replies are used in order."""

    metadata: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(METADATA))
    metadata_reply: Reply | None = None
    scan_reply: Reply = field(default_factory=lambda: reply(202, {"id": "scan-1"}, MIME_SCAN_RESPONSE))
    reports: list[Reply] = field(default_factory=lambda: [reply(200, VULN_REPORT, MIME_VULN_REPORT)])
    delays: dict[str, float] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        kind = "metadata" if path.endswith("/metadata") else "scan" if path.endswith("/scan") else "report"
        time.sleep(self.delays.get(kind, 0))
        if kind == "metadata":
            status, headers, body = self.metadata_reply or reply(200, self.metadata, MIME_METADATA)
        elif kind == "scan":
            status, headers, body = self.scan_reply
        else:
            status, headers, body = self.reports.pop(0) if len(self.reports) > 1 else self.reports[0]
        return httpx.Response(status, headers=headers, content=body)


def standin(
    adapter: FakeAdapter,
    sleeps: list[float] | None = None,
    *,
    auth: ScannerAuth | None = None,
    spec: ScannerSpec | None = None,
    base_url: str = "http://adapter.test/prefix/",
    **kwargs: Any,
) -> HarborStandIn:
    sleep: Callable[[float], None] = (sleeps if sleeps is not None else []).append
    return HarborStandIn(base_url, auth, spec=spec, transport=httpx.MockTransport(adapter), sleep=sleep, **kwargs)


def scan(harbor: HarborStandIn, **kwargs: Any) -> Any:
    return harbor.scan(
        REPO, DIGEST, registry_url=REGISTRY, registry_authorization="Basic cm9ib3Q6cw==", tag="1.25", **kwargs
    )


# -- metadata -----------------------------------------------------------------------------------


def test_healthy_metadata_is_accepted_and_returned() -> None:
    adapter = FakeAdapter()
    harbor = standin(adapter)
    assert harbor.check_health() == METADATA
    (exchange,) = harbor.exchanges
    assert (exchange.method, exchange.path, exchange.status) == ("GET", "/prefix/api/v1/metadata", 200)
    assert exchange.request_headers["Accept"] == MIME_METADATA
    assert "authorization" not in exchange.request_headers
    assert exchange.request_headers["Accept-Encoding"] == "gzip"
    assert exchange.elapsed < 1


def test_capability_type_defaults_to_vulnerability() -> None:
    adapter = FakeAdapter()
    del adapter.metadata["capabilities"][0]["type"]
    harbor = standin(adapter)
    harbor.check_health()
    assert scan(harbor).report == VULN_REPORT


_DELETE = object()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(metadata: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = metadata
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_set("scanner.name", ""), "invalid scanner"),
        (_set("scanner.vendor", _DELETE), "invalid scanner"),
        (_set("scanner.version", ""), "invalid scanner"),
        (_set("scanner", _DELETE), "invalid scanner"),
        (_set("scanner.version", 1), "metadata.scanner.version: expected a string"),
        (_set("capabilities", []), "at least one capability"),
        (_set("capabilities.1.consumes_mime_types", [MIME_OCI_MANIFEST]), f"missing {MIME_DOCKER_MANIFEST}"),
        (_set("capabilities.0.consumes_mime_types", [MIME_DOCKER_MANIFEST]), f"missing {MIME_OCI_MANIFEST}"),
        (
            _set("capabilities.0.produces_mime_types", ["application/vnd.security.vulnerability.report;version=1.1"]),
            "matched to the letter",
        ),
        (_set("capabilities.0.produces_mime_types", []), "matched to the letter"),
        (_set("capabilities.0.type", "secrets"), "neither vulnerability nor sbom"),
        (_set("capabilities.1.additional_attributes", _DELETE), "must list additional_attributes.sbom_media_types"),
        (
            _set("capabilities.1.additional_attributes.sbom_media_types", ["application/vnd.cyclonedx+json"]),
            "lacks application/spdx+json",
        ),
        (_set("properties", {"harbor.scanner-adapter/scanner-type": 1}), "expected a string"),
        (
            _set("properties", {"harbor.scanner-adapter/vulnerability-database-updated-at": "2025-01-02 03:04"}),
            "not an RFC 3339 time",
        ),
        (
            _set("properties", {"harbor.scanner-adapter/registry-authorization-type": "Token"}),
            "Basic or Bearer",
        ),
    ],
)
def test_unhealthy_metadata_is_rejected_with_its_reason(mutate: Callable[[dict[str, Any]], None], reason: str) -> None:
    adapter = FakeAdapter()
    mutate(adapter.metadata)
    with pytest.raises(ScannerUnhealthy) as caught:
        standin(adapter).check_health()
    assert reason in str(caught.value)


def test_metadata_other_than_200_is_unhealthy() -> None:
    adapter = FakeAdapter(metadata_reply=reply(500, envelope("db not ready"), MIME_ERROR))
    with pytest.raises(ScannerUnhealthy, match="answered 500; Harbor accepts only 200: db not ready"):
        standin(adapter).check_health()
    adapter = FakeAdapter(metadata_reply=reply(201, METADATA, MIME_METADATA))
    with pytest.raises(ScannerUnhealthy, match="answered 201"):
        standin(adapter).check_health()


# -- scan and report ----------------------------------------------------------------------------


def test_200_instead_of_202_fails_the_scan() -> None:
    adapter = FakeAdapter(scan_reply=reply(200, {"id": "scan-1"}, MIME_SCAN_RESPONSE))
    with pytest.raises(HarborScanFailed) as caught:
        scan(standin(adapter))
    assert caught.value.status == 200
    assert "expected 202" in caught.value.message


@pytest.mark.parametrize("body", [{"id": ""}, {}, {"id": 7}, {"id": "a/b"}, [1]])
def test_202_needs_a_usable_id(body: Any) -> None:
    adapter = FakeAdapter(scan_reply=reply(202, body, MIME_SCAN_RESPONSE))
    with pytest.raises(HarborScanFailed) as caught:
        scan(standin(adapter))
    assert caught.value.status == 202


@pytest.mark.parametrize(("time_scale", "waits"), [(1.0, [2.0, 3.0, 1.0]), (0.5, [1.0, 1.5, 0.5])])
def test_302_with_refresh_after_then_200(time_scale: float, waits: list[float]) -> None:
    adapter = FakeAdapter(
        reports=[
            reply(302, Refresh_After="3", Location="/api/v1/scan/scan-1/report"),
            reply(302, Refresh_After="1"),
            reply(200, VULN_REPORT, MIME_VULN_REPORT),
        ]
    )
    sleeps: list[float] = []
    harbor = standin(adapter, sleeps, time_scale=time_scale)
    result = scan(harbor, size=123)
    assert (result.scan_id, result.polls, result.refresh_after, result.report) == ("scan-1", 3, [3, 1], VULN_REPORT)
    assert sleeps == waits
    assert [(e.method, e.path, e.status) for e in harbor.exchanges] == [
        ("GET", "/prefix/api/v1/metadata", 200),
        ("POST", "/prefix/api/v1/scan", 202),
        ("GET", "/prefix/api/v1/scan/scan-1/report", 302),
        ("GET", "/prefix/api/v1/scan/scan-1/report", 302),
        ("GET", "/prefix/api/v1/scan/scan-1/report", 200),
    ]
    post = harbor.exchanges[1]
    assert post.request_headers["Content-Type"] == MIME_SCAN_REQUEST
    assert json.loads(post.request_body) == {
        "registry": {"url": REGISTRY, "authorization": "Basic cm9ib3Q6cw==", "insecure": False},
        "artifact": {
            "repository": REPO,
            "tag": "1.25",
            "digest": DIGEST,
            "mime_type": MIME_DOCKER_MANIFEST,
            "size": 123,
        },
        "enabled_capabilities": [
            {"type": "vulnerability", "produces_mime_types": [MIME_VULN_REPORT], "parameters": None}
        ],
    }
    assert all(e.request_headers["Accept"] == MIME_VULN_REPORT for e in harbor.exchanges[2:])
    assert all(e.query == "" for e in harbor.exchanges[2:])


def test_sbom_scan_asks_for_spdx_and_checks_the_document() -> None:
    adapter = FakeAdapter(reports=[reply(200, SBOM_REPORT, MIME_SBOM_REPORT)])
    harbor = standin(adapter)
    result = scan(harbor, capability="sbom")
    assert result.report == SBOM_REPORT
    post, report = harbor.exchanges[1], harbor.exchanges[2]
    assert json.loads(post.request_body)["enabled_capabilities"] == [
        {
            "type": "sbom",
            "produces_mime_types": [MIME_SBOM_REPORT],
            "parameters": {"sbom_media_types": ["application/spdx+json"]},
        }
    ]
    assert str(adapter.requests[-1].url).endswith("/scan/scan-1/report?sbom_media_type=application%2Fspdx%2Bjson")
    assert report.request_headers["Accept"] == MIME_SBOM_REPORT
    wrong = FakeAdapter(reports=[reply(200, {**SBOM_REPORT, "sbom": {"bomFormat": "CycloneDX"}}, MIME_SBOM_REPORT)])
    with pytest.raises(HarborScanFailed, match="not an SPDX document"):
        scan(standin(wrong), capability="sbom")


@pytest.mark.parametrize("value", ["0", "-1", "+0"])
def test_refresh_after_zero_or_negative_is_rejected(value: str) -> None:
    adapter = FakeAdapter(reports=[reply(302, Refresh_After=value)])
    with pytest.raises(HarborScanFailed, match="busy loop") as caught:
        scan(standin(adapter))
    assert caught.value.status == 302


@pytest.mark.parametrize(("value", "wait"), [("soon", 5), ("128", 5), ("5.5", 5), ("", 5), (None, 5), ("127", 127)])
def test_refresh_after_falls_back_to_5_like_harbor(value: str | None, wait: int) -> None:
    first = reply(302) if value is None else reply(302, Refresh_After=value)
    adapter = FakeAdapter(reports=[first, reply(200, VULN_REPORT, MIME_VULN_REPORT)])
    sleeps: list[float] = []
    result = scan(standin(adapter, sleeps), max_wait_seconds=1000)
    assert (result.refresh_after, result.refresh_after_raw, sleeps) == ([wait], [value], [2.0, float(wait)])


def test_harbor_refresh_after_parses_like_go_parseint_int8() -> None:
    assert [harbor_refresh_after(v) for v in ("+7", "007", " 7", "-128", "-129", "0x10")] == [7, 7, 5, -128, 5, 5]


def test_polling_stops_at_max_wait() -> None:
    adapter = FakeAdapter(reports=[reply(302, Refresh_After="1")])
    with pytest.raises(HarborScanFailed, match="still not ready"):
        scan(standin(adapter), max_wait_seconds=0.5)


def test_500_with_the_envelope_gives_its_message() -> None:
    adapter = FakeAdapter(reports=[reply(500, envelope("pull failed: 401 from registry"), MIME_ERROR)])
    with pytest.raises(HarborScanFailed) as caught:
        scan(standin(adapter))
    assert (caught.value.status, caught.value.message, caught.value.has_envelope) == (
        500,
        "pull failed: 401 from registry",
        True,
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"Internal Server Error", "not the error envelope"),
        (b'{"detail": "boom"}', "not the error envelope"),
        (b"", "empty body, no error envelope"),
    ],
)
def test_error_without_the_envelope_says_so(body: bytes, says: str) -> None:
    adapter = FakeAdapter(reports=[(500, {"Content-Type": "text/plain"}, body)])
    with pytest.raises(HarborScanFailed) as caught:
        scan(standin(adapter))
    assert caught.value.status == 500
    assert not caught.value.has_envelope
    assert says in caught.value.message
    assert caught.value.body == body


def test_404_on_poll_fails_for_good() -> None:
    adapter = FakeAdapter(reports=[reply(404)])
    with pytest.raises(HarborScanFailed) as caught:
        scan(standin(adapter))
    assert caught.value.status == 404
    assert len(adapter.requests) == 3  # metadata, scan, one poll: no retry


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ({**VULN_REPORT, "severity": "None"}, "report.severity 'None'"),
        ({**VULN_REPORT, "artifact": {**VULN_REPORT["artifact"], "digest": "sha256:00"}}, "is not the scanned"),
        (
            {
                **VULN_REPORT,
                "vulnerabilities": [{**VULN_REPORT["vulnerabilities"][0], "preferred_cvss": {"score_v3": "7.5"}}],
            },
            "score_v3: expected a number",
        ),
        ({**VULN_REPORT, "vulnerabilities": [{"id": "CVE-1", "severity": "critical"}]}, "severity 'critical'"),
        ({**VULN_REPORT, "vulnerabilities": {}}, "vulnerabilities: expected an array"),
    ],
)
def test_report_is_checked_as_harbor_unmarshals_it(report: dict[str, Any], reason: str) -> None:
    adapter = FakeAdapter(reports=[reply(200, report, MIME_VULN_REPORT)])
    with pytest.raises(HarborScanFailed, match="poll 1") as caught:
        scan(standin(adapter))
    assert reason in caught.value.message


def test_unparsable_report_fails() -> None:
    adapter = FakeAdapter(reports=[reply(200, b"{not json", MIME_VULN_REPORT)])
    with pytest.raises(HarborScanFailed, match="not JSON"):
        scan(standin(adapter))


def test_slow_responses_fail() -> None:
    adapter = FakeAdapter(delays={"metadata": 0.08})
    with pytest.raises(ScannerUnhealthy, match=r"gives up after 0\.05s"):
        standin(adapter, timeout_seconds=0.05).check_health()
    assert standin(adapter, timeout_seconds=0.05).exchanges == []
    adapter = FakeAdapter(delays={"report": 0.08})
    harbor = standin(adapter, timeout_seconds=0.05)
    with pytest.raises(HarborScanFailed) as caught:
        scan(harbor)
    assert caught.value.status is None
    assert harbor.exchanges[-1].error is not None
    assert harbor.exchanges[-1].elapsed > 0.05


# -- auth and raw -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        (ScannerAuth("Bearer", "tok.en"), "Authorization", "Bearer tok.en"),
        (ScannerAuth("Basic", "user:pa:ss"), "Authorization", "Basic dXNlcjpwYTpzcw=="),
        (ScannerAuth("APIKey", "k3y"), "X-ScannerAdapter-API-Key", "k3y"),
    ],
)
def test_auth_headers_on_every_call(auth: ScannerAuth, header: str, value: str) -> None:
    adapter = FakeAdapter()
    scan(standin(adapter, auth=auth))
    assert len(adapter.requests) == 3
    assert all(r.headers[header] == value for r in adapter.requests)
    if auth.kind == "APIKey":
        assert all("authorization" not in r.headers for r in adapter.requests)


def test_auth_needs_a_credential() -> None:
    with pytest.raises(ValueError, match="missing access credential"):
        ScannerAuth("APIKey", "")


def test_raw_overrides_or_removes_headers_and_is_recorded() -> None:
    adapter = FakeAdapter(scan_reply=reply(401, envelope("bad key"), MIME_ERROR))
    harbor = standin(adapter, auth=ScannerAuth("APIKey", "good"), spec=ScannerSpec.load("1.2"))
    response = harbor.raw("POST", "/scan", headers={"X-ScannerAdapter-API-Key": "wrong"}, content="{")
    assert response.status_code == 401
    assert adapter.requests[-1].headers["X-ScannerAdapter-API-Key"] == "wrong"
    harbor.raw("POST", "/scan", headers={"X-ScannerAdapter-API-Key": None, "Content-Type": "application/json"})
    assert "x-scanneradapter-api-key" not in adapter.requests[-1].headers
    assert [e.status for e in harbor.exchanges] == [401, 401]
    slow = standin(FakeAdapter(delays={"metadata": 0.08}), timeout_seconds=0.05)
    with pytest.raises(HarborCallFailed):
        slow.raw("GET", "/metadata")


@pytest.mark.parametrize("base_url", ["http://adapter.test", "http://adapter.test/"])
def test_base_url_gets_api_v1(base_url: str) -> None:
    harbor = standin(FakeAdapter(), base_url=base_url)
    harbor.check_health()
    assert harbor.exchanges[0].path == "/api/v1/metadata"


def test_build_scan_request_matches_harbor_md_example() -> None:
    assert build_scan_request(REPO, DIGEST, registry_url=REGISTRY)["enabled_capabilities"] == [
        {"type": "vulnerability", "produces_mime_types": [MIME_VULN_REPORT], "parameters": None}
    ]


# -- spec validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_conforming_adapter_passes_spec_validation(version: SpecVersion) -> None:
    adapter = FakeAdapter(reports=[reply(302, Refresh_After="1"), reply(200, VULN_REPORT, MIME_VULN_REPORT)])
    result = scan(standin(adapter, spec=ScannerSpec.load(version)))
    assert result.polls == 2


def test_sbom_scan_passes_spec_1_2_validation() -> None:
    adapter = FakeAdapter(reports=[reply(200, SBOM_REPORT, MIME_SBOM_REPORT)])
    assert scan(standin(adapter, spec=ScannerSpec.load("1.2")), capability="sbom").report == SBOM_REPORT


def test_spec_validation_catches_metadata_without_scanner() -> None:
    adapter = FakeAdapter()
    del adapter.metadata["scanner"]
    with pytest.raises(SpecViolation, match="'scanner' is a required property"):
        standin(adapter, spec=ScannerSpec.load("1.2")).check_health()


def test_spec_validation_catches_wrong_content_types() -> None:
    adapter = FakeAdapter(metadata_reply=reply(200, METADATA, "application/json"))
    with pytest.raises(SpecViolation, match="is not one the spec lists"):
        standin(adapter, spec=ScannerSpec.load("1.2")).check_health()
    adapter = FakeAdapter(reports=[reply(200, VULN_REPORT, MIME_SBOM_REPORT)])
    with pytest.raises(SpecViolation, match="is not the requested"):
        scan(standin(adapter, spec=ScannerSpec.load("1.2")))


def test_spec_fixes_are_applied() -> None:
    spec = ScannerSpec.load("1.2")
    report = spec.path["paths"]["/scan/{scan_request_id}/report"]["get"]
    assert set(report["responses"]) == {"200", "302", "400", "404", "500", "501"}
    (sbom_parameter,) = [p for p in report["parameters"] if p["name"] == "sbom_media_type"]
    assert "enum" not in sbom_parameter
    assert sbom_parameter["schema"]["enum"] == ["application/spdx+json", "application/vnd.cyclonedx+json"]
    attributes = spec.path["components"]["schemas"]["ScannerCapability"]["properties"]["additional_attributes"]
    assert "descriptions" not in attributes and "description" in attributes
    assert len(spec.fixes) == 5
    assert ScannerSpec.load("1.2").path is not spec.path  # each load is a fresh copy
    assert ScannerSpec.load("1.1").path["paths"]["/metadata"]["get"]["responses"].keys() == {"200", "500"}


def test_validate_response_rules() -> None:
    spec = ScannerSpec.load("1.2")
    spec.validate_response(
        "GET",
        "/api/v1/metadata",
        200,
        "application/vnd.scanner.adapter.metadata+JSON;version=1.1",
        json.dumps(METADATA).encode(),
    )
    spec.validate_response("GET", "/x/api/v1/scan/abc/report", 404, None, b"")
    spec.validate_response(
        "GET",
        "/api/v1/scan/abc/report?sbom_media_type=x",
        200,
        "application/vnd.scanner.adapter.vuln.report.raw",
        b"anything",
    )
    spec.validate_response("POST", "/api/v1/scan", 401, MIME_ERROR, envelope("no"))
    with pytest.raises(SpecViolation, match="is not an integer"):
        spec.validate_response("GET", "/api/v1/scan/abc/report", 302, None, b"", headers={"Refresh-After": "soon"})
    with pytest.raises(SpecViolation, match="status 418 is not documented"):
        spec.validate_response("GET", "/api/v1/metadata", 418, MIME_ERROR, envelope("teapot"))
    with pytest.raises(SpecViolation, match="no path matches"):
        spec.validate_response("GET", "/api/v1/nope", 200, None, b"")
    with pytest.raises(SpecViolation, match="is not an operation"):
        spec.validate_response("DELETE", "/api/v1/scan", 200, None, b"")
    with pytest.raises(SpecViolation, match="not JSON"):
        spec.validate_response("POST", "/api/v1/scan", 500, MIME_ERROR, b"oops")
    with pytest.raises(SpecViolation, match="not one the spec lists"):
        ScannerSpec.load("1.1").validate_response(
            "POST",
            "/api/v1/scan",
            202,
            "application/vnd.scanner.adapter.scan.response+json; version=1.1",
            b'{"id":"a"}',
        )
    assert parse_media_type('Application/X+JSON ; Version="1.0"; charset=utf-8') == ("application/x+json", "1.0")


def test_validate_request_handles_nullable_parameters() -> None:
    spec = ScannerSpec.load("1.2")
    body = build_scan_request(REPO, DIGEST, registry_url=REGISTRY)
    spec.validate_request("POST", "/api/v1/scan", MIME_SCAN_REQUEST, json.dumps(body).encode())
    body["enabled_capabilities"][0].update(type="sbom", parameters={"sbom_media_types": ["text/plain"]})
    with pytest.raises(SpecViolation, match="parameters"):
        spec.validate_request("POST", "/api/v1/scan", MIME_SCAN_REQUEST, json.dumps(body).encode())
