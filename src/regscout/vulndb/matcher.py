"""Match an image's inventory against the vulnerability records.

Packages are grouped by the OSV ecosystem they are looked up under, so each ecosystem costs one
batched query for all its names. One CVE is reported once per package, however many sources
carry it: findings are keyed by (package, canonical id), where the canonical id is the first CVE
among the record's id, aliases and upstream ids."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..analysis.merge import FoundPackage, Inventory
from .ecosystems import Lookup, lookup_for
from .ranges import evaluate
from .severity import RANK, UNKNOWN, Severity, severity_of
from .versions import scheme_for

WONT_FIX_MARKERS = frozenset({"will_not_fix", "wont-fix", "wontfix", "ignored", "end-of-life", "end_of_life"})


class RecordSource(Protocol):
    def records_for(
        self, ecosystem: str, names: Iterable[str]
    ) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """(record, affected entry) pairs whose affected package is in `ecosystem` with one of `names`.
        Records are OSV-shaped dicts; withdrawn records are never returned."""
        ...


@dataclass(frozen=True)
class Finding:
    id: str  # the CVE when one is known, else the advisory id
    advisories: tuple[str, ...]  # the records that reported it
    aliases: tuple[str, ...]  # CVE ids first
    package: str
    version: str  # installed
    ecosystem: str  # the package's ecosystem (deb, apk, rpm, PyPI, ...)
    purl: str
    lookup_ecosystem: str  # the OSV ecosystem it was matched in (Debian:12, PyPI, ...)
    source_package: str | None
    fixed_versions: tuple[str, ...]
    fix_state: str  # fixed | not fixed | will not fix | unknown
    severity: str
    score: float | None
    vector: str | None
    severity_source: str
    cwe_ids: tuple[str, ...]
    summary: str
    links: tuple[str, ...]
    layer_index: int
    layer_digest: str
    layer_diff_id: str
    layer_created_by: str
    location: str

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.ecosystem, self.package, self.version, self.location, self.id)


def canonical_id(record: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    ids = [str(record.get("id", ""))]
    for field in ("aliases", "upstream"):
        values = record.get(field)
        if isinstance(values, list):
            ids.extend(str(v) for v in values)
    unique = list(dict.fromkeys(i for i in ids if i))
    cves = [i for i in unique if i.startswith("CVE-")]
    aliases = tuple(cves + [i for i in unique if not i.startswith("CVE-") and i != unique[0]])
    return (cves[0] if cves else unique[0]), aliases


def _wont_fix(affected: Mapping[str, Any]) -> bool:
    for block in (affected.get("ecosystem_specific"), affected.get("database_specific")):
        if isinstance(block, Mapping):
            for key in ("status", "fix_state", "urgency", "nodsa_reason"):
                value = block.get(key)
                if isinstance(value, str) and value.strip().rstrip("*").lower().replace(" ", "_") in WONT_FIX_MARKERS:
                    return True
    return False


def _links(record: Mapping[str, Any]) -> tuple[str, ...]:
    references = record.get("references")
    if not isinstance(references, list):
        return ()
    return tuple(str(r["url"]) for r in references if isinstance(r, Mapping) and r.get("url"))[:20]


def _cwes(record: Mapping[str, Any]) -> tuple[str, ...]:
    found = record.get("cwe_ids")
    if not isinstance(found, list):
        specific = record.get("database_specific")
        found = specific.get("cwe_ids") if isinstance(specific, Mapping) else None
    return tuple(str(c) for c in found) if isinstance(found, list) else ()


def _finding(
    found: FoundPackage,
    lookup: Lookup,
    ecosystem: str,
    record: Mapping[str, Any],
    affected: Mapping[str, Any],
    fixed: tuple[str, ...],
    state: str,
    severity: Severity,
) -> Finding:
    package, layer = found.package, found.layer
    ident, aliases = canonical_id(record)
    summary = str(record.get("summary") or "") or str(record.get("details") or "").split("\n", 1)[0][:300]
    if state == "not-fixed" and _wont_fix(affected):
        fix_state = "will not fix"
    else:
        fix_state = {"fixed": "fixed", "not-fixed": "not fixed"}.get(state, "unknown")
    return Finding(
        id=ident,
        advisories=(str(record.get("id")),),
        aliases=aliases,
        package=package.name,
        version=package.version,
        ecosystem=package.ecosystem,
        purl=package.purl,
        lookup_ecosystem=ecosystem,
        source_package=package.source_name if lookup.name != package.name else None,
        fixed_versions=fixed,
        fix_state=fix_state,
        severity=severity.level,
        score=severity.score,
        vector=severity.vector,
        severity_source=severity.source,
        cwe_ids=_cwes(record),
        summary=summary,
        links=_links(record),
        layer_index=layer.index,
        layer_digest=layer.digest,
        layer_diff_id=layer.diff_id,
        layer_created_by=layer.created_by,
        location=package.location,
    )


FIX_PRIORITY = {"fixed": 0, "will not fix": 1, "not fixed": 2, "unknown": 3}


def _merge(a: Finding, b: Finding) -> Finding:
    """Two sources report the same CVE for the same package: keep one finding with both."""
    better = a if (a.score or -1) >= (b.score or -1) and RANK[a.severity] <= RANK[b.severity] else b
    fixed = tuple(dict.fromkeys(a.fixed_versions + b.fixed_versions))
    state = min((a.fix_state, b.fix_state), key=lambda s: FIX_PRIORITY.get(s, 9))
    return replace(
        better,
        advisories=tuple(dict.fromkeys(a.advisories + b.advisories)),
        aliases=tuple(dict.fromkeys(a.aliases + b.aliases)),
        fixed_versions=fixed,
        fix_state=state,
        cwe_ids=tuple(dict.fromkeys(a.cwe_ids + b.cwe_ids)),
        links=tuple(dict.fromkeys(a.links + b.links))[:20],
        summary=better.summary or a.summary or b.summary,
    )


def match(inventory: Inventory, source: RecordSource) -> list[Finding]:
    wanted: dict[str, dict[str, list[tuple[FoundPackage, Lookup]]]] = defaultdict(lambda: defaultdict(list))
    for found in inventory.packages:
        lookup = lookup_for(found.package, inventory.os)
        if lookup is None:
            continue
        for ecosystem in lookup.ecosystems:
            wanted[ecosystem][lookup.name].append((found, lookup))
    findings: dict[tuple[str, str, str, str, str], Finding] = {}
    for ecosystem, by_name in wanted.items():
        scheme = scheme_for(ecosystem)
        if scheme is None:
            continue
        for record, affected in source.records_for(ecosystem, list(by_name)):
            package_info = affected.get("package")
            name = package_info.get("name") if isinstance(package_info, Mapping) else None
            for found, lookup in by_name.get(str(name), ()):
                verdict = evaluate(affected, lookup.version, scheme)
                if not verdict.affected:
                    continue
                finding = _finding(
                    found,
                    lookup,
                    ecosystem,
                    record,
                    affected,
                    verdict.fixed,
                    verdict.state,
                    severity_of(record, affected) or UNKNOWN,
                )
                existing = findings.get(finding.key)
                findings[finding.key] = finding if existing is None else _merge(existing, finding)
    return sorted(findings.values(), key=lambda f: (RANK[f.severity], f.package, f.id))
