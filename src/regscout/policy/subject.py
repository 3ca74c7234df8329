"""What a policy is evaluated on: one image's identity, inventory, findings and details, when it was scanned, and
the dates of its advisories; plus ``SubjectIndex``, the lookups over one subject that every policy shares.

``Finding`` carries no dates, so the caller passes ``dates``: advisory id → (published, fix published), keyed by
any of a finding's ids (its id, advisories or aliases; first hit in that order, per date). A criterion that needs
a date the mapping lacks does not match the finding and says so. Dates may be ``date`` (the start of the day,
UTC) or ``datetime`` (one without a zone is taken as UTC).
"""

from __future__ import annotations

import bisect
import functools
import operator
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar, cast

from packageurl import PackageURL

from ..analysis.details import ImageDetails
from ..analysis.merge import Inventory
from ..analysis.model import Package
from ..vulndb.matcher import Finding
from ..vulndb.severity import RANK
from .versions import normalise_name

__all__ = ["DateLike", "Subject", "SubjectIndex", "moment"]

DateLike = date | datetime
_T = TypeVar("_T")
_UNKNOWN_RANK = RANK["UNKNOWN"]
_LICENSE_SPLIT = re.compile(r"[\s()]+")
_LICENSE_WORDS = frozenset({"and", "or", "with"})
# (sorted timestamps, the findings in that order, findings without the date)
_Dated = tuple[list[float], list[int], frozenset[int]]


_EPOCH_DAY = date(1970, 1, 1).toordinal()


def _timestamp(value: DateLike) -> float:
    """POSIX time of ``moment(value)``, without building the datetime for a date (there may be thousands)."""
    if type(value) is date:
        return float((value.toordinal() - _EPOCH_DAY) * 86400)
    assert isinstance(value, datetime)
    return (value if value.utcoffset() is not None else value.replace(tzinfo=UTC)).timestamp()


def moment(value: DateLike | None) -> datetime | None:
    """A date as the start of that day in UTC; a datetime without a zone as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), UTC)


@dataclass(frozen=True)
class Subject:
    registry: str  # host, as the registry integration names it ("ghcr.io", "localhost:5000", "docker.io")
    repository: str
    tag: str  # "" for an image known only by digest
    digest: str  # the image manifest's digest
    inventory: Inventory
    findings: Sequence[Finding]
    details: ImageDetails | None = None
    scanned_at: datetime | None = None
    dates: Mapping[str, tuple[DateLike | None, DateLike | None]] = field(default_factory=dict)


@functools.lru_cache(maxsize=4096)
def licence_tokens(declared: str) -> tuple[str, ...]:
    """A declared licence text and the licence ids inside it, lower-cased: ``"MIT OR (GPL-2.0-only WITH X)"`` →
    the whole text, ``mit``, ``gpl-2.0-only``, ``x``."""
    whole = " ".join(declared.split()).lower()
    if not whole:
        return ()
    parts = [p for p in _LICENSE_SPLIT.split(whole) if p and p not in _LICENSE_WORDS]
    return tuple(dict.fromkeys([whole, *parts]))


def _names(items: Iterable[tuple[str, str, str | None]]) -> dict[tuple[str, str], list[int]]:
    """(ecosystem, normalised name) → positions, for each item's name and source name."""
    index: dict[tuple[str, str], list[int]] = {}
    for i, (ecosystem, name, source) in enumerate(items):
        index.setdefault((ecosystem, normalise_name(ecosystem, name)), []).append(i)
        if source and source != name:
            positions = index.setdefault((ecosystem, normalise_name(ecosystem, source)), [])
            if not positions or positions[-1] != i:
                positions.append(i)
    return index


class SubjectIndex:
    """Lookups over one subject, built once per evaluation and shared by every policy; each structure is built the
    first time a criterion needs it. Findings and packages are referred to by their position (``findings[i]``,
    ``packages[i]``), so criteria combine as set operations on positions."""

    def __init__(self, subject: Subject) -> None:
        self.subject = subject
        self.findings: tuple[Finding, ...] = tuple(subject.findings)
        self.packages: tuple[Package, ...] = tuple(f.package for f in subject.inventory.packages)
        self.all: frozenset[int] = frozenset(range(len(self.findings)))
        self._memo: dict[Hashable, Any] = {}
        self._violations: list[Any] = [None] * len(self.findings)

    def memo(self, key: Hashable, build: Callable[[], _T]) -> _T:
        """``build()`` once per key for this subject (criteria cache their answers for repeated values here)."""
        try:
            return cast(_T, self._memo[key])
        except KeyError:
            value = self._memo[key] = build()
            return value

    # ------------------------------------------------------------------------------------------ severities, scores

    @functools.cached_property
    def _by_rank(self) -> list[list[int]]:
        buckets: list[list[int]] = [[] for _ in range(_UNKNOWN_RANK + 1)]
        for i, f in enumerate(self.findings):
            buckets[RANK.get(f.severity, _UNKNOWN_RANK)].append(i)
        return buckets

    def at_least_rank(self, rank: int) -> frozenset[int]:
        """Findings whose severity ranks at ``rank`` or above (0 = CRITICAL); UNKNOWN ranks below every level."""
        return self.memo(("rank", rank), lambda: frozenset(i for b in self._by_rank[: rank + 1] for i in b))

    @functools.cached_property
    def _scores(self) -> tuple[list[float], list[int], frozenset[int]]:
        scored = sorted((f.score, i) for i, f in enumerate(self.findings) if f.score is not None)
        unscored = frozenset(i for i, f in enumerate(self.findings) if f.score is None)
        return [s for s, _ in scored], [i for _, i in scored], unscored

    def scored_at_least(self, score: float) -> frozenset[int]:
        scores, order, _ = self._scores
        return self.memo(("cvss", score), lambda: frozenset(order[bisect.bisect_left(scores, score) :]))

    @property
    def unscored(self) -> frozenset[int]:
        return self._scores[2]

    # ------------------------------------------------------------------------------------------ fixes, dates

    @functools.cached_property
    def fixable(self) -> frozenset[int]:
        return frozenset(i for i, f in enumerate(self.findings) if f.fix_state == "fixed" or f.fixed_versions)

    @functools.cached_property
    def unfixable(self) -> frozenset[int]:
        return self.all - self.fixable

    @functools.cached_property
    def _dates(self) -> dict[str, tuple[DateLike | None, DateLike | None]]:
        return {k.upper(): v for k, v in self.subject.dates.items()}

    def dates_of(self, finding: Finding) -> tuple[datetime | None, datetime | None]:
        """(published, fix published) of a finding: per date, the first of its ids that has one."""
        table = self._dates
        entry = table.get(finding.id.upper())
        if entry is not None and entry[0] is not None and entry[1] is not None:
            return moment(entry[0]), moment(entry[1])
        published: DateLike | None = None if entry is None else entry[0]
        fixed: DateLike | None = None if entry is None else entry[1]
        for ident in (*finding.advisories, *finding.aliases):
            if published is not None and fixed is not None:
                break
            other = table.get(ident.upper())
            if other is not None:
                published = published if published is not None else other[0]
                fixed = fixed if fixed is not None else other[1]
        return moment(published), moment(fixed)

    @functools.cached_property
    def _dated(self) -> tuple[_Dated, _Dated]:
        published: list[tuple[float, int]] = []
        fixes: list[tuple[float, int]] = []
        no_published: list[int] = []
        no_fix: list[int] = []
        fixable = self.fixable
        table = self._dates
        p: DateLike | None
        x: DateLike | None
        for i, f in enumerate(self.findings):
            entry = table.get(f.id.upper())
            if entry is not None and entry[0] is not None and (entry[1] is not None or i not in fixable):
                p, x = entry
            else:
                p, x = self.dates_of(f)  # look at the other ids too
            if p is None:
                no_published.append(i)
            else:
                published.append((_timestamp(p), i))
            if i in fixable:
                if x is None:
                    no_fix.append(i)
                else:
                    fixes.append((_timestamp(x), i))
        published.sort()
        fixes.sort()
        return (
            ([t for t, _ in published], [i for _, i in published], frozenset(no_published)),
            ([t for t, _ in fixes], [i for _, i in fixes], frozenset(no_fix)),
        )

    def published_before(self, cutoff: datetime) -> tuple[frozenset[int], frozenset[int]]:
        """(findings published before ``cutoff``, findings with no published date)."""
        times, order, unknown = self._dated[0]
        ts = cutoff.timestamp()
        return self.memo(("published", ts), lambda: frozenset(order[: bisect.bisect_left(times, ts)])), unknown

    def fixed_before(self, cutoff: datetime) -> tuple[frozenset[int], frozenset[int]]:
        """(fixable findings whose fix was published before ``cutoff``, fixable findings with no fix date)."""
        times, order, unknown = self._dated[1]
        ts = cutoff.timestamp()
        return self.memo(("fixed", ts), lambda: frozenset(order[: bisect.bisect_left(times, ts)])), unknown

    # ------------------------------------------------------------------------------------------ ids, names

    def positions_of(self, wanted: Iterable[str]) -> dict[str, list[int]]:
        """Upper-cased id → the findings having it as id, advisory or alias, for the wanted ids only (one scan;
        a policy or an acceptance names a few ids, an image has thousands)."""
        keys = frozenset(w.upper() for w in wanted)
        return self.memo(("ids", keys), lambda: self._scan_ids(keys))

    def _scan_ids(self, wanted: frozenset[str]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        if not wanted:
            return found
        for i, f in enumerate(self.findings):
            for ident in (f.id, *f.advisories, *f.aliases):
                key = ident.upper()
                if key in wanted:
                    positions = found.setdefault(key, [])
                    if not positions or positions[-1] != i:
                        positions.append(i)
        return found

    @functools.cached_property
    def finding_names(self) -> dict[tuple[str, str], list[int]]:
        """(ecosystem, normalised package or source package name) → findings."""
        return _names((f.ecosystem, f.package, f.source_package) for f in self.findings)

    @functools.cached_property
    def package_names(self) -> dict[tuple[str, str], list[int]]:
        """(ecosystem, normalised binary or source package name) → packages."""
        return _names((p.ecosystem, p.name, p.source_name) for p in self.packages)

    @functools.cached_property
    def _package_by_key(self) -> dict[tuple[str, str, str, str], int]:
        return {p.key(): i for i, p in reversed(list(enumerate(self.packages)))}

    def package_of(self, finding: Finding) -> int | None:
        """The inventory package a finding was reported for."""
        return self._package_by_key.get((finding.ecosystem, finding.package, finding.version, finding.location))

    @functools.cached_property
    def licences(self) -> dict[str, list[int]]:
        """Lower-cased licence text or licence id → packages declaring it."""
        index: dict[str, list[int]] = {}
        for i, p in enumerate(self.packages):
            for declared in p.licenses:
                for token in licence_tokens(declared):
                    positions = index.setdefault(token, [])
                    if not positions or positions[-1] != i:
                        positions.append(i)
        return index

    def finding_purl(self, i: int) -> PackageURL | None:
        """The finding's package URL, parsed once; None when it has none or it does not parse."""
        key = ("purl", i)
        if key not in self._memo:
            try:
                self._memo[key] = PackageURL.from_string(self.findings[i].purl) if self.findings[i].purl else None
            except ValueError:
                self._memo[key] = None
        purl: PackageURL | None = self._memo[key]
        return purl

    def finding_violations(self, positions: Sequence[int], build: Callable[[Finding], _T]) -> tuple[_T, ...]:
        """The violations naming these findings, each built once and shared by every policy it breaks."""
        built = self._violations
        for i in positions:
            if built[i] is None:
                built[i] = build(self.findings[i])
        if not positions:
            return ()
        if len(positions) == 1:
            return (cast(_T, built[positions[0]]),)
        return cast(tuple[_T, ...], operator.itemgetter(*positions)(built))
