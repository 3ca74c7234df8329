"""Match an image's inventory against the vulnerability records.

Packages are grouped by the OSV ecosystem they are looked up under, so each ecosystem costs one
batched query for all its names. One CVE is reported once per package, however many sources
carry it: findings are keyed by (package, canonical id), where the canonical id is the first CVE
among the record's id, aliases and upstream ids."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from typing import Any, Protocol, cast, runtime_checkable

from ..analysis.merge import FoundPackage, Inventory
from .ecosystems import Lookup, lookup_for
from .ranges import evaluate
from .severity import RANK, UNKNOWN, Severity, severity_of
from .template import FINDING_FIELDS, WONT_FIX_MARKERS, Candidate, canonical_id, cwes, links, summary, wont_fix
from .versions import VersionScheme, scheme_for

__all__ = ["WONT_FIX_MARKERS", "CandidateSource", "Finding", "RecordSource", "TemplateSource", "canonical_id", "match"]


class RecordSource(Protocol):
    def records_for(
        self, ecosystem: str, names: Iterable[str]
    ) -> Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """(record, affected entry) pairs whose affected package is in `ecosystem` with one of `names`.
        Records are OSV-shaped dicts; withdrawn records are never returned."""
        ...


@runtime_checkable
class CandidateSource(RecordSource, Protocol):
    def candidates_for(
        self, ecosystem: str, probes: Sequence[tuple[str, str]]
    ) -> Iterable[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
        """(probe index, record, affected entry) for the entries of `ecosystem` naming a probe's package
        (`(name, installed version)`), ordered by entry: all that `records_for` would return for the
        name, except entries known not to cover the version. May keep some that do not."""
        ...


@runtime_checkable
class TemplateSource(CandidateSource, Protocol):
    def finding_candidates(self, ecosystem: str, probes: Sequence[tuple[str, str]]) -> Iterable[Candidate]:
        """The entries ``candidates_for`` returns, in its order, with the finding fields stored at import
        (template.py) where the rows have them; see ``VulnStore.finding_candidates``."""
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


# findings from templates are built as a dict in this order (template.py)
assert tuple(field.name for field in dataclass_fields(Finding)) == FINDING_FIELDS


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
    if state == "not-fixed" and wont_fix(affected):
        fix_state = "will not fix"
    else:
        fix_state = {"fixed": "fixed", "not-fixed": "not fixed"}.get(state, "unknown")
    return _new_finding(
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
        cwe_ids=cwes(record),
        summary=summary(record),
        links=links(record),
        layer_index=layer.index,
        layer_digest=layer.digest,
        layer_diff_id=layer.diff_id,
        layer_created_by=layer.created_by,
        location=package.location,
    )


def _new_finding(**values: Any) -> Finding:
    """``Finding(**values)`` without the frozen dataclass's ``__init__``, which sets each of the 24 fields
    through ``object.__setattr__`` and was a third of the time spent building a finding. Same instance."""
    finding = object.__new__(Finding)
    finding.__dict__.update(values)
    return finding


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


Group = list[tuple[FoundPackage, Lookup]]


def _candidates(
    source: RecordSource, ecosystem: str, by_name: Mapping[str, Group]
) -> Iterator[tuple[Group, str, Mapping[str, Any], Mapping[str, Any]]]:
    """(packages, installed version, record, affected entry) to evaluate. A CandidateSource gets one probe
    per distinct (name, version) and leaves out entries that cannot cover the version; any other source
    returns every entry of each name, and each is evaluated for every version of that name."""
    if isinstance(source, CandidateSource):
        groups: dict[tuple[str, str], Group] = defaultdict(list)
        for name, found in by_name.items():
            for pair in found:
                groups[(name, pair[1].version)].append(pair)
        probes = list(groups)
        for index, record, affected in source.candidates_for(ecosystem, probes):
            yield groups[probes[index]], probes[index][1], record, affected
        return
    for record, affected in source.records_for(ecosystem, list(by_name)):
        package_info = affected.get("package")
        named = package_info.get("name") if isinstance(package_info, Mapping) else None
        for pair in by_name.get(str(named), ()):
            yield [pair], pair[1].version, record, affected


FIX_STATES = {"fixed": "fixed", "not-fixed": "not fixed"}


def _add(findings: dict[tuple[str, str, str, str, str], Finding], finding: Finding) -> None:
    existing = findings.get(finding.key)
    findings[finding.key] = finding if existing is None else _merge(existing, finding)


def _match_templated(
    source: TemplateSource,
    ecosystem: str,
    scheme: VersionScheme,
    by_name: Mapping[str, Group],
    findings: dict[tuple[str, str, str, str, str], Finding],
) -> None:
    """Findings of one ecosystem from the stored templates: the same findings, in the same order, as
    evaluating and building every candidate from its record (which rows without templates still get)."""
    groups: dict[tuple[str, str], Group] = defaultdict(list)
    for name, pairs in by_name.items():
        for pair in pairs:
            groups[(name, pair[1].version)].append(pair)
    probes = list(groups)
    # per probe: the finding's fields that come from each installed package
    packages: dict[int, list[tuple[Any, ...]]] = {}
    new, set_attribute = object.__new__, object.__setattr__
    for probe, template, exact, affected, record in source.finding_candidates(ecosystem, probes):
        group = groups[probes[probe]]
        if template is None:  # a row stored before the templates existed
            assert record is not None and affected is not None
            verdict = evaluate(affected, probes[probe][1], scheme)
            if verdict.affected:
                severity = severity_of(record, affected) or UNKNOWN
                for found, lookup in group:
                    _add(
                        findings,
                        _finding(found, lookup, ecosystem, record, affected, verdict.fixed, verdict.state, severity),
                    )
            continue
        if exact is not None:
            fixed: tuple[str, ...] = exact
            state = "fixed" if exact else "will not fix" if template.wont_fix else "not fixed"
        else:
            assert affected is not None
            verdict = evaluate(affected, probes[probe][1], scheme)
            if not verdict.affected:
                continue
            fixed = verdict.fixed
            if verdict.state == "not-fixed" and template.wont_fix:
                state = "will not fix"
            else:
                state = FIX_STATES.get(verdict.state, "unknown")
        ident = template.id
        own = packages.get(probe)
        if own is None:
            own = packages[probe] = [_package_fields(found, lookup, ecosystem) for found, lookup in group]
        for own_fields, own_key in own:
            values = template.fields.copy()  # every field, in order
            values.update(own_fields)
            values["fixed_versions"] = fixed
            values["fix_state"] = state
            finding = new(Finding)
            set_attribute(finding, "__dict__", values)  # as the frozen dataclass's __init__ does, in one step
            key = (*own_key, ident)
            existing = findings.get(key)
            findings[key] = finding if existing is None else _merge(existing, finding)


def _package_fields(
    found: FoundPackage, lookup: Lookup, ecosystem: str
) -> tuple[dict[str, Any], tuple[str, str, str, str]]:
    """The fields of a finding that come from the installed package, and its part of the finding's key."""
    package, layer = found.package, found.layer
    fields = {
        "package": package.name,
        "version": package.version,
        "ecosystem": package.ecosystem,
        "purl": package.purl,
        "lookup_ecosystem": ecosystem,
        "source_package": package.source_name if lookup.name != package.name else None,
        "layer_index": layer.index,
        "layer_digest": layer.digest,
        "layer_diff_id": layer.diff_id,
        "layer_created_by": layer.created_by,
        "location": package.location,
    }
    return fields, (package.ecosystem, package.name, package.version, package.location)


def match(inventory: Inventory, source: RecordSource) -> list[Finding]:
    wanted: dict[str, dict[str, Group]] = defaultdict(lambda: defaultdict(list))
    for found in inventory.packages:
        lookup = lookup_for(found.package, inventory.os)
        if lookup is None:
            continue
        for ecosystem in lookup.ecosystems:
            wanted[ecosystem][lookup.name].append((found, lookup))
    findings: dict[tuple[str, str, str, str, str], Finding] = {}
    templated = isinstance(source, TemplateSource)
    for ecosystem, by_name in wanted.items():
        scheme = scheme_for(ecosystem)
        if scheme is None:
            continue
        if templated:
            _match_templated(cast(TemplateSource, source), ecosystem, scheme, by_name, findings)
            continue
        for group, version, record, affected in _candidates(source, ecosystem, by_name):
            verdict = evaluate(affected, version, scheme)
            if not verdict.affected:
                continue
            severity = severity_of(record, affected) or UNKNOWN
            for found, lookup in group:
                _add(
                    findings,
                    _finding(found, lookup, ecosystem, record, affected, verdict.fixed, verdict.state, severity),
                )
    return sorted(findings.values(), key=lambda f: (RANK[f.severity], f.package, f.id))
