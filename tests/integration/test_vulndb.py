"""The vulnerability-data store on SQLite and PostgreSQL, fed by a local HTTP server laid out like
the OSV export bucket (`<ECOSYSTEM>/all.zip`, `modified_id.csv`, `<ID>.json`): full and
incremental updates, failures that must leave the previous data serving, imports, CLI, API and the
scheduled update."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from regscout.api.app import create_app
from regscout.runtime import Runtime
from regscout.services.audit import SYSTEM
from regscout.vulndb import importer
from regscout.vulndb.errors import RecordError, SourceConfigError
from regscout.vulndb.osv import ParsedRecord, parse_record
from regscout.vulndb.reports import SourceResult
from regscout.vulndb.scheduler import run_periodic_updates
from regscout.vulndb.service import VulnDBService
from regscout.vulndb.sources import SourceSpec, VulnConfig, osv_source, parse_duration, parse_sources
from tests.harness.httpserver import HarnessHTTPServer, QuietHandler

from .cli_support import CliEnv

T1 = "2024-03-01T10:00:00Z"
T2 = "2024-05-02T08:30:00.123456789Z"


def osv(
    record_id: str,
    ecosystem: str,
    name: str,
    *,
    fixed: str | None = None,
    modified: str = T1,
    withdrawn: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A record shaped as the OSV schema says: one affected package, one ECOSYSTEM range."""
    events: list[dict[str, str]] = [{"introduced": "0"}] + ([{"fixed": fixed}] if fixed else [])
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": record_id,
        "modified": modified,
        "published": "2024-01-15T00:00:00Z",
        "summary": f"{name} issue",
        "details": f"A flaw in {name}.",
        "affected": [
            {"package": {"ecosystem": ecosystem, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}
        ],
        "references": [{"type": "ADVISORY", "url": f"https://security.example.org/{record_id}"}],
    }
    if withdrawn:
        record["withdrawn"] = withdrawn
    record.update(extra)
    return record


def zip_bytes(records: Sequence[dict[str, Any]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return buffer.getvalue()


class OSVBucket:
    """The OSV export layout over HTTP. A path in `cut` gets its full Content-Length but only half
    of its body before the connection closes; a path in `gated` waits for `gate` first."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.gated: set[str] = set()
        self.gate = threading.Event()
        self.waiting = threading.Event()  # set when a gated request arrives
        self.requests: list[str] = []
        bucket = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path = unquote(self.path)
                bucket.requests.append(path)
                if path in bucket.gated:
                    bucket.waiting.set()
                    bucket.gate.wait(30)
                body = bucket.files.get(path)
                if body is None:
                    self.send_bytes(404, b"not found", content_type="text/plain")
                    return
                if path in bucket.cut:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_bytes(200, body, content_type="application/octet-stream")

        handler: type[BaseHTTPRequestHandler] = Handler
        self.server = HarnessHTTPServer("127.0.0.1", handler)
        self.server.start("osv-bucket")
        self.url = f"http://127.0.0.1:{self.server.port}"

    def publish(self, ecosystem: str, records: Sequence[dict[str, Any]], *, changes: bool = True) -> None:
        """all.zip, one `<ID>.json` per record and (unless `changes` is False) modified_id.csv."""
        self.files[f"/{ecosystem}/all.zip"] = zip_bytes(records)
        for record in records:
            self.files[f"/{ecosystem}/{record['id']}.json"] = json.dumps(record).encode()
        if changes:
            lines = sorted(((r["modified"], r["id"]) for r in records), reverse=True)
            self.files[f"/{ecosystem}/modified_id.csv"] = "".join(f"{m},{i}\n" for m, i in lines).encode()
        else:
            self.files.pop(f"/{ecosystem}/modified_id.csv", None)

    def zip_requests(self) -> list[str]:
        return [r for r in self.requests if r.endswith("/all.zip")]


@pytest.fixture
def bucket() -> Iterator[OSVBucket]:
    served = OSVBucket()
    yield served
    served.gate.set()
    served.server.close()


def service_for(runtime: Runtime, bucket: OSVBucket, *ecosystems: str, interval: int = 3600) -> VulnDBService:
    config = VulnConfig(sources=tuple(osv_source(e, bucket.url) for e in ecosystems), update_interval=interval)
    return VulnDBService(runtime.db, config)


def ids(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> set[str]:
    return {record["id"] for record, _ in pairs}


def by_id(results: list[SourceResult]) -> dict[str, SourceResult]:
    return {r.source: r for r in results}


DEBIAN = [
    osv(
        "DEBIAN-CVE-2024-0001",
        "Debian:12",
        "openssl",
        fixed="3.0.13-1~deb12u1",
        upstream=["CVE-2024-0001"],
        affected=[
            {
                "package": {"ecosystem": "Debian:12", "name": "openssl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}],
                "ecosystem_specific": {"urgency": "high"},
            },
            {
                "package": {"ecosystem": "Debian:11", "name": "openssl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.1w-0+deb11u1"}]}],
            },
            {
                "ranges": [
                    {"type": "GIT", "repo": "https://github.com/openssl/openssl", "events": [{"introduced": "0"}]}
                ]
            },
        ],
    ),
    osv("DSA-5678-1", "Debian:12", "openssl", fixed="3.0.13-1~deb12u1", aliases=["GHSA-xxxx", "CVE-2024-0001"]),
    osv("DEBIAN-CVE-2024-0003", "Debian:12", "zlib", upstream=["CVE-2024-0003"]),  # not fixed
    osv("DEBIAN-CVE-2024-0002", "Debian:12", "zlib", fixed="1:1.2.13", withdrawn="2024-02-01T00:00:00Z"),
    osv(
        "UBUNTU-CVE-2024-0004",
        "Debian:12",
        "curl",
        fixed="7.88.1-10+deb12u5",
        affected=[
            {
                "package": {"ecosystem": "Debian:12", "name": "curl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.88.1-10+deb12u5"}]}],
                "versions": ["7.88.1-10", "7.88.1-10+deb12u1", "7.88.1-10+deb12u4"],
            }
        ],
    ),
]
PYPI = [
    osv(
        "GHSA-8q59-q68h-6hv4",
        "PyPI",
        "PyYAML",
        aliases=["CVE-2020-14343"],
        database_specific={"cwe_ids": ["CWE-20"], "severity": "CRITICAL"},
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        affected=[{"package": {"ecosystem": "PyPI", "name": "PyYAML"}, "versions": ["5.3", "5.3.1"]}],
    ),
    osv("GHSA-shared", "PyPI", "requests", fixed="2.31.0", modified=T1),
]


def test_update_serves_records_and_reports_status(runtime: Runtime, bucket: OSVBucket) -> None:
    bucket.publish("Debian", DEBIAN)
    bucket.publish("PyPI", PYPI)
    # an advisory for two ecosystems is in both exports; the npm copy is newer
    bucket.publish("npm", [osv("GHSA-shared", "PyPI", "requests", fixed="2.32.0", modified=T2)])
    service = service_for(runtime, bucket, "Debian", "PyPI", "npm")
    assert service.is_empty()

    results = by_id(service.update())
    assert [r.status for r in results.values()] == ["ok", "ok", "ok"], results
    assert (results["debian"].mode, results["debian"].records, results["debian"].written) == ("full", 4, 4)
    assert results["pypi"].records == 2 and not service.is_empty()

    pairs = service.records_for("Debian:12", ["openssl", "zlib", "curl", "no-such-package"])
    assert ids(pairs) == {"DEBIAN-CVE-2024-0001", "DSA-5678-1", "DEBIAN-CVE-2024-0003", "UBUNTU-CVE-2024-0004"}
    records = {r["id"]: (r, a) for r, a in pairs}
    record, affected = records["DEBIAN-CVE-2024-0001"]
    assert record["aliases"] == ["CVE-2024-0001"] and record["source"] == "debian"
    assert record["modified"].startswith("2024-03-01T10:00:00")
    assert affected["package"] == {"ecosystem": "Debian:12", "name": "openssl"}
    assert affected["ranges"][0]["events"] == [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]
    assert affected["ecosystem_specific"] == {"urgency": "high"}
    assert records["DSA-5678-1"][0]["aliases"] == ["CVE-2024-0001", "GHSA-xxxx"]  # CVE ids first
    assert records["UBUNTU-CVE-2024-0004"][1]["versions"] == []  # the range says it all
    assert ids(service.records_for("Debian:11", ["openssl"])) == {"DEBIAN-CVE-2024-0001"}

    [(record, affected)] = service.records_for("PyPI", ["PyYAML"])  # PEP 503 on both sides
    assert affected["package"]["name"] == "PyYAML" and affected["versions"] == ["5.3", "5.3.1"]
    assert record["cwe_ids"] == ["CWE-20"] and record["severity"][0]["type"] == "CVSS_V3"
    [(record, affected)] = service.records_for("PyPI", ["requests"])  # one copy: the newest
    assert record["source"] == "npm" and affected["ranges"][0]["events"][1] == {"fixed": "2.32.0"}
    assert service.store.existing_ids(["GHSA-shared", "DEBIAN-CVE-2024-0002", "nope"]) == {"GHSA-shared"}

    status = service.status()
    debian = next(s for s in status.sources if s.name == "debian")
    assert debian.configured and debian.record_count == 4 and debian.last_error is None
    assert debian.url == f"{bucket.url}/Debian/all.zip" and debian.kind == "osv-zip"
    assert debian.last_success_at is not None and debian.last_attempt_at is not None
    assert debian.next_update_at is not None
    assert (debian.next_update_at - debian.last_attempt_at).total_seconds() == 3600
    counts = {(c.source, c.ecosystem): (c.records, c.packages) for c in status.ecosystems}
    assert counts[("debian", "Debian:12")] == (4, 3) and counts[("debian", "Debian:11")] == (1, 1)
    assert counts[("pypi", "PyPI")] == (2, 2)


def test_incremental_update_through_modified_id_csv(runtime: Runtime, bucket: OSVBucket) -> None:
    first = [
        osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl"),
        osv("DEBIAN-CVE-2024-2", "Debian:12", "zlib", fixed="1:1.2.13"),
        osv("DEBIAN-CVE-2024-3", "Debian:12", "curl"),
    ]
    bucket.publish("Debian", first)
    service = service_for(runtime, bucket, "Debian")
    assert service.update()[0].mode == "full"

    second = [
        osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl", fixed="3.0.14-1", modified=T2),  # fixed now
        first[1],
        osv("DEBIAN-CVE-2024-3", "Debian:12", "curl", modified=T2, withdrawn=T2),
        osv("DEBIAN-CVE-2024-4", "Debian:12", "curl", modified=T2),
    ]
    bucket.publish("Debian", second)
    bucket.cut.add("/Debian/all.zip")  # proves the archive is not downloaded again
    bucket.requests.clear()

    [result] = service.update()
    assert (result.status, result.mode) == ("ok", "incremental"), result
    assert (result.written, result.removed, result.records) == (3, 1, 3)
    assert bucket.zip_requests() == []
    fetched = sorted(r for r in bucket.requests if r.endswith(".json"))
    # records modified at the last sync time are fetched again: one may have been published in the same second
    assert fetched == [f"/Debian/DEBIAN-CVE-2024-{n}.json" for n in (1, 2, 3, 4)]
    pairs = {r["id"]: a for r, a in service.records_for("Debian:12", ["openssl", "zlib", "curl"])}
    assert set(pairs) == {"DEBIAN-CVE-2024-1", "DEBIAN-CVE-2024-2", "DEBIAN-CVE-2024-4"}
    assert pairs["DEBIAN-CVE-2024-1"]["ranges"][0]["events"][1] == {"fixed": "3.0.14-1"}
    [source] = service.status().sources
    assert source.last_modified_seen is not None and source.last_modified_seen.isoformat().startswith(
        "2024-05-02T08:30:00.123456"
    )

    bucket.requests.clear()
    [again] = service.update()
    assert (again.mode, again.written, again.removed, again.records) == ("incremental", 2, 0, 3)
    assert sorted(bucket.requests) == ["/Debian/DEBIAN-CVE-2024-1.json", "/Debian/DEBIAN-CVE-2024-3.json",
                                       "/Debian/DEBIAN-CVE-2024-4.json", "/Debian/modified_id.csv"]  # fmt: skip

    bucket.cut.clear()
    [full] = service.update(full=True)
    assert (full.mode, full.records) == ("full", 3) and bucket.zip_requests() == ["/Debian/all.zip"]


def _break(bucket: OSVBucket, fault: str) -> str:
    """Publish a broken update of /Debian; returns text the failure must mention."""
    newer = [osv("DEBIAN-CVE-2024-9", "Debian:12", "openssl", fixed="9.9", modified=T2)]
    if fault == "cut":
        bucket.publish("Debian", newer, changes=False)
        bucket.cut.add("/Debian/all.zip")
        return "broke off"
    if fault == "not-a-zip":
        bucket.files["/Debian/all.zip"] = b"<html>proxy error</html>"
        bucket.files.pop("/Debian/modified_id.csv", None)
        return "not a valid zip archive"
    if fault == "bad-crc":
        data = zip_bytes([*newer, osv("DEBIAN-CVE-2024-8", "Debian:12", "zlib", details="MARKER")], zipfile.ZIP_STORED)
        bucket.files["/Debian/all.zip"] = data.replace(b"MARKER", b"MARKEX")
        bucket.files.pop("/Debian/modified_id.csv", None)
        return "DEBIAN-CVE-2024-8.json: the archive is corrupt"
    if fault == "bad-record":
        bad = osv("DEBIAN-CVE-2024-7", "Debian:12", "zlib")
        bad["affected"][0]["ranges"][0]["events"].append({"fixd": "1.0"})
        bucket.publish("Debian", [*newer, bad], changes=False)
        return "record DEBIAN-CVE-2024-7: field affected[0].ranges[0].events[1]"
    if fault == "bad-delta":
        bad = osv("DEBIAN-CVE-2024-7", "Debian:12", "zlib", modified="yesterday")
        bucket.files["/Debian/DEBIAN-CVE-2024-7.json"] = json.dumps(bad).encode()
        bucket.files["/Debian/modified_id.csv"] = f"{T2},DEBIAN-CVE-2024-7\n{T1},DEBIAN-CVE-2024-1\n".encode()
        return "record DEBIAN-CVE-2024-7: field modified: expected an RFC 3339 timestamp"
    if fault == "http-error":
        bucket.files.pop("/Debian/all.zip")
        bucket.files.pop("/Debian/modified_id.csv", None)
        return "HTTP 404"
    raise AssertionError(fault)


@pytest.mark.parametrize("fault", ["cut", "not-a-zip", "bad-crc", "bad-record", "bad-delta", "http-error"])
def test_failed_update_keeps_the_previous_data(runtime: Runtime, bucket: OSVBucket, fault: str) -> None:
    bucket.publish("Debian", [osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl", fixed="3.0.13-1")])
    bucket.publish("PyPI", PYPI)
    service = service_for(runtime, bucket, "Debian", "PyPI")
    assert all(r.ok for r in service.update())
    before = service.status()
    expected = _break(bucket, fault)

    results = by_id(service.update())
    failed = results["debian"]
    assert failed.status == "failed" and failed.error is not None and expected in failed.error, failed
    assert failed.records == 1  # still served
    assert results["pypi"].ok  # one source failing does not stop the others
    pairs = service.records_for("Debian:12", ["openssl", "zlib"])
    assert ids(pairs) == {"DEBIAN-CVE-2024-1"}
    assert pairs[0][1]["ranges"][0]["events"][1] == {"fixed": "3.0.13-1"}
    [old] = [s for s in before.sources if s.name == "debian"]
    [now] = [s for s in service.status().sources if s.name == "debian"]
    assert now.last_error == failed.error and now.record_count == 1
    assert now.last_success_at == old.last_success_at and now.last_modified_seen == old.last_modified_seen
    assert old.last_attempt_at is not None and now.last_attempt_at is not None
    assert now.last_attempt_at > old.last_attempt_at

    bucket.cut.clear()
    bucket.publish("Debian", [osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl", fixed="3.0.14-1", modified=T2)])
    [recovered] = service.update(["debian"], full=True)
    assert recovered.ok and service.status().sources[0].last_error is None


def test_a_database_error_mid_import_rolls_the_whole_source_back(
    runtime: Runtime, bucket: OSVBucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket.publish("Debian", [osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl", fixed="3.0.13-1")])
    service = service_for(runtime, bucket, "Debian")
    assert service.update()[0].ok
    bucket.publish("Debian", [osv(f"DEBIAN-CVE-2025-{n}", "Debian:12", "curl") for n in range(50)], changes=False)
    real_insert = importer._insert

    def insert_then_fail(session: Session, source: str, records: Iterable[ParsedRecord]) -> int:
        written = real_insert(session, source, records)  # the old rows are deleted, the new ones inserted
        session.execute(text("SELECT * FROM no_such_table"))
        return written

    monkeypatch.setattr(importer, "_insert", insert_then_fail)
    [result] = service.update()
    assert result.status == "failed" and result.error is not None and "database error" in result.error
    assert ids(service.records_for("Debian:12", ["openssl", "curl"])) == {"DEBIAN-CVE-2024-1"}
    [source] = service.status().sources
    assert source.record_count == 1 and source.last_error == result.error


def test_a_listed_record_missing_from_the_mirror_means_a_full_download(runtime: Runtime, bucket: OSVBucket) -> None:
    bucket.publish("Debian", [osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl")])
    service = service_for(runtime, bucket, "Debian")
    assert service.update()[0].ok
    bucket.publish("Debian", [osv("DEBIAN-CVE-2024-2", "Debian:12", "curl", modified=T2)])
    del bucket.files["/Debian/DEBIAN-CVE-2024-2.json"]  # a mirror that copies only all.zip and the list
    [result] = service.update()
    assert (result.status, result.mode, result.records, result.removed) == ("ok", "full", 1, 1)
    assert ids(service.records_for("Debian:12", ["openssl", "curl"])) == {"DEBIAN-CVE-2024-2"}


def test_size_cap_refuses_a_large_download(runtime: Runtime, bucket: OSVBucket) -> None:
    bucket.publish("Debian", [osv(f"DEBIAN-CVE-2024-{n}", "Debian:12", f"p{n}", details="x" * 5000) for n in range(20)])
    config = VulnConfig(sources=(osv_source("Debian", bucket.url),), max_download_bytes=1000)
    [result] = VulnDBService(runtime.db, config).update()
    assert result.status == "failed" and result.error is not None and "over the limit of 1000 bytes" in result.error


def test_import_from_directory_and_url(runtime: Runtime, bucket: OSVBucket, tmp_path: Path) -> None:
    service = service_for(runtime, bucket, "Debian")
    records = tmp_path / "osv" / "2024"
    records.mkdir(parents=True)
    for record in DEBIAN:
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    (records / "README.txt").write_text("not a record")

    result = service.import_path(str(tmp_path / "osv"), "local", actor=SYSTEM)
    assert (result.status, result.records) == ("ok", 4), result
    [local] = [s for s in service.status().sources if s.name == "local"]
    assert (local.kind, local.configured, local.next_update_at) == ("osv-dir", False, None)
    assert ids(service.records_for("Debian:12", ["zlib"])) == {"DEBIAN-CVE-2024-0003"}

    bucket.publish("Alpine", [osv("ALPINE-CVE-2024-1", "Alpine:v3.19", "musl", fixed="1.2.4_git20230717-r5")])
    result = service.import_path(f"{bucket.url}/Alpine/all.zip", actor=SYSTEM)
    assert (result.source, result.status, result.records) == ("alpine", "ok", 1), result
    assert ids(service.records_for("Alpine:v3.19", ["musl"])) == {"ALPINE-CVE-2024-1"}

    (tmp_path / "empty").mkdir()
    empty = service.import_path(str(tmp_path / "empty"), "local", actor=SYSTEM)
    assert empty.status == "failed" and empty.error is not None and "holds no .json records" in empty.error
    assert empty.records == 4  # the earlier import of `local` keeps serving
    with pytest.raises(SourceConfigError, match="no such file"):
        service.import_path(str(tmp_path / "missing.zip"), actor=SYSTEM)
    with pytest.raises(SourceConfigError, match="unknown source nope"):
        service.update(["nope"])


def test_cli_import_update_and_status(runtime: Runtime, bucket: OSVBucket, tmp_path: Path) -> None:
    export = tmp_path / "mirror" / "Debian"
    export.mkdir(parents=True)
    (export / "all.zip").write_bytes(zip_bytes(DEBIAN))
    bucket.publish("Debian", DEBIAN)
    cli = CliEnv(
        tmp_path / "home",
        extra={
            "REGSCOUT_DATABASE_URL": runtime.settings.database_url,
            "REGSCOUT_VULN_SOURCES": json.dumps(["Debian", {"name": "extra", "url": f"{bucket.url}/extra.zip"}]),
            "REGSCOUT_VULN_MIRROR": bucket.url,
            "REGSCOUT_VULN_UPDATE_INTERVAL": "2h",
        },
    )

    imported = json.loads(cli.run("db", "import", str(export / "all.zip"), "--json").stdout)
    assert [(r["source"], r["status"], r["records"]) for r in imported] == [("debian", "ok", 4)]

    status = json.loads(cli.run("db", "status", "--json").stdout)
    assert status["update_interval_seconds"] == 7200
    sources = {s["name"]: s for s in status["sources"]}
    assert set(sources) == {"debian", "extra"}
    assert sources["debian"]["record_count"] == 4 and sources["debian"]["url"] == str(export / "all.zip")
    assert sources["extra"]["kind"] == "url" and sources["extra"]["last_attempt_at"] is None
    assert {"source": "debian", "ecosystem": "Debian:12", "records": 4, "packages": 3} in status["ecosystems"]

    # the data came from a file, not the mirror: the first update downloads the mirror's all.zip whole
    updated = json.loads(cli.run("db", "update", "--source", "debian", "--json").stdout)
    assert [(r["source"], r["status"], r["mode"]) for r in updated] == [("debian", "ok", "full")]

    failed = cli.run("db", "update", "--json", check_code=1)
    results = {r["source"]: r for r in json.loads(failed.stdout)}
    assert results["debian"]["mode"] == "incremental" and results["extra"]["status"] == "failed"
    assert "extra: GET " in failed.stderr and "HTTP 404" in failed.stderr

    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 truncated")
    bad = cli.run("db", "import", str(tmp_path / "bad.zip"), "--source", "debian", check_code=1)
    assert "not a valid zip archive" in bad.stderr
    unknown = cli.run("db", "update", "--source", "nope", check_code=2)
    assert "unknown source nope" in unknown.stderr
    table = cli.run("db", "status").stdout
    assert "debian" in table and "Debian:12" in table


def test_api_status_update_and_import(runtime: Runtime, bucket: OSVBucket) -> None:
    bucket.publish("Debian", DEBIAN)
    bucket.publish("Alpine", [osv("ALPINE-CVE-2024-1", "Alpine:v3.19", "musl", fixed="1.2.4-r5")])
    bucket.files["/corrupt/all.zip"] = b"garbage"
    config = VulnConfig(sources=(osv_source("Debian", bucket.url),))
    runtime.__dict__["vulndb"] = VulnDBService(runtime.db, config)  # the cached_property, with the test's sources
    _, secret = runtime.tokens.create("ci", actor=SYSTEM)
    headers = {"Authorization": f"Bearer {secret.reveal()}"}
    with TestClient(create_app(runtime)) as client:
        assert client.get("/api/v1/db/status").status_code == 401
        status = client.get("/api/v1/db/status", headers=headers).json()
        assert [s["name"] for s in status["sources"]] == ["debian"] and status["ecosystems"] == []

        updated = client.post("/api/v1/db/update", headers=headers, json={"sources": ["debian"]})
        assert updated.status_code == 200, updated.text
        assert [(r["source"], r["status"], r["records"]) for r in updated.json()] == [("debian", "ok", 4)]
        assert client.post("/api/v1/db/update", headers=headers, json={"sources": ["nope"]}).status_code == 422

        imported = client.post("/api/v1/db/import", headers=headers, json={"url": f"{bucket.url}/Alpine/all.zip"})
        assert imported.status_code == 200 and imported.json()["source"] == "alpine"
        failed = client.post("/api/v1/db/import", headers=headers, json={"url": f"{bucket.url}/corrupt/all.zip"})
        assert failed.status_code == 422 and "not a valid zip archive" in failed.json()["error"]
        local = client.post("/api/v1/db/import", headers=headers, json={"url": "/etc/passwd", "source": "x"})
        assert local.status_code == 422 and "http" in local.json()["detail"]

        status = client.get("/api/v1/db/status", headers=headers).json()
        assert {s["name"]: s["record_count"] for s in status["sources"]} == {"debian": 4, "alpine": 1, "corrupt": 0}


class CountingService(VulnDBService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[list[str] | None] = []
        self.finished = threading.Event()
        self.scheduled = threading.Event()
        self.cancel = threading.Event()

    def schedule(self, interval_seconds: int) -> dict[str, datetime]:
        try:
            return super().schedule(interval_seconds)
        finally:
            self.scheduled.set()

    def update(self, sources: Sequence[str] | None = None, **kwargs: Any) -> list[SourceResult]:
        self.calls.append(list(sources) if sources else None)
        self.cancel = kwargs.get("cancel") or self.cancel
        try:
            return super().update(sources, **kwargs)
        finally:
            self.finished.set()


@pytest.mark.anyio
async def test_scheduler_updates_when_due_and_stops(runtime: Runtime, bucket: OSVBucket) -> None:
    bucket.publish("Debian", DEBIAN)
    config = VulnConfig(sources=(osv_source("Debian", bucket.url),))
    service = CountingService(runtime.db, config)
    stop = asyncio.Event()
    await run_periodic_updates(service, 0, stop)  # 0 = off: returns at once
    assert service.calls == []

    task = asyncio.create_task(run_periodic_updates(service, 3600, stop))
    assert await asyncio.to_thread(service.finished.wait, 30)
    assert service.calls == [["debian"]]  # never attempted: due at once
    assert service.status().sources[0].record_count == 4
    stop.set()
    await asyncio.wait_for(task, 10)  # waiting for the next due time ends at once
    assert service.calls == [["debian"]]

    # a restart within the interval does not update again
    stop.clear()
    service.scheduled.clear()
    task = asyncio.create_task(run_periodic_updates(service, 3600, stop))
    assert await asyncio.to_thread(service.scheduled.wait, 30)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert service.calls == [["debian"]]


@pytest.mark.anyio
async def test_stopping_the_server_cancels_an_update_without_a_half_import(runtime: Runtime, bucket: OSVBucket) -> None:
    bucket.publish("Debian", [osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl")])
    service = CountingService(runtime.db, VulnConfig(sources=(osv_source("Debian", bucket.url),)))
    assert service.update()[0].ok
    service.finished.clear()
    bucket.publish("Debian", [osv(f"DEBIAN-CVE-2025-{n}", "Debian:12", "curl") for n in range(3000)], changes=False)
    bucket.gated.add("/Debian/all.zip")
    bucket.requests.clear()

    stop = asyncio.Event()
    task = asyncio.create_task(run_periodic_updates(service, 1, stop))  # due a second after the first update
    assert await asyncio.to_thread(bucket.waiting.wait, 30)  # the download has started
    stop.set()
    assert await asyncio.to_thread(service.cancel.wait, 10)
    bucket.gate.set()  # the download completes after the stop: the import must not be committed
    await asyncio.wait_for(task, 30)
    assert service.finished.is_set()
    [source] = service.status().sources
    assert source.last_error is not None and "cancelled" in source.last_error
    assert ids(service.records_for("Debian:12", ["openssl", "curl"])) == {"DEBIAN-CVE-2024-1"}


# settings and record checks (no database)


def test_source_settings(tmp_path: Path) -> None:
    defaults = VulnConfig.from_env({})
    names = [s.name for s in defaults.sources]
    assert names[:6] == ["debian", "ubuntu", "alpine", "rocky-linux", "almalinux", "red-hat"]
    assert "crates.io" in names and len(names) == 14 and defaults.update_interval == 6 * 3600
    rocky = defaults.source("rocky-linux")
    assert rocky is not None and rocky.url == "https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/all.zip"
    assert rocky.changes_url == "https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/modified_id.csv"

    mirrored = VulnConfig.from_env(
        {"REGSCOUT_VULN_MIRROR": "https://mirror.internal/osv/", "REGSCOUT_VULN_UPDATE_INTERVAL": "0"}
    )
    assert mirrored.sources[0].url == "https://mirror.internal/osv/Debian/all.zip" and mirrored.update_interval == 0
    offline = VulnConfig.from_env({"REGSCOUT_VULN_MIRROR": str(tmp_path), "REGSCOUT_VULN_SOURCES": '["Red Hat"]'})
    assert offline.sources == (SourceSpec("red-hat", str(tmp_path / "Red Hat" / "all.zip"), "osv-zip"),)
    assert offline.sources[0].changes_url is None

    listed = tmp_path / "sources.json"
    listed.write_text(json.dumps(["Debian", {"name": "internal", "url": str(tmp_path / "advisories")}]))
    specs = parse_sources(str(listed))
    assert specs[1] == SourceSpec("internal", str(tmp_path / "advisories"), "osv-dir")
    assert parse_sources('[{"name": "x", "url": "https://h/x.zip"}]')[0].kind == "url"
    for bad, message in [
        ("[1]", r"REGSCOUT_VULN_SOURCES\[0\]: expected an ecosystem name or an object"),
        ('["Debian", "Debian"]', "source names used twice: debian"),
        ('[{"name": "a b", "url": "https://h/a.zip"}]', "source name 'a b'"),
        ('[{"name": "x", "url": "/srv/x", "kind": "url"}]', "kind `url` needs an http"),
        ("{", "cannot read the source list"),
        ("[", "not valid JSON"),
    ]:
        with pytest.raises(SourceConfigError, match=message):
            parse_sources(bad)
    assert parse_duration("90m", "X") == 5400 and parse_duration("3600", "X") == 3600
    with pytest.raises(SourceConfigError, match="REGSCOUT_VULN_UPDATE_INTERVAL"):
        VulnConfig.from_env({"REGSCOUT_VULN_UPDATE_INTERVAL": "soon"})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": ""}, "field id: is empty"),
        ({"modified": None}, "field modified: is required"),
        ({"modified": "2024-01-01"}, "field modified: expected an RFC 3339 timestamp"),
        ({"aliases": "CVE-1"}, "field aliases: expected a list, got str"),
        ({"affected": [{"package": {"ecosystem": "PyPI"}}]}, "field affected[0].package.name: is required"),
        ({"affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"type": "SEMVER", "events": []}]}]},
         "field affected[0].ranges[0].events: a range needs at least one event"),
        ({"affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"type": "RANGE", "events": []}]}]},
         "field affected[0].ranges[0].type: expected one of ECOSYSTEM, GIT, SEMVER, got 'RANGE'"),
        ({"severity": [{"type": "CVSS_V3"}]}, "field severity[0].score: is required"),
    ],
)  # fmt: skip
def test_record_checks_name_the_record_and_the_field(change: dict[str, Any], field: str) -> None:
    record = osv("GHSA-abcd", "PyPI", "x") | change
    with pytest.raises(RecordError) as raised:
        parse_record(json.dumps(record), "all.zip:GHSA-abcd.json")
    assert str(raised.value).startswith("all.zip:GHSA-abcd.json: ")
    assert field in str(raised.value)
    with pytest.raises(RecordError, match="not valid JSON"):
        parse_record(b"{", "x.json")


def test_ecosystem_counts_follow_each_import_whichever_process_made_it(runtime: Runtime, bucket: OSVBucket) -> None:
    bucket.publish("Debian", [osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl")])
    service = service_for(runtime, bucket, "Debian")
    service.update()
    counts = {(c.source, c.ecosystem): (c.records, c.packages) for c in service.status().ecosystems}
    assert counts == {("debian", "Debian:12"): (1, 1)}
    # another process (a fresh service on the same database) imports more: the first one's counts follow
    bucket.publish(
        "Debian",
        [osv("DEBIAN-CVE-2024-1", "Debian:12", "openssl"), osv("DEBIAN-CVE-2024-2", "Debian:12", "zlib", modified=T2)],
    )
    service_for(runtime, bucket, "Debian").update(full=True)
    counts = {(c.source, c.ecosystem): (c.records, c.packages) for c in service.status().ecosystems}
    assert counts == {("debian", "Debian:12"): (2, 2)}
