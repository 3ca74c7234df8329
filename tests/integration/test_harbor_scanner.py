"""regscout as Harbor's external scanner, called by a Harbor stand-in (tests/harness/harbor_standin.py, written
from Harbor's client code) on a real `regscout serve`, pulling a real Debian image from the real registry with
the robot credential Harbor sends. Every response is validated against the pluggable scanner API's OpenAPI file.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from isal import igzip

from tests.harness.accounts import Account
from tests.harness.debian import debian_rootfs_tar, dpkg_query_rows
from tests.harness.harbor_standin import HarborScanFailed, HarborStandIn, ScannerAuth, ScannerUnhealthy
from tests.harness.images import Layer, Pusher, build_image, sha256_digest, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.scanner_spec import ScannerSpec
from tests.harness.validators import cyclonedx_problems, spdx_problems

from .cli_support import CliEnv, Server
from .test_matching import write_debian_records

ROBOT = "robot$prod+scan-1"
ROBOT_SECRET = "robot-secret-0123456789"
WRONG_SECRET = "not-the-robot-secret-42"
VULNERABLE_SOURCES = ("dpkg", "e2fsprogs", "glibc")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    accounts = {
        "writer": Account("writer-secret-pw", frozenset({"pull", "push"})),
        ROBOT: Account(ROBOT_SECRET, frozenset({"pull"}), catalog=False, repositories=("library/*",)),
    }
    running = start_registry("token", tmp_path_factory.mktemp("harbor-registry"), accounts=accounts)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def debian(registry: RunningRegistry) -> str:
    """The digest of a real Debian 12 minbase image in the registry."""
    raw = debian_rootfs_tar().read_bytes()
    data = igzip.compress(raw, compresslevel=1)
    layer = Layer(
        "application/vnd.oci.image.layer.v1.tar+gzip", data, sha256_digest(data), len(data), sha256_digest(raw)
    )
    image = build_image([layer])
    with Pusher(registry, auth=("writer", "writer-secret-pw")) as pusher:
        pusher.push("library/debian", "12", image)
        pusher.push("library/tiny", "1", small_image("tiny"))
    return image.digest


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> CliEnv:
    """A home whose vulnerability data affects three source packages of the Debian image, one with a fix."""
    env = CliEnv(tmp_path_factory.mktemp("home"))
    versions = {name: version for name, version, _ in dpkg_query_rows(debian_rootfs_tar(), env.home.parent / "q")}
    records = env.home.parent / "osv"
    write_debian_records(records, versions, VULNERABLE_SOURCES, database_specific={"cwe_ids": ["CWE-787"]})
    env.run("db", "import", str(records), "--source", "fixtures")
    return env


@pytest.fixture(scope="module")
def server(cli: CliEnv) -> Iterator[Server]:
    running = Server(cli)
    yield running
    if running.process.poll() is None:
        running.stop()


@pytest.fixture(scope="module")
def key(cli: CliEnv, server: Server, registry: RunningRegistry) -> str:
    added = json.loads(cli.run("harbor", "add", "prod", "--registry-host", registry.host, "--json").stdout)
    assert added["registration"]["registry_hosts"] == [registry.host]
    return str(added["key"])


@pytest.fixture(scope="module")
def spec() -> ScannerSpec:
    return ScannerSpec.load("1.2")


def harbor(server: Server, key: str, spec: ScannerSpec | None = None, kind: str = "APIKey") -> HarborStandIn:
    credential = f"prod:{key}" if kind == "Basic" else key
    # Harbor waits 2 s before its first poll and Refresh-After seconds between polls; a tenth of that here.
    return HarborStandIn(f"{server.url}/harbor/", ScannerAuth(kind, credential), spec=spec, time_scale=0.1)  # type: ignore[arg-type]


def robot_basic(secret: str = ROBOT_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{ROBOT}:{secret}".encode()).decode()


def installed_versions() -> dict[str, str]:
    rows = dpkg_query_rows(debian_rootfs_tar(), Path("/tmp") / "regscout-harbor-q")
    return {name: version for name, version, _ in rows}


# ---- the scan Harbor runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["APIKey", "Bearer", "Basic"])
def test_metadata_is_healthy_for_harbor_with_each_way_of_sending_the_key(
    server: Server, key: str, spec: ScannerSpec, kind: str
) -> None:
    with harbor(server, key, spec, kind) as caller:
        metadata = caller.check_health()
    assert metadata["scanner"]["name"] == "regscout"
    assert {c["type"] for c in metadata["capabilities"]} == {"vulnerability", "sbom"}
    properties = metadata["properties"]
    assert properties["harbor.scanner-adapter/registry-authorization-type"] == "Basic"
    # the imported data's update time is the real one: the fixtures source succeeded during the fixture
    assert properties["harbor.scanner-adapter/vulnerability-database-updated-at"].startswith("20")


def test_vulnerability_scan_of_a_real_debian_image_with_the_robot_credential(
    server: Server, key: str, spec: ScannerSpec, registry: RunningRegistry, debian: str, cli: CliEnv
) -> None:
    with harbor(server, key, spec) as caller:
        result = caller.scan(
            "library/debian", debian, registry_url=registry.url, registry_authorization=robot_basic(), tag="12"
        )
    report = result.report
    assert report["artifact"]["digest"] == debian and report["artifact"]["tag"] == "12"
    found = {(v["id"], v["package"]) for v in report["vulnerabilities"]}
    ids = {v["id"] for v in report["vulnerabilities"]}
    assert ids == {"CVE-2099-0", "CVE-2099-1", "CVE-2099-2"}, found
    assert report["severity"] == "Critical"
    dpkg = next(v for v in report["vulnerabilities"] if v["package"] == "dpkg")
    assert dpkg["version"] == installed_versions()["dpkg"]
    assert dpkg["fix_version"] == installed_versions()["dpkg"] + "+fix1"
    assert dpkg["preferred_cvss"] == {"score_v3": 9.8, "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
    assert dpkg["layer"]["digest"].startswith("sha256:") and dpkg["cwe_ids"] == ["CWE-787"]
    assert result.refresh_after and all(wait == 5 for wait in result.refresh_after)

    # The Harbor External Integration exists now, marked with its origin, and refuses what Harbor decides.
    integrations = {i["name"]: i for i in json.loads(cli.run("registry", "list", "--json").stdout)}
    external = integrations["Harbor External Integration (prod)"]
    assert external["url"] == registry.url and external["options"]["managed_by"] == "Harbor registration prod"
    assert "managed by Harbor registration prod" in cli.run("registry", "list").stdout
    refused = cli.run("image", "add", "Harbor External Integration (prod)", "library/debian:12", check_code=None)
    assert refused.returncode != 0 and "Harbor starts its scans" in refused.stderr
    refused = cli.run("registry", "sync", "Harbor External Integration (prod)", check_code=None)
    assert refused.returncode != 0 and "its scans start from Harbor" in refused.stderr
    # ...and its results are stored like every other scan's
    stored = json.loads(cli.run("results", "show", debian, "--json").stdout)
    assert {f["id"] for f in stored} == ids


def test_the_same_report_as_harbor_json_and_with_a_bearer_token_from_the_registry(
    server: Server, key: str, registry: RunningRegistry, debian: str
) -> None:
    spec = ScannerSpec.load("1.1")  # the harbor+json report is v1.1's; every answer must satisfy that spec too
    challenge = httpx.get(f"{registry.url}/v2/").headers["www-authenticate"]
    realm = challenge.split('realm="', 1)[1].split('"', 1)[0]
    service = challenge.split('service="', 1)[1].split('"', 1)[0]
    token = httpx.get(
        realm,
        params={"service": service, "scope": "repository:library/debian:pull"},
        auth=(ROBOT, ROBOT_SECRET),
    ).json()["token"]
    produces = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
    with harbor(server, key, spec) as caller:
        result = caller.scan(
            "library/debian",
            debian,
            registry_url=registry.url,
            registry_authorization=f"Bearer {token}",
            produces=produces,
        )
    assert {v["id"] for v in result.report["vulnerabilities"]} == {"CVE-2099-0", "CVE-2099-1", "CVE-2099-2"}
    assert result.report["artifact"]["tag"] == ""


@pytest.mark.parametrize("media_type", ["application/spdx+json", "application/vnd.cyclonedx+json"])
def test_sbom_scans_in_spdx_and_cyclonedx(
    server: Server, key: str, spec: ScannerSpec, registry: RunningRegistry, debian: str, media_type: str
) -> None:
    with harbor(server, key, spec) as caller:
        result = caller.scan(
            "library/debian",
            debian,
            registry_url=registry.url,
            registry_authorization=robot_basic(),
            capability="sbom",
            sbom_media_type=media_type,
        )
    assert result.report["media_type"] == media_type
    document = json.dumps(result.report["sbom"])
    problems = spdx_problems(document) if media_type.endswith("spdx+json") else cyclonedx_problems(document)
    assert problems == []
    names = json.dumps(result.report["sbom"])
    assert all(f'"{package}"' in names for package in ("dpkg", "libc6", "base-files"))


# ---- what fails, and how Harbor learns why ----------------------------------------------------------------


def test_a_wrong_key_and_a_rotated_key_are_refused_with_the_reason(
    server: Server, spec: ScannerSpec, cli: CliEnv, registry: RunningRegistry, debian: str
) -> None:
    with harbor(server, "rsh_000000000000_forged", spec) as caller:
        response = caller.raw("GET", "/metadata")
    assert response.status_code == 401
    assert "unknown or was rotated" in response.json()["error"]["message"]
    with harbor(server, "rst_abc_an-api-token", spec) as caller:
        assert "not a regscout Harbor key" in caller.raw("GET", "/metadata").json()["error"]["message"]

    first = json.loads(cli.run("harbor", "add", "rotating", "--json").stdout)["key"]
    rotated = json.loads(cli.run("harbor", "rotate", "rotating", "--json").stdout)["key"]
    assert rotated != first
    # the running server takes the rotation at once: Harbor's scan stops at its metadata check, with the reason
    with harbor(server, first, spec) as stale, pytest.raises(ScannerUnhealthy) as unhealthy:
        stale.scan("library/tiny", debian, registry_url=registry.url)
    assert "answered 401" in str(unhealthy.value) and "unknown or was rotated" in str(unhealthy.value)
    with harbor(server, rotated, spec) as fresh:
        assert fresh.check_health()["scanner"]["name"] == "regscout"


def test_a_digest_the_registry_does_not_have_fails_the_scan_with_the_registrys_answer(
    server: Server, key: str, spec: ScannerSpec, registry: RunningRegistry, debian: str
) -> None:
    missing = "sha256:" + "0" * 64
    with harbor(server, key, spec) as caller, pytest.raises(HarborScanFailed) as failed:
        caller.scan("library/debian", missing, registry_url=registry.url, registry_authorization=robot_basic())
    assert failed.value.status == 500 and failed.value.has_envelope
    assert failed.value.message.startswith("the scan failed: not found: manifest unknown")


def test_a_registry_that_refuses_the_robot_fails_the_scan_once_with_the_reason(
    server: Server, key: str, spec: ScannerSpec, registry: RunningRegistry, debian: str
) -> None:
    with harbor(server, key, spec) as caller, pytest.raises(HarborScanFailed) as failed:
        caller.scan("library/debian", debian, registry_url=registry.url, registry_authorization=robot_basic("wrong"))
    assert failed.value.status == 500
    assert f"rejected the credentials of user {ROBOT!r}" in failed.value.message
    assert ROBOT_SECRET not in failed.value.message and WRONG_SECRET not in failed.value.message


def scan_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registry": {"url": "http://127.0.0.1:9", "authorization": ""},
        "artifact": {"repository": "library/tiny", "digest": "sha256:" + "1" * 64, "tag": "1"},
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"{not json", 400, "not JSON"),
        (json.dumps({"registry": "x", "artifact": {}}).encode(), 400, "registry must be a JSON object"),
        (json.dumps(scan_body(artifact={"repository": 7})).encode(), 400, "artifact.repository must be a string"),
        (json.dumps(scan_body(artifact={"repository": "library/tiny"})).encode(), 422, "artifact.digest is required"),
        (json.dumps(scan_body(registry={})).encode(), 422, "registry.url is required"),
        (
            json.dumps(scan_body(registry={"url": "http://elsewhere.example"})).encode(),
            422,
            "not on a registry host registration 'prod' allows",
        ),
        (
            json.dumps(scan_body(registry={"url": "http://127.0.0.1:9", "authorization": "Digest abc"})).encode(),
            422,
            "must be Basic or Bearer",
        ),
        (
            json.dumps(scan_body(enabled_capabilities=[{"type": "malware"}])).encode(),
            501,
            "capability 'malware'",
        ),
        (
            json.dumps(
                scan_body(enabled_capabilities=[{"type": "sbom", "parameters": {"sbom_media_types": ["text/spdx"]}}])
            ).encode(),
            501,
            "SBOM format text/spdx",
        ),
        (
            json.dumps(
                scan_body(artifact={**scan_body()["artifact"], "mime_type": "application/vnd.cncf.helm.config.v1+json"})
            ).encode(),
            501,
            "not an image manifest",
        ),
    ],
    ids=[
        "not json",
        "wrong type",
        "number",
        "no digest",
        "no url",
        "host not allowed",
        "digest auth",
        "capability",
        "sbom format",
        "helm chart",
    ],
)
def test_malformed_and_unsupported_scan_requests(
    server: Server, key: str, spec: ScannerSpec, registry: RunningRegistry, content: bytes, status: int, message: str
) -> None:
    body = content.replace(b"http://127.0.0.1:9", registry.url.encode())
    with harbor(server, key, spec) as caller:
        response = caller.raw(
            "POST",
            "/scan",
            headers={"Content-Type": "application/vnd.scanner.adapter.scan.request+json; version=1.0"},
            content=body,
        )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/vnd.scanner.adapter.error+json; version=1.0"
    assert message in response.json()["error"]["message"]


def test_report_requests_harbor_can_get_wrong(server: Server, key: str, spec: ScannerSpec) -> None:
    with harbor(server, key, spec) as caller:
        unknown = caller.raw("GET", "/scan/6f1d0e55-0000-4000-8000-000000000000/report")
        assert unknown.status_code == 404
        raw = caller.raw(
            "GET",
            "/scan/6f1d0e55-0000-4000-8000-000000000000/report",
            headers={"Accept": "application/vnd.scanner.adapter.vuln.report.raw"},
        )
        assert raw.status_code == 501 and "regscout produces" in raw.json()["error"]["message"]


def test_harbor_keys_call_only_the_scanner_api_and_the_api_manages_registrations(
    server: Server, key: str, registry: RunningRegistry
) -> None:
    assert httpx.get(f"{server.url}/api/v1/registries", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    created = httpx.post(
        f"{server.url}/api/v1/harbor/registrations", json={"name": "staging", "auth_scheme": "apikey"}, headers=admin
    )
    assert created.status_code == 201 and created.json()["key"].startswith("rsh_")
    listed = httpx.get(f"{server.url}/api/v1/harbor/registrations", headers=admin).json()
    assert {r["name"] for r in listed} >= {"prod", "staging"}
    assert all("key" not in r and "key_hash" not in r for r in listed)
    staging_key = created.json()["key"]
    as_bearer = httpx.get(f"{server.url}/harbor/api/v1/metadata", headers={"Authorization": f"Bearer {staging_key}"})
    assert as_bearer.status_code == 401 and "only as apikey" in as_bearer.json()["error"]["message"]
    refused = httpx.post(f"{server.url}/api/v1/registries/Harbor External Integration (prod)/sync", headers=admin)
    assert refused.status_code == 409 and "scans start from Harbor" in refused.json()["detail"]
    assert httpx.delete(f"{server.url}/api/v1/harbor/registrations/staging", headers=admin).status_code == 204
    assert (
        httpx.get(f"{server.url}/harbor/api/v1/metadata", headers={"X-ScannerAdapter-API-Key": staging_key}).status_code
        == 401
    )
