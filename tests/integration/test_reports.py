"""Report formats validated by their own tools, and re-matching after a data update."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from regscout.api.app import create_app
from regscout.services.audit import SYSTEM
from tests.harness.images import Pusher, build_image, tar_layer
from tests.harness.registry import RunningRegistry
from tests.harness.validators import cyclonedx_problems, sarif_problems

from .cli_support import CliEnv
from .conftest import make_runtime
from .test_matching import APK_INSTALLED, DPKG_STATUS, OS_OSV_ALPINE, OS_RELEASE, RECORDS, record


@pytest.fixture
def scanned(tmp_path: Path, registry_anonymous: RunningRegistry) -> tuple[CliEnv, str, Path]:
    cli = CliEnv(tmp_path / "home")
    records = tmp_path / "osv"
    records.mkdir()
    for rec in RECORDS:
        (records / f"{rec['id'].replace(':', '_')}.json").write_text(json.dumps(rec))
    cli.run("db", "import", str(records), "--source", "fixtures")
    with Pusher(registry_anonymous) as pusher:
        pusher.push(
            "reports/app",
            "1",
            build_image([tar_layer({"etc/os-release": OS_RELEASE["debian"], "var/lib/dpkg/status": DPKG_STATUS})]),
        )
        pusher.push(
            "reports/alpine",
            "1",
            build_image([tar_layer({"etc/os-release": OS_RELEASE["alpine"], "lib/apk/db/installed": APK_INSTALLED})]),
        )
    return cli, f"{registry_anonymous.host}/reports/app:1", records


def test_sarif_is_valid_for_the_schema_and_microsofts_validator(
    scanned: tuple[CliEnv, str, Path], tmp_path: Path
) -> None:
    cli, ref, _ = scanned
    out = tmp_path / "report.sarif"
    cli.run("image", ref, "--format", "sarif", "--output", str(out))
    text = out.read_text()
    assert sarif_problems(text) == []
    results = json.loads(text)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"CVE-2024-1000", "CVE-2024-1001"}
    critical = next(r for r in results if r["ruleId"] == "CVE-2024-1000")
    assert (
        critical["level"] == "error"
        and critical["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "var/lib/dpkg/status"
    )


def test_cyclonedx_with_vulnerabilities_validates(scanned: tuple[CliEnv, str, Path], tmp_path: Path) -> None:
    cli, ref, _ = scanned
    out = tmp_path / "bom.json"
    cli.run("image", ref, "--format", "cyclonedx", "--output", str(out))
    text = out.read_text()
    assert cyclonedx_problems(text) == []
    bom = json.loads(text)
    refs = {c["bom-ref"] for c in bom["components"]}
    vulnerabilities = {v["id"]: v for v in bom["vulnerabilities"]}
    assert set(vulnerabilities) == {"CVE-2024-1000", "CVE-2024-1001"}
    assert all(a["ref"] in refs for v in vulnerabilities.values() for a in v["affects"])
    assert vulnerabilities["CVE-2024-1000"]["ratings"][0]["score"] == 9.8


def test_data_update_rematches_stored_results_and_records_changes(
    scanned: tuple[CliEnv, str, Path], registry_anonymous: RunningRegistry
) -> None:
    cli, ref, records = scanned
    debian = json.loads(cli.run("image", ref, "--format", "json").stdout)
    alpine = json.loads(cli.run("image", f"{registry_anonymous.host}/reports/alpine:1", "--format", "json").stdout)
    # the data changes: zlib gets a fix, the Alpine musl advisory is withdrawn, a new one appears for bash
    zlib = record(
        "DEBIAN-CVE-2024-1001",
        "Debian:12",
        "zlib",
        events=[{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}],
        upstream=["CVE-2024-1001"],
    )
    musl = {**next(r for r in RECORDS if r["id"] == OS_OSV_ALPINE), "withdrawn": "2024-07-01T00:00:00Z"}
    bash = record("DEBIAN-CVE-2024-1010", "Debian:12", "bash", events=[{"introduced": "0"}], upstream=["CVE-2024-1010"])
    for rec in (zlib, musl, bash):
        (records / f"{rec['id'].replace(':', '_')}.json").write_text(json.dumps(rec))
    cli.run("db", "import", str(records), "--source", "fixtures")
    debian_changes = {
        (c["finding"], c["change"])
        for c in json.loads(cli.run("results", "changes", debian["image"]["digest"], "--json").stdout)
    }
    assert debian_changes == {("CVE-2024-1001", "fixed"), ("CVE-2024-1010", "new")}
    alpine_changes = {
        (c["finding"], c["change"])
        for c in json.loads(cli.run("results", "changes", alpine["image"]["digest"], "--json").stdout)
    }
    assert alpine_changes == {(OS_OSV_ALPINE, "withdrawn")}
    # The re-match shows in the job list: no image pulled, what changed counted.
    rematch = json.loads(cli.run("jobs", "list", "--json").stdout)[0]
    assert (rematch["kind"], rematch["trigger"], rematch["state"]) == ("rematch", "data_update", "succeeded")
    assert rematch["summary"] == {"images_changed": 2, "changes": {"fixed": 1, "new": 1, "withdrawn": 1}}
    assert rematch["bytes_fetched"] == 0
    stored = json.loads(cli.run("results", "show", debian["image"]["digest"], "--json").stdout)
    assert {f["id"]: f["fix_state"] for f in stored} == {
        "CVE-2024-1000": "fixed",
        "CVE-2024-1001": "fixed",
        "CVE-2024-1010": "not fixed",
    }


def test_results_api(scanned: tuple[CliEnv, str, Path]) -> None:
    cli, ref, _ = scanned
    report = json.loads(cli.run("image", ref, "--format", "json").stdout)
    digest = report["image"]["digest"]
    runtime = make_runtime(cli.home)
    _, token = runtime.tokens.create("api", actor=SYSTEM)
    with TestClient(create_app(runtime)) as client:
        headers = {"Authorization": f"Bearer {token.reveal()}"}
        assert client.get("/api/v1/results").status_code == 401
        listed = client.get("/api/v1/results", headers=headers).json()
        assert [r["digest"] for r in listed] == [digest] and listed[0]["counts"] == {"CRITICAL": 1, "UNKNOWN": 1}
        findings = client.get(f"/api/v1/results/{digest}", headers=headers).json()
        assert {f["id"] for f in findings} == {"CVE-2024-1000", "CVE-2024-1001"}
        assert client.get("/api/v1/results/sha256:" + "0" * 64, headers=headers).status_code == 404
        scanned_now = client.post(
            "/api/v1/scan", headers=headers, json={"ref": ref, "severity": "CRITICAL", "ignore_unfixed": True}
        ).json()
        assert scanned_now["digest"] == digest and [f["id"] for f in scanned_now["findings"]] == ["CVE-2024-1000"]
        assert scanned_now["changes"] == []  # nothing changed since the CLI scan
        assert client.get(f"/api/v1/results/{digest}/changes", headers=headers).json() == []
    runtime.db.dispose()
