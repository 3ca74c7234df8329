"""Stored results as the console lists them (SQLite and PostgreSQL): the columns and finding rows every save and
re-match writes, the day's open findings, and the migration that indexes results stored before it."""

from __future__ import annotations

import json
import threading
import zlib
from dataclasses import asdict
from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text

from regscout.analysis.merge import Inventory
from regscout.analysis.model import OSRelease
from regscout.runtime import Runtime
from regscout.store.db import MIGRATIONS
from regscout.store.results_models import FindingsDaily, ImageFinding, ScanResult
from regscout.vulndb.matcher import Finding


def finding(ident: str, package: str, severity: str, fixed: tuple[str, ...] = ()) -> Finding:
    return Finding(
        id=ident,
        advisories=(f"DEBIAN-{ident}",),
        aliases=(ident,),
        package=package,
        version="1.0",
        ecosystem="deb",
        purl=f"pkg:deb/debian/{package}@1.0",
        lookup_ecosystem="Debian:12",
        source_package=None,
        fixed_versions=fixed,
        fix_state="fixed" if fixed else "not fixed",
        severity=severity,
        score=9.8 if severity == "CRITICAL" else None,
        vector=None,
        severity_source="cvss_v3",
        cwe_ids=(),
        summary="",
        links=(),
        layer_index=0,
        layer_digest="sha256:" + "1" * 64,
        layer_diff_id="sha256:" + "2" * 64,
        layer_created_by="",
        location="/var/lib/dpkg/status",
    )


DEBIAN = OSRelease(id="debian", version_id="12", pretty_name="Debian GNU/Linux 12 (bookworm)")


def save(runtime: Runtime, digest: str, findings: list[Finding]) -> None:
    runtime.results.save(
        digest=digest,
        registry_host="registry.example:5000",
        repository="team/app",
        reference="1.0",
        platform="linux/amd64",
        inventory=Inventory(DEBIAN, []),
        findings=findings,
    )


def test_a_save_writes_the_columns_the_rows_and_the_day(runtime: Runtime) -> None:
    save(
        runtime,
        "sha256:" + "a" * 64,
        [
            finding("CVE-2099-1", "openssl", "CRITICAL", ("3.0.1",)),
            finding("CVE-2099-2", "zlib", "HIGH"),
            finding("CVE-2099-3", "zlib", "UNKNOWN"),
        ],
    )
    save(runtime, "sha256:" + "b" * 64, [finding("CVE-2099-1", "openssl", "CRITICAL")])
    with runtime.db.session() as session:
        row = session.scalars(select(ScanResult).where(ScanResult.image_digest == "sha256:" + "a" * 64)).one()
        assert (row.os, row.critical, row.high, row.medium, row.low, row.other, row.fixable) == (
            "Debian GNU/Linux 12 (bookworm)",
            1,
            1,
            0,
            0,
            1,
            1,
        )
        affected = session.scalar(
            select(func.count(func.distinct(ImageFinding.result_id))).where(ImageFinding.vuln_id == "CVE-2099-1")
        )
        assert affected == 2
        today = {
            r.severity: (r.count, r.images)
            for r in session.scalars(select(FindingsDaily).where(FindingsDaily.day == datetime.now(UTC).date()))
        }
    assert today == {"critical": (2, 2), "high": (1, 1), "medium": (0, 0), "low": (0, 0), "other": (1, 1)}

    # saving again replaces the rows: none left behind
    save(runtime, "sha256:" + "a" * 64, [finding("CVE-2099-4", "bash", "LOW")])
    with runtime.db.session() as session:
        row = session.scalars(select(ScanResult).where(ScanResult.image_digest == "sha256:" + "a" * 64)).one()
        ids = set(session.scalars(select(ImageFinding.vuln_id).where(ImageFinding.result_id == row.id)))
        assert ids == {"CVE-2099-4"} and (row.critical, row.low) == (0, 1)


def test_the_migration_indexes_results_stored_before_it(runtime: Runtime) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    stored = [asdict(finding("CVE-2099-9", "curl", "MEDIUM", ("8.0",)))]
    inventory = {"os": {"id": "debian", "version_id": "12", "pretty_name": "Debian 12"}, "packages": [{}, {}]}
    with runtime.db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
        connection.execute(
            text(
                "INSERT INTO scan_results (image_digest, registry_host, repository, reference, platform, inventory,"
                " findings, counts, analyzed_at, matched_at) VALUES (:d, 'r', 'team/old', '1', 'linux/amd64', :i,"
                " :f, '{}', :t, :t)"
            ),
            {
                "d": "sha256:" + "c" * 64,
                "i": zlib.compress(json.dumps(inventory).encode()),
                "f": zlib.compress(json.dumps(stored).encode()),
                "t": datetime.now(UTC),
            },
        )
        command.upgrade(config, "head")
    with runtime.db.session() as session:
        row = session.scalars(select(ScanResult)).one()
        assert (row.os, row.packages, row.medium, row.fixable) == ("Debian 12", 2, 1, 1)
        assert session.scalars(select(ImageFinding.vuln_id)).all() == ["CVE-2099-9"]


def test_the_dashboards_top_vulnerabilities_are_refreshed_in_the_background(runtime: Runtime) -> None:
    save(runtime, "sha256:" + "d" * 64, [finding("CVE-2099-1", "openssl", "HIGH")])
    overview = runtime.overview
    assert [(v.vuln_id, v.images, v.severity) for v in overview.top_vulnerabilities()] == [("CVE-2099-1", 1, "HIGH")]
    save(runtime, "sha256:" + "e" * 64, [finding("CVE-2099-1", "openssl", "CRITICAL", ("1.1",))])
    # within TOP_REFRESH the last figures are shown, without a query
    assert overview.top_vulnerabilities()[0].images == 1
    lines, _at = overview._top
    overview._top = (lines, 0.0)  # as if TOP_REFRESH had passed
    assert overview.top_vulnerabilities()[0].images == 1  # still the old ones, while the refresh runs
    for thread in threading.enumerate():
        if thread.name == "dashboard-top":
            thread.join(10)
    top = overview.top_vulnerabilities()[0]
    assert (top.images, top.severity, top.fixable) == (2, "CRITICAL", True)
