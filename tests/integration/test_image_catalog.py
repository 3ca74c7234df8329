"""The console's image catalog over stored results (SQLite and PostgreSQL): the list filtered, sorted and paged in
the database, one image's details, packages and findings, reports rebuilt from what is stored, the search by
vulnerability id and by package, and (PostgreSQL) the list and searches served by indexes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from regscout.analysis.details import ImageDetails, LayerDetail
from regscout.analysis.merge import FoundPackage, Inventory, LayerRef
from regscout.analysis.model import OSRelease, Package
from regscout.runtime import Runtime
from regscout.services.image_catalog import (
    FindingFilter,
    ImageCatalog,
    ImageFilter,
    PackageFilter,
    image_conditions,
    list_statement,
)
from regscout.store.models import VulnRecord, VulnSource
from regscout.store.results_models import ScanResult
from regscout.vulndb.matcher import Finding
from tests.harness.validators import cyclonedx_problems, spdx_problems

HOST = "registry.example:5000"
OTHER_HOST = "mirror.example"
IMAGES = 240
LAYER = LayerRef(0, "sha256:" + "1" * 64, "sha256:" + "2" * 64, "/bin/sh -c #(nop) ADD file:abc in / ")
DEBIAN = OSRelease(id="debian", version_id="12", pretty_name="Debian GNU/Linux 12 (bookworm)")
ALPINE = OSRelease(id="alpine", version_id="3.20.1", pretty_name="Alpine Linux v3.20")


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def finding(ident: str, package: str, severity: str, version: str = "1.0", fixed: tuple[str, ...] = ()) -> Finding:
    return Finding(
        id=ident,
        advisories=(f"DEBIAN-{ident}",),
        aliases=(ident,),
        package=package,
        version=version,
        ecosystem="deb",
        purl=f"pkg:deb/debian/{package}@{version}?distro=debian-12",
        lookup_ecosystem="Debian:12",
        source_package=None,
        fixed_versions=fixed,
        fix_state="fixed" if fixed else "not fixed",
        severity=severity,
        score={"CRITICAL": 9.8, "HIGH": 7.5, "MEDIUM": 5.0, "LOW": 2.0}.get(severity),
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" if severity == "CRITICAL" else None,
        severity_source="cvss_v3",
        cwe_ids=(),
        summary=f"{package} is affected",
        links=(f"https://security-tracker.debian.org/tracker/{ident}",),
        layer_index=0,
        layer_digest=LAYER.digest,
        layer_diff_id=LAYER.diff_id,
        layer_created_by=LAYER.created_by,
        location="var/lib/dpkg/status",
    )


def package(name: str, version: str = "1.0") -> FoundPackage:
    return FoundPackage(
        Package(name, version, "deb", f"pkg:deb/debian/{name}@{version}", "var/lib/dpkg/status", licenses=("MIT",)),
        LAYER,
    )


def details(n: int, repository: str, reference: str) -> ImageDetails:
    return ImageDetails(
        repository=repository,
        reference=reference,
        digest=digest(n),
        media_type="application/vnd.oci.image.manifest.v1+json",
        index_digest=None,
        platform="linux/amd64",
        config_digest="sha256:" + "c" * 64,
        created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        total_size=12345,
        layers=[LayerDetail(0, LAYER.digest, LAYER.diff_id, 12345, "application/vnd.oci.image.layer.v1.tar+gzip")],
        user="app",
        env={"PATH": "/usr/bin", "API_TOKEN": "****"},
        dockerfile=["ADD file:abc in /", 'CMD ["bash"]'],
    )


def expected(n: int) -> dict[str, Any]:
    """What image n is: every 3rd has a critical finding (CVE-2099-1 in openssl, fixed), every 2nd a high one
    (CVE-2099-2 in zlib, no fix), every 5th a medium; the rest none. Every 4th is on the other registry and runs
    Alpine; repositories cycle through four names."""
    critical, high, medium = n % 3 == 0, n % 2 == 0, n % 5 == 0
    return {
        "registry": OTHER_HOST if n % 4 == 0 else HOST,
        "repository": ("team/app", "team/api", "library/debian", "tools/builder")[(n // 2) % 4],
        "reference": f"1.{n}",
        "os": ALPINE.pretty_name if n % 4 == 0 else DEBIAN.pretty_name,
        "critical": int(critical),
        "high": int(high),
        "medium": int(medium),
    }


def findings_of(n: int) -> list[Finding]:
    facts = expected(n)
    found = []
    if facts["critical"]:
        found.append(finding("CVE-2099-1", "openssl", "CRITICAL", f"3.0.{n}", (f"3.0.{n}+fix1",)))
    if facts["high"]:
        found.append(finding("CVE-2099-2", "zlib", "HIGH"))
    if facts["medium"]:
        found.append(finding("CVE-2099-3", "zlib", "MEDIUM"))
    return found


@pytest.fixture
def catalog(runtime: Runtime) -> ImageCatalog:
    for n in range(1, IMAGES + 1):
        facts = expected(n)
        runtime.results.save(
            digest=digest(n),
            registry_host=facts["registry"],
            repository=facts["repository"],
            reference=facts["reference"],
            platform="linux/amd64",
            inventory=Inventory(
                ALPINE if n % 4 == 0 else DEBIAN, [package("openssl", f"3.0.{n}"), package("zlib"), package("bash")]
            ),
            findings=findings_of(n),
            details=details(n, facts["repository"], facts["reference"]) if n != IMAGES else None,
        )
    return ImageCatalog(runtime.db)


def all_images(catalog: ImageCatalog, f: ImageFilter) -> list[str]:
    """Every page of a listing, in order."""
    digests: list[str] = []
    page = 1
    while True:
        listed = catalog.images(replace(f, page=page))
        digests += [line.digest for line in listed.items]
        if page >= listed.pages:
            return digests
        page += 1


def numbers(predicate: Any) -> set[int]:
    return {n for n in range(1, IMAGES + 1) if predicate(expected(n))}


def test_filters_count_and_page_in_the_database(catalog: ImageCatalog) -> None:
    everything = catalog.images(ImageFilter(size=25))
    assert (everything.total, everything.pages, len(everything.items)) == (IMAGES, 10, 25)
    assert everything.items[0].critical == 1  # worst first by default

    critical = catalog.images(ImageFilter(min_severity="CRITICAL", size=200))
    assert {int(line.digest[7:], 16) for line in critical.items} == numbers(lambda e: e["critical"])
    high = catalog.images(ImageFilter(min_severity="HIGH", size=200))
    assert high.total == len(numbers(lambda e: e["critical"] or e["high"]))
    fixable = catalog.images(ImageFilter(fixable=True, size=200))
    assert fixable.total == critical.total  # only the critical finding has a fix

    other = catalog.images(ImageFilter(registry=OTHER_HOST, size=200))
    assert other.total == IMAGES // 4 and {line.os for line in other.items} == {ALPINE.pretty_name}
    debian = catalog.images(ImageFilter(os=DEBIAN.pretty_name, size=200))
    assert debian.total == IMAGES - IMAGES // 4

    # the repository filter is a substring, any case, with LIKE's wildcards taken literally
    builder = catalog.images(ImageFilter(repository="BUILD", size=200))
    assert builder.total == len(numbers(lambda e: e["repository"] == "tools/builder")) > 0
    assert catalog.images(ImageFilter(repository="team/%")).total == 0
    assert catalog.images(ImageFilter(repository="team_app")).total == 0
    combined = catalog.images(ImageFilter(registry=HOST, min_severity="CRITICAL", repository="team/", size=200))
    assert combined.total == len(
        numbers(lambda e: e["registry"] == HOST and e["critical"] and e["repository"].startswith("team/"))
    )

    # a page past the end shows the last one; an empty result is one empty page
    beyond = catalog.images(ImageFilter(page=999, size=50))
    assert (beyond.page, beyond.pages, len(beyond.items)) == (5, 5, IMAGES - 4 * 50)
    nothing = catalog.images(ImageFilter(repository="no-such-repository"))
    assert (nothing.total, nothing.page, nothing.pages, nothing.items, nothing.first) == (0, 1, 1, [], 0)


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("registry", lambda e, n: (e["registry"], e["repository"], e["reference"], n)),
        ("repository", lambda e, n: (e["repository"], e["reference"], n)),
        ("tag", lambda e, n: (e["reference"], n)),
        ("os", lambda e, n: (e["os"], n)),
        ("severity", lambda e, n: (e["critical"], e["high"], e["medium"], 0, n)),
        ("scanned", lambda _e, n: (n,)),  # saved in order
    ],
)
def test_every_sort_pages_without_gaps_or_overlaps(catalog: ImageCatalog, sort: str, key: Any) -> None:
    for descending in (False, True):
        listed = all_images(catalog, ImageFilter(sort=sort, descending=descending, size=25))
        order = sorted(range(1, IMAGES + 1), key=lambda n: key(expected(n), n), reverse=descending)
        if sort == "scanned":  # saves within one clock tick share a time: only the set and the ends are exact
            assert set(listed) == {digest(n) for n in order}
            continue
        assert listed == [digest(n) for n in order]


def test_facets_and_one_image(catalog: ImageCatalog) -> None:
    facets = catalog.facets()
    assert facets.registries == sorted([HOST, OTHER_HOST])
    assert facets.oses == sorted([ALPINE.pretty_name, DEBIAN.pretty_name])

    stored = catalog.image(digest(6))
    assert stored is not None and stored.details is not None
    assert (stored.line.repository, stored.line.critical, stored.line.high, stored.line.packages) == (
        expected(6)["repository"],
        1,
        1,
        3,
    )
    assert stored.details.dockerfile == ["ADD file:abc in /", 'CMD ["bash"]']
    assert stored.details.created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert stored.details.layers[0].digest == LAYER.digest and stored.details.env["API_TOKEN"] == "****"
    old = catalog.image(digest(IMAGES))  # saved without details, as results stored before 0013 are
    assert old is not None and old.details is None
    assert catalog.image("sha256:" + "f" * 64) is None

    packages = catalog.packages(digest(6), PackageFilter(text="SSL"))
    assert packages is not None
    listed, ecosystems = packages
    assert ecosystems == ["deb"] and [(p.name, p.version, p.licenses) for p in listed.items] == [
        ("openssl", "3.0.6", ("MIT",))
    ]
    assert listed.items[0].layer_instruction == "ADD file:abc in /"
    paged_packages = catalog.packages(digest(6), PackageFilter(size=2, page=2))
    assert paged_packages is not None and paged_packages[0].total == 3 and len(paged_packages[0].items) == 1

    findings = catalog.findings(digest(30), FindingFilter())
    assert findings is not None
    assert [(f.id, f.severity) for f in findings.items] == [
        ("CVE-2099-1", "CRITICAL"),
        ("CVE-2099-2", "HIGH"),
        ("CVE-2099-3", "MEDIUM"),
    ]
    worst = catalog.findings(digest(30), FindingFilter(min_severity="HIGH"))
    fixable = catalog.findings(digest(30), FindingFilter(fixable=True))
    zlib = catalog.findings(digest(30), FindingFilter(text="ZLIB"))
    assert worst is not None and fixable is not None and zlib is not None
    assert [f.id for f in worst.items] == ["CVE-2099-1", "CVE-2099-2"]
    assert [f.fixed_versions for f in fixable.items] == [("3.0.30+fix1",)]
    assert [f.id for f in zlib.items] == ["CVE-2099-2", "CVE-2099-3"]
    assert catalog.findings("sha256:" + "f" * 64, FindingFilter()) is None


def test_changes_since_the_last_scan(runtime: Runtime, catalog: ImageCatalog) -> None:
    assert catalog.changes(digest(6)).total == 0
    facts = expected(6)
    runtime.results.save(
        digest=digest(6),
        registry_host=facts["registry"],
        repository=facts["repository"],
        reference=facts["reference"],
        platform="linux/amd64",
        inventory=Inventory(DEBIAN, [package("zlib")]),
        findings=[finding("CVE-2099-2", "zlib", "HIGH"), finding("CVE-2099-9", "zlib", "LOW")],
    )
    changes = catalog.changes(digest(6))
    assert sorted((c.finding, c.change) for c in changes.items) == [("CVE-2099-1", "fixed"), ("CVE-2099-9", "new")]
    # a save without details keeps the ones stored before
    stored = catalog.image(digest(6))
    assert stored is not None and stored.details is not None and stored.details.total_size == 12345


def test_reports_are_rebuilt_from_the_stored_result(catalog: ImageCatalog) -> None:
    from regscout.report.formats import DOCUMENT_WRITERS

    stored = catalog.report(digest(6))
    assert stored is not None and stored.has_details
    assert stored.report.details.layers[0].digest == LAYER.digest
    assert [f.id for f in stored.findings] == ["CVE-2099-1", "CVE-2099-2"]
    cyclonedx = DOCUMENT_WRITERS["cyclonedx"](stored.report, stored.findings, stored.registry_host)
    assert cyclonedx_problems(cyclonedx) == []
    assert {v["id"] for v in json.loads(cyclonedx)["vulnerabilities"]} == {"CVE-2099-1", "CVE-2099-2"}
    spdx = DOCUMENT_WRITERS["spdx"](stored.report, stored.findings, stored.registry_host)
    assert spdx_problems(spdx) == []
    assert {p["name"] for p in json.loads(spdx)["packages"]} >= {"openssl", "zlib", "bash"}

    old = catalog.report(digest(IMAGES))  # no stored details: the SBOM still names the image and its packages
    assert old is not None and not old.has_details and old.report.details.layers == []
    assert spdx_problems(DOCUMENT_WRITERS["spdx"](old.report, old.findings, old.registry_host)) == []
    assert catalog.report("sha256:" + "f" * 64) is None


def test_search_by_vulnerability_id_and_by_package(runtime: Runtime, catalog: ImageCatalog) -> None:
    affected = numbers(lambda e: e["critical"])
    found = catalog.search("cve-2099-1", size=25)  # any case
    assert (found.kind, found.images, found.results.total, found.worst) == (
        "vulnerability",
        len(affected),
        80,
        "CRITICAL",
    )
    assert found.ids == ["CVE-2099-1"] and found.aliases == []
    assert len(found.fixed_in) == 50  # capped: one fixed version per image here
    seen: set[str] = set()
    for page in range(1, found.results.pages + 1):
        lines = catalog.search("CVE-2099-1", page=page, size=25).results.items
        assert all(line.package == "openssl" and line.fixed_versions == line.version + "+fix1" for line in lines)
        seen |= {line.digest for line in lines}
    assert seen == {digest(n) for n in affected}

    # an advisory id the data has finds its CVE's findings through the record's aliases
    with runtime.db.session() as session:
        session.add(VulnSource(name="fixtures", url="file:///fixtures", kind="osv-dir"))
        session.flush()
        session.add(
            VulnRecord(
                source="fixtures",
                id="DSA-9999-1",
                modified=datetime.now(UTC),
                aliases=["CVE-2099-2"],
                summary="zlib: heap overflow",
                details="",
                severity=[],
                references=[],
                database_specific={},
                cwe_ids=[],
            )
        )
    advisory = catalog.search("DSA-9999-1")
    assert advisory.kind == "vulnerability" and advisory.ids == ["DSA-9999-1", "CVE-2099-2"]
    assert advisory.aliases == ["CVE-2099-2"] and catalog.search("dsa-9999-1").images == advisory.images
    assert advisory.images == len(numbers(lambda e: e["high"])) and advisory.summary == "zlib: heap overflow"
    assert advisory.fixed_in == []

    zlib = catalog.search("zlib", size=30)
    assert zlib.kind == "package"
    assert zlib.results.total == len(numbers(lambda e: e["high"])) + len(numbers(lambda e: e["medium"]))
    assert zlib.vulnerabilities == 2 and zlib.worst == "HIGH"
    first = zlib.results.items
    assert [line.vuln_id for line in first] == sorted(line.vuln_id for line in first)  # the index's order

    none = catalog.search("CVE-1999-0001")
    assert (none.kind, none.results.total, none.results.items) == ("none", 0, [])


@pytest.mark.parametrize("runtime", ["postgres"], indirect=True)  # plans are PostgreSQL's to check
def test_the_list_and_the_searches_use_indexes(runtime: Runtime, catalog: ImageCatalog) -> None:
    """On PostgreSQL each of these queries can be answered from an index (with sequential scans made too costly,
    which a table of this size otherwise prefers): a sort or filter the indexes do not cover would still show a
    Seq Scan of the table."""
    statements: dict[str, Any] = {
        "default list": list_statement(ImageFilter()),
        "by scan time": list_statement(ImageFilter(sort="scanned")),
        "by repository": list_statement(ImageFilter(sort="repository", descending=False)),
        "by OS": list_statement(ImageFilter(sort="os")),
        "fixable by OS": list_statement(ImageFilter(sort="os", fixable=True)),
    }
    with runtime.db.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.execute(text("SET enable_seqscan = off"))
        for name, statement in statements.items():
            compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
            plan = "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {compiled}")))
            assert "Seq Scan on scan_results" not in plan and "Index" in plan, f"{name}:\n{plan}"
        for sql, index in (
            ("SELECT result_id FROM image_findings WHERE vuln_id = 'CVE-2099-1'", "ix_image_findings_vuln"),
            (
                "SELECT result_id FROM image_findings WHERE package = 'zlib' ORDER BY vuln_id, result_id LIMIT 50",
                "ix_image_findings_package_vuln",
            ),
            ("SELECT id FROM finding_changes WHERE image_digest = 'x'", "finding_changes"),
        ):
            plan = "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {sql}")))
            assert index in plan and "Seq Scan" not in plan, plan
    assert image_conditions(ImageFilter()) == []
    assert ScanResult.__table__.c.details.nullable
