"""The matcher's pre-filtered lookup (stored version intervals) finds exactly what the full lookup finds,
on SQLite and PostgreSQL, also for rows stored before the intervals existed and for records that
several sources publish."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.osv_synthetic import package_names, records
from sqlalchemy import func, select, update

from regscout.analysis.merge import FoundPackage, Inventory, LayerRef
from regscout.analysis.model import OSRelease, Package
from regscout.runtime import Runtime
from regscout.services.audit import SYSTEM
from regscout.store.models import VulnAffected, VulnExclusiveSource
from regscout.vulndb.importer import Snapshot, replace_some
from regscout.vulndb.matcher import Finding, RecordSource, match
from regscout.vulndb.osv import parse_record
from regscout.vulndb.service import VulnDBService

LAYER = LayerRef(0, "sha256:" + "0" * 64, "sha256:" + "1" * 64)


class FullLookup:
    """Only `records_for`: the matcher evaluates every entry of every name, as before the intervals."""

    def __init__(self, source: RecordSource) -> None:
        self.source = source

    def records_for(self, ecosystem: str, names: Any) -> Any:
        return self.source.records_for(ecosystem, names)


def entry(ecosystem: str, name: str, *ranges: tuple[str, list[dict[str, str]]], **extra: Any) -> dict[str, Any]:
    return {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": kind, "events": events} for kind, events in ranges],
        **extra,
    }


def record(ident: str, *affected: dict[str, Any], modified: str = "2024-03-01T10:00:00Z") -> dict[str, Any]:
    return {"id": ident, "modified": modified, "summary": ident, "aliases": [f"CVE-2024-{len(ident)}"],
            "affected": list(affected)}  # fmt: skip


EDGE_CASES = [
    record("E-1", entry("Debian:12", "edge", ("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "1.2-1"}]))),
    record("E-2", entry("Debian:12", "edge", ("ECOSYSTEM", [{"introduced": "1.0-1"}, {"last_affected": "1.5-1"}]))),
    record("E-3", entry("Debian:12", "edge", ("ECOSYSTEM", [{"introduced": "2.0-1"}, {"limit": "2.5-1"}]))),
    record("E-4", entry("Debian:12", "edge", ("GIT", [{"introduced": "abc"}]), versions=["1.1-1", "3.0-1"])),
    record("E-5", entry("Debian:12", "edge", ("ECOSYSTEM", [{"introduced": "bogus version"}, {"fixed": "9-1"}]))),
    record("E-6", entry("Debian:12", "edge", ("ECOSYSTEM", [{"fixed": "1.0-1"}]))),
    record("E-7", entry("Go", "example.com/mod", ("SEMVER", [{"introduced": "0"}, {"fixed": "1.4.0"}]))),
    record("E-8", entry("Go", "stdlib", ("SEMVER", [{"introduced": "1.21.0"}, {"fixed": "1.21.6"}]))),
    record(
        "E-9",
        entry(
            "PyPI",
            "mixed-pkg",
            ("ECOSYSTEM", [{"introduced": "1.0"}, {"fixed": "1.5"}]),
            ("SEMVER", [{"introduced": "2.0.0"}, {"fixed": "2.3.0"}]),
        ),
    ),
    record("E-10", entry("PyPI", "Mixed_Pkg", ("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "1.0.post1"}]))),
    # the same id in two sources: the newer copy wins, also where it no longer names the package
    record("DUP-1", entry("npm", "dup", ("SEMVER", [{"introduced": "0"}, {"fixed": "2.0.0"}]))),
    record("DUP-2", entry("npm", "dup", ("SEMVER", [{"introduced": "0"}, {"fixed": "2.0.0"}]))),
]
LATER = "2024-06-01T00:00:00Z"
NEWER_COPIES = [
    record("DUP-1", entry("npm", "dup", ("SEMVER", [{"introduced": "0"}, {"fixed": "1.0.0"}])), modified=LATER),
    record("DUP-2", entry("npm", "other", ("SEMVER", [{"introduced": "0"}])), modified=LATER),
]


def write_dir(path: Path, documents: list[dict[str, Any]]) -> str:
    path.mkdir(parents=True)
    for document in documents:
        (path / f"{document['id']}.json").write_text(json.dumps(document))
    return str(path)


def package(ecosystem: str, name: str, version: str) -> FoundPackage:
    if ecosystem == "deb":
        purl = f"pkg:deb/debian/lib{name}@{version}"
        status = "var/lib/dpkg/status"
        return FoundPackage(Package(f"lib{name}", version, "deb", purl, status, name, version), LAYER)
    return FoundPackage(Package(name, version, ecosystem, f"pkg:x/{name}@{version}", f"app/{name}@{version}"), LAYER)


def inventory(seed: int) -> Inventory:
    rng = random.Random(seed)
    found: list[FoundPackage] = []
    for name in rng.sample(package_names("Debian:12"), 150):
        for _ in range(rng.choice((1, 1, 2))):  # two versions of one source package
            found.append(package("deb", name, f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}-1"))
    for ecosystem in ("npm", "PyPI", "Maven", "Go"):
        for name in rng.sample(package_names(ecosystem), 60):
            found.append(package(ecosystem, name, f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"))
    edge_versions = ("0.5-1", "1.0-1", "1.1-1", "1.2-1", "1.5-1", "2.4-1", "2.5-1", "3.0-1", "not a version!")
    found += [package("deb", "edge", v) for v in edge_versions]
    found += [package("Go", "example.com/mod", v) for v in ("v1.3.9", "v1.4.0", "(devel)")]
    found += [package("Go", "stdlib", v) for v in ("1.21.5", "go1.21.5", "1.21.6")]
    found += [package("PyPI", "Mixed.Pkg", v) for v in ("1.0", "1.0.post1", "1.4.9", "2.1.0", "2.1")]
    found += [package("npm", "dup", v) for v in ("0.9.0", "1.5.0", "2.0.0")]
    return Inventory(OSRelease("debian", "12"), found)


def check_same(service: VulnDBService, seed: int) -> list[Finding]:
    inv = inventory(seed)
    filtered = match(inv, service)
    assert filtered == match(inv, FullLookup(service))
    return filtered


def test_prefiltered_matching_finds_what_full_matching_finds(runtime: Runtime, tmp_path: Path) -> None:
    service = VulnDBService(runtime.db)
    synthetic = list(records(3000, seed=5))
    assert service.import_path(write_dir(tmp_path / "one", synthetic + EDGE_CASES), "one", actor=SYSTEM).status == "ok"
    assert service.import_path(write_dir(tmp_path / "two", NEWER_COPIES), "two", actor=SYSTEM).status == "ok"

    findings = check_same(service, 1)
    check_same(service, 2)
    by_package = {(f.package, f.version, f.id) for f in findings}
    assert ("libedge", "1.1-1", "CVE-2024-3") in by_package  # listed in versions[]
    assert ("libedge", "1.5-1", "CVE-2024-3") in by_package  # last_affected is inclusive
    assert ("libedge", "2.4-1", "CVE-2024-3") in by_package and ("libedge", "2.5-1", "CVE-2024-3") not in by_package
    assert not any(f.package == "libedge" and f.version == "1.2-1" and "E-1" in f.advisories for f in findings)
    # DUP-1: the newer copy wins (fixed in 1.0.0). DUP-2: the newer copy names another package, so for
    # "dup" the older one is used, as records_for always did. Both share one CVE.
    dup = {(f.version, f.advisories) for f in findings if f.package == "dup"}
    assert dup == {("0.9.0", ("DUP-2", "DUP-1")), ("1.5.0", ("DUP-2",))}

    # rows written before revision 0006 have no interval and are evaluated the old way
    with runtime.db.session() as session:
        session.execute(update(VulnAffected).where(VulnAffected.id % 2 == 0).values(match_kind=None))
    assert check_same(service, 1) == findings
    with runtime.db.session() as session:
        session.execute(update(VulnAffected).values(match_kind=None, match_low=None, match_high=None))
    assert check_same(service, 1) == findings


class CandidatesOnly:
    """`records_for` and `candidates_for` without the templates: findings built from the records' JSON."""

    def __init__(self, source: VulnDBService) -> None:
        self.source = source

    def records_for(self, ecosystem: str, names: Any) -> Any:
        return self.source.records_for(ecosystem, names)

    def candidates_for(self, ecosystem: str, probes: Any) -> Any:
        return self.source.candidates_for(ecosystem, probes)


CVSS_V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def case(ident: str, aliases: list[str], *affected: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**record(ident, *affected), "aliases": aliases, **fields}


TEMPLATE_CASES = [
    # the entry's own CVSS vector wins over the record's; CWE ids; more than 20 links
    case("T-1", ["CVE-2023-101"],
         entry("Debian:12", "tpl", ("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "2.0-1"}]),
               severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]),
         severity=[{"type": "CVSS_V3", "score": CVSS_V3}], database_specific={"cwe_ids": ["CWE-79", "CWE-89"]},
         references=[{"type": "WEB", "url": f"https://example.org/{n}"} for n in range(25)]),
    # no summary: the first line of the details; CVE ids first; will not fix (no fix, and Debian's marker)
    case("T-2", ["GHSA-xxxx-yyyy-zzzz", "CVE-2023-102"],
         entry("Debian:12", "tpl", ("ECOSYSTEM", [{"introduced": "0"}]), ecosystem_specific={"urgency": "end-of-life"}),
         summary="", details="first line\nsecond line", upstream=["CVE-2022-1"]),
    # one CVE from two records of one source: one finding with both advisories
    case("T-3", ["CVE-2023-103"],
         entry("Debian:12", "tpl", ("ECOSYSTEM", [{"introduced": "1.0-1"}, {"fixed": "3.0-1"}]))),
    case("T-4", ["CVE-2023-103"], entry("Debian:12", "tpl", ("ECOSYSTEM", [{"introduced": "0"}, {"fixed": "1.5-1"}])),
         severity=[{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]),
    # no CVE, no severity, a fix below the introduced version; last_affected
    case("T-5", [], entry("Debian:12", "tpl", ("ECOSYSTEM", [{"introduced": "1.1-1"}, {"fixed": "1.0-1"}]))),
    case("T-6", ["CVE-2023-106"],
         entry("Debian:12", "tpl", ("ECOSYSTEM", [{"introduced": "0"}, {"last_affected": "1.8-1"}]))),
]  # fmt: skip


def template_inventory(seed: int) -> Inventory:
    inv = inventory(seed)
    extra = [package("deb", "tpl", v) for v in ("0.5-1", "1.0-1", "1.2-1", "1.8-1", "2.5-1")]
    return Inventory(inv.os, [*inv.packages, *extra])


def report(findings: list[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings])


def test_findings_from_templates_equal_findings_from_records(runtime: Runtime, tmp_path: Path) -> None:
    service = VulnDBService(runtime.db)
    documents = list(records(3000, seed=5)) + EDGE_CASES + TEMPLATE_CASES
    assert service.import_path(write_dir(tmp_path / "one", documents), "one", actor=SYSTEM).status == "ok"
    assert service.import_path(write_dir(tmp_path / "two", NEWER_COPIES), "two", actor=SYSTEM).status == "ok"
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).where(VulnAffected.finding.is_(None))) == 0
        assert (session.scalar(select(func.count()).where(VulnAffected.match_fix.is_not(None))) or 0) > 3000

    inv = template_inventory(3)
    templated = match(inv, service)
    assert report(templated) == report(match(inv, CandidatesOnly(service))) == report(match(inv, FullLookup(service)))
    tpl = {(f.version, f.id): f for f in templated if f.package == "libtpl"}
    first = tpl[("1.2-1", "CVE-2023-101")]
    assert (first.severity, first.score, first.severity_source) == ("LOW", 1.8, "cvss_v3")
    assert first.cwe_ids == ("CWE-79", "CWE-89") and len(first.links) == 20 and first.fixed_versions == ("2.0-1",)
    second = tpl[("1.2-1", "CVE-2023-102")]
    assert second.summary == "first line" and second.fix_state == "will not fix"
    assert second.aliases == ("CVE-2023-102", "CVE-2022-1", "GHSA-xxxx-yyyy-zzzz")
    both = tpl[("1.2-1", "CVE-2023-103")]
    assert both.advisories == ("T-3", "T-4") and both.fixed_versions == ("3.0-1", "1.5-1")
    assert tpl[("1.2-1", "T-5")].severity == "UNKNOWN" and tpl[("1.2-1", "T-5")].fix_state == "not fixed"
    assert ("1.8-1", "CVE-2023-106") in tpl and ("2.5-1", "CVE-2023-106") not in tpl
    assert ("1.0-1", "T-5") not in tpl

    # rows without templates (imported before revision 0008), rows whose interval is not exact, and rows that
    # lost their interval but not match_fix: the same findings, however they are mixed
    for change in (
        update(VulnAffected).where(VulnAffected.id % 3 == 0).values(finding=None),
        update(VulnAffected).where(VulnAffected.id % 3 == 1).values(match_fix=None),
        update(VulnAffected).where(VulnAffected.id % 5 == 0).values(match_kind=None),
        update(VulnAffected).values(finding=None),
    ):
        with runtime.db.session() as session:
            session.execute(change)
        assert report(match(inv, service)) == report(templated)


def exclusive(runtime: Runtime) -> set[str]:
    with runtime.db.session() as session:
        return set(session.scalars(select(VulnExclusiveSource.name)))


def test_sources_sharing_record_ids_are_checked_for_newer_copies(runtime: Runtime, tmp_path: Path) -> None:
    service = VulnDBService(runtime.db)
    assert service.import_path(write_dir(tmp_path / "one", EDGE_CASES), "one", actor=SYSTEM).status == "ok"
    assert exclusive(runtime) == {"one"}
    before = check_same(service, 4)
    # a second source with newer copies of two records: neither source is exclusive any more, and the
    # newer copies win for both (the first source was written while it was exclusive)
    assert service.import_path(write_dir(tmp_path / "two", NEWER_COPIES), "two", actor=SYSTEM).status == "ok"
    assert exclusive(runtime) == set()
    after = check_same(service, 4)
    assert before != after and {f.advisories for f in after if f.package == "dup"} == {("DUP-2", "DUP-1"), ("DUP-2",)}
    other = [record("O-1", entry("npm", "dup", ("SEMVER", [{"introduced": "0"}])))]
    assert service.import_path(write_dir(tmp_path / "three", other), "three", actor=SYSTEM).status == "ok"
    assert exclusive(runtime) == {"three"}
    # an update of only some records that publishes an id another source has
    with Snapshot() as changed, runtime.db.session() as session:
        changed.add(
            parse_record(json.dumps(record("E-1", entry("npm", "dup", ("SEMVER", [{"introduced": "0"}])))), "x")
        )
        replace_some(session, "three", changed, ())
    assert exclusive(runtime) == set()
    check_same(service, 4)
    # a full write of a source that shares nothing any more lists it again
    assert service.import_path(write_dir(tmp_path / "three-again", other), "three", actor=SYSTEM).status == "ok"
    assert exclusive(runtime) == {"three"}
    check_same(service, 4)
