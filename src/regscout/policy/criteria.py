"""The criteria: one small function per criterion, and ``check``, which combines them for one policy.

Finding criteria answer with an ``ItemMatch``: the positions of the findings they select, and those they could
not decide for want of data (no published date, no CVSS score). A finding breaks a policy when it meets every
finding criterion, so ``check`` intersects the matches; findings that would have matched but for missing data
are reported in a note rather than as violations. Package criteria work alike over the inventory's packages
(``PackageMatch``, with the reason each package matched). Image criteria answer with an ``ImageMatch``: the
violations they find, or a note when the image lacks the fact they need (no details, no creation time, an OS
the end-of-life table does not know). A policy is violated when everything it gives holds.

Every violation names the finding, package or image fact, and says what to do about it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from ..analysis.model import Package
from ..vulndb.matcher import Finding
from ..vulndb.severity import RANK
from ..vulndb.versions import InvalidVersion
from . import eol as eol_table
from .model import Criteria, PackageRule, parse_port
from .patterns import Pattern, literal_name, name_matches, name_pattern
from .subject import SubjectIndex, moment
from .versions import VersionRange, normalise_name, parse_range, scheme_for_ecosystem

__all__ = [
    "CompiledCriteria",
    "CriteriaResult",
    "ImageMatch",
    "ItemMatch",
    "PackageMatch",
    "Violation",
    "check",
    "compile_criteria",
    "finding_remedy",
]

_MAX_LISTED = 5
_R = TypeVar("_R")


@dataclass(frozen=True)
class Violation:
    kind: Literal["finding", "package", "image"]
    criterion: str  # "findings" for findings (they meet every finding criterion together), else the criterion
    subject: str  # what: "CVE-2024-1 in openssl 3.0.1", "package log4j-core 2.14.1", "USER", "history line 4"
    detail: str  # why it breaks the policy
    remedy: str  # what to do about it
    finding: Finding | None = None
    package: Package | None = None


@dataclass(frozen=True)
class ItemMatch:
    matched: frozenset[int]
    undecided: frozenset[int] = frozenset()
    missing: str = ""  # what the undecided ones lack


@dataclass(frozen=True)
class PackageMatch:
    matched: dict[int, tuple[str, str]]  # package position → (detail, remedy)
    undecided: frozenset[int] = frozenset()
    missing: str = ""


@dataclass(frozen=True)
class ImageMatch:
    violations: tuple[Violation, ...] = ()
    note: str | None = None  # set when the criterion could not be decided: it then does not hold


def _undecided_image(criterion: str, why: str) -> ImageMatch:
    return ImageMatch((), f"{criterion}: {why}; not evaluated")


# ---------------------------------------------------------------------------------------------------- remedies


def _lowest_fix(finding: Finding) -> str | None:
    """The lowest fixed version above the installed one, by the ecosystem's order; the first listed when the
    versions do not parse."""
    if len(finding.fixed_versions) <= 1:
        return finding.fixed_versions[0] if finding.fixed_versions else None
    scheme = scheme_for_ecosystem(finding.lookup_ecosystem) or scheme_for_ecosystem(finding.ecosystem)
    if scheme is None:
        return finding.fixed_versions[0]
    try:
        installed = scheme.key(finding.version)
        keyed = [(scheme.key(v), v) for v in finding.fixed_versions]
    except InvalidVersion:
        return finding.fixed_versions[0]
    above = [kv for kv in keyed if kv[0] > installed] or keyed
    return min(above, key=lambda kv: kv[0])[1]


def finding_remedy(finding: Finding) -> str:
    """``upgrade openssl 3.0.1 to 3.0.13``, or what to do when there is no fix."""
    fix = _lowest_fix(finding)
    name, version = finding.package, finding.version
    if fix is not None:
        source = f" (source package {finding.source_package})" if finding.source_package else ""
        return f"upgrade {name} {version} to {fix}{source}"
    if finding.fix_state == "will not fix":
        return f"no fix will ship ({finding.id} is marked will-not-fix); remove {name}, mitigate, or accept the risk"
    return f"no fixed version of {name} is known yet; remove or replace {name} {version}, mitigate, or accept the risk"


class _FindingViolation(Violation):
    """A finding's violation whose texts are written on first read: an image can have thousands of findings and
    a caller gating on the outcome reads none of them. Equal to nothing but another finding violation."""

    @property
    def subject(self) -> str:
        return self._texts()[0]

    @property
    def detail(self) -> str:
        return self._texts()[1]

    @property
    def remedy(self) -> str:
        return self._texts()[2]

    def _texts(self) -> tuple[str, str, str]:
        texts: tuple[str, str, str] | None = self.__dict__.get("_texts_")
        if texts is None:
            f = self.finding
            assert f is not None
            score = f", CVSS {f.score:g}" if f.score is not None else ""
            fixed = f", fixed in {', '.join(f.fixed_versions)}" if f.fixed_versions else f", {f.fix_state}"
            texts = (f"{f.id} in {f.package} {f.version}", f"{f.severity}{score}{fixed}", finding_remedy(f))
            self.__dict__["_texts_"] = texts
        return texts


def _finding_violation(finding: Finding) -> Violation:
    # Without the frozen dataclass's __init__, which sets each field through object.__setattr__. Same instance.
    violation = object.__new__(_FindingViolation)
    violation.__dict__.update(kind="finding", criterion="findings", finding=finding, package=None)
    return violation


def _package_subject(package: Package) -> str:
    return f"package {package.name} {package.version}"


# ---------------------------------------------------------------------------------------------------- finding criteria


def severity_at_least(level: str, ix: SubjectIndex) -> ItemMatch:
    """Severity ``level`` or above; a finding of UNKNOWN severity meets no level."""
    return ItemMatch(ix.at_least_rank(RANK[level]))


def cvss_at_least(score: float, ix: SubjectIndex) -> ItemMatch:
    return ItemMatch(ix.scored_at_least(score), ix.unscored, "no CVSS score")


def fixable(wanted: bool, ix: SubjectIndex) -> ItemMatch:
    """True: findings with a fixed version; false: findings without one."""
    return ItemMatch(ix.fixable if wanted else ix.unfixable)


def published_more_than(days: int, ix: SubjectIndex, now: datetime) -> ItemMatch:
    """The advisory was published more than ``days`` days before ``now``."""
    matched, unknown = ix.published_before(now - timedelta(days=days))
    return ItemMatch(matched, unknown, "no published date")


def fix_available_more_than(days: int, ix: SubjectIndex, now: datetime) -> ItemMatch:
    """A fix exists and was published more than ``days`` days before ``now``."""
    matched, unknown = ix.fixed_before(now - timedelta(days=days))
    return ItemMatch(matched, unknown, "no date for its fix")


def has_id(ids: Sequence[str], ix: SubjectIndex) -> ItemMatch:
    """Any of ``ids`` among the finding's id, advisories and aliases (case-insensitive)."""
    found = ix.positions_of(ids)
    return ItemMatch(frozenset(i for positions in found.values() for i in positions))


@dataclass(frozen=True)
class CompiledRule:
    rule: PackageRule
    pattern: Pattern
    exact: str | None  # the normalised name when the rule names one package
    ranges: tuple[VersionRange, ...]

    @property
    def text(self) -> str:
        versions = f" {' or '.join(self.rule.versions)}" if self.rule.versions else ""
        return f"{self.rule.ecosystem} {self.rule.name}{versions}"

    def candidates(self, names: dict[tuple[str, str], list[int]]) -> list[int]:
        if self.exact is not None:
            return names.get((self.rule.ecosystem, self.exact), [])
        found: list[int] = []
        for (ecosystem, name), positions in names.items():
            if ecosystem == self.rule.ecosystem and name_matches(self.pattern, name):
                found.extend(positions)
        return list(dict.fromkeys(found))

    def range_of(self, version: str) -> VersionRange | Literal[False] | None:
        """The first range holding ``version``; None when none does; False when the version does not parse."""
        scheme = scheme_for_ecosystem(self.rule.ecosystem)
        assert scheme is not None  # PackageRule validation
        try:
            key = scheme.key(version)
        except InvalidVersion:
            return False
        return next((r for r in self.ranges if r.contains(key)), None)


def compile_rule(rule: PackageRule) -> CompiledRule:
    normalise = functools.partial(normalise_name, rule.ecosystem)
    literal = literal_name(rule.name)
    scheme = scheme_for_ecosystem(rule.ecosystem)
    ranges = tuple(parse_range(v, scheme) for v in rule.versions) if scheme is not None else ()
    text = normalise(rule.name) if rule.ecosystem == "PyPI" else rule.name
    return CompiledRule(rule, name_pattern(text), None if literal is None else normalise(literal), ranges)


def in_packages(rules: Sequence[CompiledRule], ix: SubjectIndex) -> ItemMatch:
    """Findings in a package (binary or source name) a rule names, at a version in one of its ranges."""
    matched: set[int] = set()
    undecided: set[int] = set()
    for rule in rules:
        for i in rule.candidates(ix.finding_names):
            if not rule.ranges:
                matched.add(i)
                continue
            found = rule.range_of(ix.findings[i].version)
            if found is False:
                undecided.add(i)
            elif found is not None:
                matched.add(i)
    return ItemMatch(frozenset(matched), frozenset(undecided - matched), "a version that does not parse")


def with_licence(names: Sequence[Pattern], ix: SubjectIndex) -> ItemMatch:
    """Findings in a package declaring one of the licences."""
    packages = licensed_packages(names, ix).matched
    matched: set[int] = set()
    undecided: set[int] = set()
    for i, finding in enumerate(ix.findings):
        position = ix.package_of(finding)
        if position is None:
            undecided.add(i)
        elif position in packages:
            matched.add(i)
    return ItemMatch(frozenset(matched), frozenset(undecided), "no inventory package to read a licence from")


# ---------------------------------------------------------------------------------------------------- package criteria


def banned_packages(rules: Sequence[CompiledRule], ix: SubjectIndex) -> PackageMatch:
    matched: dict[int, tuple[str, str]] = {}
    undecided: set[int] = set()
    for rule in rules:
        for i in rule.candidates(ix.package_names):
            if i in matched:
                continue
            package = ix.packages[i]
            where = f"{package.name} {package.version} ({package.ecosystem}, {package.location})"
            if not rule.ranges:
                matched[i] = (f"{where} is a banned package ({rule.text})", f"remove {package.name} or replace it")
                continue
            found = rule.range_of(package.version)
            if found is False:
                undecided.add(i)
            elif found is not None:
                matched[i] = (
                    f"{where} is in the banned range {found.text}",
                    f"upgrade {package.name} {package.version} out of {found.text}, or remove it",
                )
    return PackageMatch(matched, frozenset(undecided - matched.keys()), "a version that does not parse")


def licence_patterns(names: Sequence[str]) -> tuple[Pattern, ...]:
    return tuple(name_pattern(n.lower()) for n in names)


def licensed_packages(names: Sequence[Pattern], ix: SubjectIndex) -> PackageMatch:
    """Packages declaring a licence (or an id inside a declared SPDX expression) matching one of the names."""

    def build() -> PackageMatch:
        index = ix.licences
        matched: dict[int, tuple[str, str]] = {}
        for pattern in names:
            literal = literal_name(pattern.text)
            tokens = [literal] if literal is not None else [t for t in index if name_matches(pattern, t)]
            for token in tokens:
                for i in index.get(token, ()):
                    if i not in matched:
                        package = ix.packages[i]
                        declared = ", ".join(package.licenses)
                        matched[i] = (
                            f"{package.name} {package.version} ({package.ecosystem}) declares {declared}",
                            f"replace or remove {package.name} {package.version}: licence {declared} is not allowed",
                        )
        return PackageMatch(matched)

    result: PackageMatch = ix.memo(("licences", tuple(p.text for p in names)), build)
    return result


# ---------------------------------------------------------------------------------------------------- image criteria


def image_older_than(days: int, ix: SubjectIndex, now: datetime) -> ImageMatch:
    details = ix.subject.details
    created = moment(details.created) if details is not None else None
    if created is None:
        return _undecided_image("image_age_days", "the image records no creation time")
    age = now - created
    if age <= timedelta(days=days):
        return ImageMatch()
    when = f"created on {created.date().isoformat()}, {age.days} days ago (the limit is {days})"
    since = f": it misses every fix since {created.date().isoformat()}"
    return ImageMatch(
        (
            Violation(
                "image", "image_age_days", "image creation time", when, f"rebuild the image on a current base{since}"
            ),
        )
    )


def not_scanned_within(days: int, ix: SubjectIndex, now: datetime) -> ImageMatch:
    scanned = moment(ix.subject.scanned_at)
    if scanned is None:
        return ImageMatch(
            (
                Violation(
                    "image", "not_scanned_days", "last scan", "no scan of this image is recorded", "scan the image"
                ),
            )
        )
    age = now - scanned
    if age <= timedelta(days=days):
        return ImageMatch()
    detail = f"last scanned on {scanned.date().isoformat()}, {age.days} days ago (the limit is {days})"
    remedy = f"scan the image again, and rescan at least every {days} days"
    return ImageMatch((Violation("image", "not_scanned_days", "last scan", detail, remedy),))


def base_os_eol(ix: SubjectIndex, now: datetime, table: eol_table.EolTable | None = None) -> ImageMatch:
    os = ix.subject.inventory.os
    if os is None:
        return _undecided_image("os_eol", "no operating system was found in the image")
    release = eol_table.lookup(os, table)
    if release is None:
        version = os.version_id or "without a version"
        return _undecided_image("os_eol", f"the end-of-life table has no entry for {os.id} {version}")
    if not eol_table.is_eol(release, now):
        return ImageMatch()
    reached = f"{release.label} reached end of life on {release.eol.isoformat()}"
    return ImageMatch((Violation("image", "os_eol", "base OS", reached, f"rebuild on a supported base: {reached}"),))


def _is_root(user: str) -> bool:
    name = user.strip().split(":", 1)[0].strip()
    return name in ("", "root") or (name.isdigit() and int(name) == 0)


def runs_as_root(ix: SubjectIndex) -> ImageMatch:
    details = ix.subject.details
    if details is None:
        return _undecided_image("runs_as_root", "the image's config is not known")
    if not _is_root(details.user):
        return ImageMatch()
    detail = "no USER is set, so the image runs as root" if not details.user.strip() else f"USER {details.user} is root"
    remedy = "set USER in the Dockerfile to a non-root user (for example USER 10001)"
    return ImageMatch((Violation("image", "runs_as_root", "USER", detail, remedy),))


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def history_matches(patterns: Sequence[re.Pattern[str]], ix: SubjectIndex) -> ImageMatch:
    """Dockerfile lines of the history in which any pattern is found (one violation per line)."""
    details = ix.subject.details
    if details is None:
        return _undecided_image("history", "the image's config is not known")
    if not details.dockerfile:
        return _undecided_image("history", "the image records no build history")
    found = []
    for number, line in enumerate(details.dockerfile, start=1):
        pattern = next((p for p in patterns if p.search(line)), None)
        if pattern is not None:
            found.append(
                Violation(
                    "image",
                    "history",
                    f"history line {number}",
                    f"`{_shorten(line)}` matches `{pattern.pattern}`",
                    f"remove or rewrite this Dockerfile instruction: it matches the forbidden `{pattern.pattern}`",
                )
            )
    return ImageMatch(tuple(found))


def labels_missing(names: Sequence[str], ix: SubjectIndex) -> ImageMatch:
    """Each label that is absent, or set to blank."""
    details = ix.subject.details
    if details is None:
        return _undecided_image("labels_missing", "the image's config is not known")
    found = []
    for name in names:
        value = details.labels.get(name)
        if value is None or not value.strip():
            state = "missing" if value is None else "blank"
            found.append(
                Violation(
                    "image",
                    "labels_missing",
                    f"label {name}",
                    f"label {name} is {state}",
                    f"add LABEL {name}=<value> to the Dockerfile",
                )
            )
    return ImageMatch(tuple(found))


def _exposed(port: str) -> tuple[int, str] | None:
    number, _, protocol = port.strip().lower().partition("/")
    return (int(number), protocol or "tcp") if number.isdigit() else None


def ports_exposed(specs: Sequence[tuple[int, int, str | None]], ix: SubjectIndex) -> ImageMatch:
    details = ix.subject.details
    if details is None:
        return _undecided_image("exposed_ports", "the image's config is not known")
    found = []
    for port in details.exposed_ports:
        parsed = _exposed(port)
        if parsed is None:
            continue
        number, protocol = parsed
        if any(low <= number <= high and proto in (None, protocol) for low, high, proto in specs):
            found.append(
                Violation(
                    "image",
                    "exposed_ports",
                    f"port {port}",
                    f"the image exposes {port}",
                    f"remove EXPOSE {port} from the Dockerfile unless the service must be reachable on it",
                )
            )
    return ImageMatch(tuple(found))


# ---------------------------------------------------------------------------------------------------- one policy

ItemCheck = Callable[[SubjectIndex, datetime], ItemMatch]
PackageCheck = Callable[[SubjectIndex, datetime], PackageMatch]
ImageCheck = Callable[[SubjectIndex, datetime], ImageMatch]


@dataclass(frozen=True)
class CompiledCriteria:
    """A policy's criteria with everything parsed once: regexes, name patterns, version ranges, ports."""

    criteria: Criteria
    findings: tuple[tuple[str, ItemCheck], ...] = ()
    packages: tuple[tuple[str, PackageCheck], ...] = ()
    image: tuple[tuple[str, ImageCheck], ...] = ()


def _timeless(check: Callable[[SubjectIndex], _R]) -> Callable[[SubjectIndex, datetime], _R]:
    return lambda ix, _now: check(ix)


def compile_criteria(criteria: Criteria, eol: eol_table.EolTable | None = None) -> CompiledCriteria:
    """``eol`` replaces the shipped end-of-life table (for tests)."""
    c = criteria
    p = functools.partial
    findings: list[tuple[str, ItemCheck]] = []
    packages: list[tuple[str, PackageCheck]] = []
    image: list[tuple[str, ImageCheck]] = []
    if c.severity is not None:
        findings.append(("severity", _timeless(p(severity_at_least, c.severity))))
    if c.cvss is not None:
        findings.append(("cvss", _timeless(p(cvss_at_least, c.cvss))))
    if c.fixable is not None:
        findings.append(("fixable", _timeless(p(fixable, c.fixable))))
    if c.published_days is not None:
        findings.append(("published_days", p(published_more_than, c.published_days)))
    if c.fix_days is not None:
        findings.append(("fix_days", p(fix_available_more_than, c.fix_days)))
    if c.cve_ids is not None:
        findings.append(("cve_ids", _timeless(p(has_id, tuple(c.cve_ids)))))
    rules = tuple(compile_rule(r) for r in c.packages) if c.packages is not None else None
    licences = licence_patterns(c.licenses) if c.licenses is not None else None
    if findings:
        # With finding criteria, package criteria narrow the findings.
        if rules is not None:
            findings.append(("packages", _timeless(p(in_packages, rules))))
        if licences is not None:
            findings.append(("licenses", _timeless(p(with_licence, licences))))
    else:
        if rules is not None:
            packages.append(("packages", _timeless(p(banned_packages, rules))))
        if licences is not None:
            packages.append(("licenses", _timeless(p(licensed_packages, licences))))
    if c.image_age_days is not None:
        image.append(("image_age_days", p(image_older_than, c.image_age_days)))
    if c.not_scanned_days is not None:
        image.append(("not_scanned_days", p(not_scanned_within, c.not_scanned_days)))
    if c.os_eol:
        image.append(("os_eol", lambda ix, now: base_os_eol(ix, now, eol)))
    if c.runs_as_root:
        image.append(("runs_as_root", _timeless(runs_as_root)))
    if c.history is not None:
        regexes = tuple(re.compile(h) for h in c.history)
        image.append(("history", _timeless(p(history_matches, regexes))))
    if c.labels_missing is not None:
        image.append(("labels_missing", _timeless(p(labels_missing, tuple(c.labels_missing)))))
    if c.exposed_ports is not None:
        specs = tuple(parse_port(port) for port in c.exposed_ports)
        image.append(("exposed_ports", _timeless(p(ports_exposed, specs))))
    return CompiledCriteria(criteria, tuple(findings), tuple(packages), tuple(image))


@dataclass(frozen=True)
class CriteriaResult:
    violated: bool
    violations: tuple[Violation, ...] = ()
    notes: tuple[str, ...] = ()
    undecided: frozenset[int] = field(default_factory=frozenset)  # findings the notes are about


def _listed(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:_MAX_LISTED])
    return shown if len(labels) <= _MAX_LISTED else f"{shown} and {len(labels) - _MAX_LISTED} more"


def _item_note(what: str, criterion: str, missing: str, labels: Sequence[str]) -> str:
    count = len(labels)
    noun = what if count == 1 else what + "s"
    return f"{criterion}: {count} {noun} could not be checked ({missing}): {_listed(labels)}"


def check(
    compiled: CompiledCriteria, ix: SubjectIndex, now: datetime, universe: frozenset[int] | None = None
) -> CriteriaResult:
    """Whether the subject breaks the criteria, with the violations and the notes on what could not be decided.
    ``universe`` is the findings in play (those not accepted); all by default."""
    notes: list[str] = []
    image_violations: list[Violation] = []
    for _name, image_check in compiled.image:
        result = image_check(ix, now)
        if result.note is not None:
            notes.append(result.note)
        if not result.violations:
            # One image criterion that does not hold (or cannot be decided) settles it: the policy holds.
            return CriteriaResult(False, (), tuple(notes))
        image_violations.extend(result.violations)
    if compiled.findings:
        return _with_findings(compiled, ix, now, ix.all if universe is None else universe, image_violations, notes)
    if compiled.packages:
        return _with_packages(compiled, ix, now, image_violations, notes)
    return CriteriaResult(True, tuple(image_violations), tuple(notes))


def _with_findings(
    compiled: CompiledCriteria,
    ix: SubjectIndex,
    now: datetime,
    universe: frozenset[int],
    image_violations: list[Violation],
    notes: list[str],
) -> CriteriaResult:
    matched = possible = universe
    lacking: list[tuple[str, str, frozenset[int]]] = []
    for name, item_check in compiled.findings:
        result = item_check(ix, now)
        matched = matched & result.matched
        if result.undecided:
            possible = possible & (result.matched | result.undecided)
            lacking.append((name, result.missing, result.undecided))
        else:
            possible = possible & result.matched
    undecided = possible - matched
    for name, missing, positions in lacking:
        about = sorted(undecided & positions)
        if about:
            notes.append(_item_note("finding", name, missing, [ix.findings[i].id for i in about]))
    if not matched:
        return CriteriaResult(False, (), tuple(notes), undecided)
    found = ix.finding_violations(sorted(matched), _finding_violation)
    return CriteriaResult(True, (*found, *image_violations), tuple(notes), undecided)


def _with_packages(
    compiled: CompiledCriteria, ix: SubjectIndex, now: datetime, image_violations: list[Violation], notes: list[str]
) -> CriteriaResult:
    matched: dict[int, list[tuple[str, str]]] | None = None
    criteria: list[str] = []
    for name, package_check in compiled.packages:
        result = package_check(ix, now)
        criteria.append(name)
        if result.undecided:
            labels = [_package_subject(ix.packages[i]) for i in sorted(result.undecided)]
            notes.append(_item_note("package", name, result.missing, labels))
        if matched is None:
            matched = {i: [reason] for i, reason in result.matched.items()}
        else:
            matched = {i: [*reasons, result.matched[i]] for i, reasons in matched.items() if i in result.matched}
    if not matched:
        return CriteriaResult(False, (), tuple(notes))
    found = []
    for i in sorted(matched):
        package = ix.packages[i]
        reasons = matched[i]
        found.append(
            Violation(
                "package",
                "+".join(criteria),
                _package_subject(package),
                "; ".join(detail for detail, _ in reasons),
                "; ".join(dict.fromkeys(remedy for _, remedy in reasons)),
                package=package,
            )
        )
    return CriteriaResult(True, (*found, *image_violations), tuple(notes))
