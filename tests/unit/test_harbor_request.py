"""Harbor's scan request parser and the Accept matching: any body gets a request or a ScanRequestError with one of
the statuses the pluggable scanner API gives (400, 422, 501), never anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from regscout.harbor_scanner import mime
from regscout.harbor_scanner.request import ScanRequestError, parse_scan_request

DIGEST = "sha256:" + "0f" * 32
VALID: dict[str, Any] = {
    "registry": {"url": "https://harbor.example.com/", "authorization": "Basic cm9ib3Q6cw==", "insecure": False},
    "artifact": {"repository": "library/nginx", "tag": "1.25", "digest": DIGEST, "mime_type": mime.OCI_MANIFEST},
    "enabled_capabilities": [
        {"type": "vulnerability", "produces_mime_types": [mime.VULNERABILITY_REPORT], "parameters": None}
    ],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def mutated(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    target = copy
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target, dict) else target
    if isinstance(target, dict):
        target[path[-1]] = value
    return copy


def test_a_request_as_harbor_sends_it() -> None:
    parsed = parse_scan_request(json.dumps(VALID).encode())
    assert parsed.registry_url == "https://harbor.example.com"
    assert (parsed.repository, parsed.tag, parsed.digest) == ("library/nginx", "1.25", DIGEST)
    assert parsed.capabilities == ("vulnerability",) and parsed.sbom_media_type is None


def test_harbor_before_2_11_sends_no_capabilities_and_an_sbom_request_names_its_format() -> None:
    old = {k: v for k, v in VALID.items() if k != "enabled_capabilities"}
    assert parse_scan_request(json.dumps(old).encode()).capabilities == ("vulnerability",)
    sbom = {
        **VALID,
        "enabled_capabilities": [
            {
                "type": "sbom",
                "produces_mime_types": [mime.SBOM_REPORT],
                "parameters": {"sbom_media_types": [mime.CYCLONEDX]},
            }
        ],
    }
    parsed = parse_scan_request(json.dumps(sbom).encode())
    assert (parsed.capabilities, parsed.sbom_media_type) == (("sbom",), mime.CYCLONEDX)


@given(st.binary(max_size=200))
def test_any_bytes_are_a_request_or_a_400(body: bytes) -> None:
    try:
        parse_scan_request(body)
    except ScanRequestError as error:
        assert error.status in (400, 422, 501) and error.message


@given(json_values)
@example({"registry": [], "artifact": {}})
def test_any_json_is_a_request_or_an_api_status(document: Any) -> None:
    try:
        parse_scan_request(json.dumps(document).encode())
    except ScanRequestError as error:
        assert error.status in (400, 422, 501)


FIELDS = [
    ("registry", "url"),
    ("registry", "authorization"),
    ("artifact", "repository"),
    ("artifact", "tag"),
    ("artifact", "digest"),
    ("artifact", "mime_type"),
    ("enabled_capabilities",),
]


@given(st.sampled_from(FIELDS), json_values)
def test_one_field_changed_to_anything_is_accepted_or_refused_for_that_field(path: tuple[str, ...], value: Any) -> None:
    document = mutated(VALID, path, value)
    try:
        parsed = parse_scan_request(json.dumps(document).encode())
    except ScanRequestError as error:
        assert error.status in (400, 422, 501)
        assert path[-1] in error.message or path[0] in error.message or error.status == 501, error.message
        return
    # accepted: what was parsed is what was sent
    assert parsed.digest == document["artifact"]["digest"]
    assert parsed.repository == document["artifact"]["repository"]


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (None, mime.VULNERABILITY_REPORT),
        ("", mime.VULNERABILITY_REPORT),
        ("*/*", mime.VULNERABILITY_REPORT),
        ("application/vnd.security.vulnerability.report; version=1.1", mime.VULNERABILITY_REPORT),
        ('application/vnd.security.vulnerability.report;version="1.1"', mime.VULNERABILITY_REPORT),
        ("Application/Vnd.Security.Vulnerability.Report", mime.VULNERABILITY_REPORT),
        ("application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0", mime.HARBOR_VULNERABILITY_REPORT),
        ("application/vnd.security.sbom.report+json; version=1.0", mime.SBOM_REPORT),
        ("text/html, application/vnd.security.sbom.report+json", mime.SBOM_REPORT),
        ("application/vnd.security.vulnerability.report; version=2.0", None),
        ("application/vnd.scanner.adapter.vuln.report.raw", None),
    ],
)
def test_accept_is_matched_by_type_and_version(accept: str | None, wanted: str | None) -> None:
    assert mime.report_type(accept) == wanted


@given(st.text(max_size=80))
def test_any_accept_header_names_a_served_type_or_none(accept: str) -> None:
    assert mime.report_type(accept) in (*mime.REPORT_TYPES, None)
