"""The console's image catalog: stored results listed, filtered, sorted and paged in the database over indexed
columns (never every row); one image's details, packages, findings and changes; its reports rebuilt from what is
stored; and the findings of a vulnerability id or a package across every image."""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..access import Principal
from ..analysis.details import ImageDetails, dockerfile_line
from ..analysis.image import AnalysisStats, ImageReport
from ..analysis.merge import inventory_from_json
from ..results.codec import details_from_json, finding_from_json
from ..results.codec import unpack as _unpack
from ..store.db import Database
from ..store.models import VulnRecord
from ..store.results_models import FindingChange, ImageFinding, ScanResult
from ..vulndb.matcher import Finding
from .visibility import Visibility

log = logging.getLogger(__name__)

T = TypeVar("T")

# Severity words from the worst; a minimum severity keeps that one and every worse one.
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
SEVERITY_RANK = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "LOW": 2, "NONE": 1, "UNKNOWN": 0}
SEVERITY_COLUMNS = {
    "CRITICAL": ScanResult.critical,
    "HIGH": ScanResult.high,
    "MEDIUM": ScanResult.medium,
    "LOW": ScanResult.low,
}

# The list's sort keys: the columns each orders by (the result id last, so pages never overlap), each led by an
# indexed column, and the direction a first click sorts in.
SORTS: dict[str, tuple[Any, ...]] = {
    "severity": (ScanResult.critical, ScanResult.high, ScanResult.medium, ScanResult.low),
    "registry": (ScanResult.registry_host, ScanResult.repository, ScanResult.reference),
    "repository": (ScanResult.repository, ScanResult.reference),
    "tag": (ScanResult.reference,),
    "os": (ScanResult.os,),
    "fixable": (ScanResult.fixable,),
    "scanned": (ScanResult.analyzed_at,),
}
DESCENDING_FIRST = frozenset({"severity", "fixable", "scanned"})
DEFAULT_SORT = "severity"
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_SIZE = 50
FACET_LIMIT = 500  # registries and OS names offered as filter choices
FIXED_IN_LIMIT = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list: its items, how many there are in all, and where this page is."""

    items: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.size + 1 if self.items else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.size + len(self.items)


def window(total: int, page: int, size: int) -> tuple[int, int]:
    """The page actually shown (a page past the end shows the last one) and its offset."""
    pages = max(1, -(-total // size))
    shown = min(max(1, page), pages)
    return shown, (shown - 1) * size


def paged(items: Sequence[T], page: int, size: int) -> Page[T]:
    shown, offset = window(len(items), page, size)
    return Page(list(items[offset : offset + size]), len(items), shown, size)


@dataclass(frozen=True)
class ImageFilter:
    """What the image list shows: filters, the sort, and the page. Values are trusted here: the page parses and
    bounds what a query string says."""

    registry: str = ""  # exact registry host
    repository: str = ""  # part of the repository name, any case
    os: str = ""  # exact OS name as listed
    min_severity: str = ""  # CRITICAL, HIGH, MEDIUM or LOW: images with a finding this bad or worse
    fixable: bool = False  # only images with a finding that has a fixed version
    sort: str = DEFAULT_SORT
    descending: bool = True
    page: int = 1
    size: int = DEFAULT_SIZE


@dataclass(frozen=True)
class CatalogLine:
    digest: str
    registry: str
    repository: str
    reference: str
    platform: str
    os: str
    packages: int
    critical: int
    high: int
    medium: int
    low: int
    other: int
    fixable: int
    analyzed_at: datetime
    matched_at: datetime
    index_digest: str | None
    verdict: str  # the policies' worst verdict: pass | warn | fail; "" when no enabled policy covers it
    accepted: int  # findings under a risk acceptance

    @property
    def findings(self) -> int:
        return self.critical + self.high + self.medium + self.low + self.other


LINE_COLUMNS = (
    ScanResult.image_digest,
    ScanResult.registry_host,
    ScanResult.repository,
    ScanResult.reference,
    ScanResult.platform,
    ScanResult.os,
    ScanResult.packages,
    ScanResult.critical,
    ScanResult.high,
    ScanResult.medium,
    ScanResult.low,
    ScanResult.other,
    ScanResult.fixable,
    ScanResult.analyzed_at,
    ScanResult.matched_at,
    ScanResult.index_digest,
    ScanResult.verdict,
    ScanResult.accepted,
)


@dataclass(frozen=True)
class Facets:
    registries: list[str]
    oses: list[str]


@dataclass(frozen=True)
class StoredImage:
    line: CatalogLine
    details: ImageDetails | None  # None for results stored before details were kept


@dataclass(frozen=True)
class PackageLine:
    name: str
    version: str
    ecosystem: str
    licenses: tuple[str, ...]
    location: str
    purl: str
    layer_index: int
    layer_digest: str
    layer_instruction: str  # the history line that made the layer, as a Dockerfile instruction


@dataclass(frozen=True)
class PackageFilter:
    text: str = ""  # part of the name, any case
    ecosystem: str = ""
    page: int = 1
    size: int = 100


@dataclass(frozen=True)
class FindingFilter:
    text: str = ""  # part of the vulnerability id or package name, any case
    min_severity: str = ""
    fixable: bool = False
    page: int = 1
    size: int = 100


@dataclass(frozen=True)
class ChangeLine:
    finding: str
    package: str
    version: str
    change: str
    detail: str
    at: datetime


@dataclass(frozen=True)
class StoredReport:
    """An ImageReport rebuilt from a stored result, for the report writers."""

    report: ImageReport
    findings: list[Finding]
    registry_host: str
    has_details: bool  # False: layers, history and config were not stored (an older result)


@dataclass(frozen=True)
class AffectedLine:
    digest: str
    registry: str
    repository: str
    reference: str
    os: str
    vuln_id: str
    package: str
    version: str
    ecosystem: str
    severity: str
    score: float | None
    fix_state: str
    fixed_versions: str


@dataclass(frozen=True)
class Search:
    """The findings of one vulnerability (any of its ids) or of one package, across every stored image."""

    query: str
    kind: str  # vulnerability | package | none
    ids: list[str]  # for a vulnerability: the ids its findings may carry (the query, normalised, and its aliases)
    results: Page[AffectedLine]
    images: int  # distinct images affected
    vulnerabilities: int  # distinct vulnerability ids
    worst: str  # the worst severity among the findings
    fixed_in: list[str]  # distinct fixed versions (at most FIXED_IN_LIMIT)
    summary: str = ""  # the advisory's summary when the vulnerability data has a record under one of the ids

    @property
    def aliases(self) -> list[str]:
        """The other ids of the vulnerability (not mere spellings of the first)."""
        return [i for i in self.ids[1:] if i.upper() != self.ids[0].upper()] if self.ids else []


_CVE = re.compile(r"^cve-\d{4}-\d+$", re.I)
_GHSA = re.compile(r"^ghsa(-[23456789cfghjmpqrvwx]{4}){3}$", re.I)


def normalized_id(text: str) -> str:
    """A vulnerability id as the data spells it: CVE ids upper case, GHSA ids `GHSA-` then lower case; any other
    advisory id as typed."""
    text = text.strip()
    if _CVE.match(text):
        return text.upper()
    if _GHSA.match(text):
        return "GHSA" + text[4:].lower()
    return text


def _line(row: Any) -> CatalogLine:
    return CatalogLine(*row)


def _severity_condition(level: str) -> ColumnElement[bool] | None:
    if level not in SEVERITIES:
        return None
    wanted = SEVERITIES[: SEVERITIES.index(level) + 1]
    return or_(*(SEVERITY_COLUMNS[word] > 0 for word in wanted))


def image_conditions(f: ImageFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.registry:
        conditions.append(ScanResult.registry_host == f.registry)
    if f.repository:
        conditions.append(ScanResult.repository.icontains(f.repository, autoescape=True))
    if f.os:
        conditions.append(ScanResult.os == f.os)
    severity = _severity_condition(f.min_severity)
    if severity is not None:
        conditions.append(severity)
    if f.fixable:
        conditions.append(ScanResult.fixable > 0)
    return conditions


def image_order(f: ImageFilter) -> list[Any]:
    columns = (*SORTS.get(f.sort, SORTS[DEFAULT_SORT]), ScanResult.id)
    return [c.desc() if f.descending else c.asc() for c in columns]


def list_statement(f: ImageFilter, offset: int = 0) -> Any:
    """The list's query (also what the index test EXPLAINs): the listed columns only, never the stored blobs."""
    return select(*LINE_COLUMNS).where(*image_conditions(f)).order_by(*image_order(f)).limit(f.size).offset(offset)


def finding_rank(f: Finding) -> tuple[int, float, str, str]:
    return (-SEVERITY_RANK.get(f.severity, 0), -(f.score or 0.0), f.id, f.package)


def _keeps_severity(level: str) -> Callable[[str], bool]:
    if level not in SEVERITIES:
        return lambda _severity: True
    floor = SEVERITY_RANK[level]
    return lambda severity: SEVERITY_RANK.get(severity, 0) >= floor


FINDING_COLUMNS = (
    ImageFinding.vuln_id,
    ImageFinding.package,
    ImageFinding.version,
    ImageFinding.ecosystem,
    ImageFinding.severity,
    ImageFinding.score,
    ImageFinding.fix_state,
    ImageFinding.fixed_versions,
)
IMAGE_COLUMNS = (
    ScanResult.image_digest,
    ScanResult.registry_host,
    ScanResult.repository,
    ScanResult.reference,
    ScanResult.os,
)


def _affected_page(kind: str, where: Any, size: int, offset: int) -> Any:
    """One page of a search's findings with their images.

    A package's findings come in its index's order (package, vuln_id, result_id): a page is read off the index
    without sorting them all. A vulnerability's rows (a few per affected image) are taken by its index first (a
    materialized CTE: otherwise PostgreSQL may walk every image in catalog order probing each one's findings,
    0.4 s instead of 15 ms at 10,000 images), then joined to their images and sorted in catalog order."""
    if kind == "package":
        return (
            select(*IMAGE_COLUMNS, *FINDING_COLUMNS)
            .join(ScanResult, ScanResult.id == ImageFinding.result_id)
            .where(where)
            .order_by(ImageFinding.vuln_id, ImageFinding.result_id, ImageFinding.id)
            .limit(size)
            .offset(offset)
        )
    matches = (
        select(ImageFinding.id, ImageFinding.result_id, *FINDING_COLUMNS)
        .where(where)
        .cte("matches")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        select(*IMAGE_COLUMNS, *(matches.c[column.key] for column in FINDING_COLUMNS))
        .join_from(matches, ScanResult, ScanResult.id == matches.c.result_id)
        .order_by(
            ScanResult.registry_host, ScanResult.repository, ScanResult.reference, matches.c.package, matches.c.id
        )
        .limit(size)
        .offset(offset)
    )


class ImageCatalog:
    def __init__(self, db: Database, visible: Principal | None = None) -> None:
        """``visible``: the principal whose scopes limit what is listed, counted, searched and shown (None: all)."""
        self.db = db
        self.visibility = Visibility(visible)

    # The list ---------------------------------------------------------------------------------------------------

    def images(self, f: ImageFilter) -> Page[CatalogLine]:
        with self.db.session() as session:
            scope = self.visibility.results(session)
            conditions = [*image_conditions(f), *scope]
            total = int(session.scalar(select(func.count()).select_from(ScanResult).where(*conditions)) or 0)
            page, offset = window(total, f.page, f.size)
            rows = session.execute(list_statement(f, offset).where(*scope)).all() if total else []
        return Page([_line(row) for row in rows], total, page, f.size)

    def facets(self) -> Facets:
        """The registries and OS names stored results have (each a DISTINCT over an index's leading column)."""
        with self.db.session() as session:
            scope = self.visibility.results(session)
            registries = session.scalars(
                select(ScanResult.registry_host)
                .where(*scope)
                .distinct()
                .order_by(ScanResult.registry_host)
                .limit(FACET_LIMIT)
            ).all()
            oses = session.scalars(
                select(ScanResult.os)
                .where(ScanResult.os != "", *scope)
                .distinct()
                .order_by(ScanResult.os)
                .limit(FACET_LIMIT)
            ).all()
        return Facets(list(registries), list(oses))

    # One image --------------------------------------------------------------------------------------------------

    def image(self, digest: str) -> StoredImage | None:
        with self.db.session() as session:
            row: Any = session.execute(
                select(*LINE_COLUMNS, ScanResult.details).where(
                    ScanResult.image_digest == digest, *self.visibility.results(session)
                )
            ).one_or_none()
        if row is None:
            return None
        return StoredImage(_line(row[:-1]), self._details(digest, row[-1]))

    @staticmethod
    def _details(digest: str, blob: bytes | None) -> ImageDetails | None:
        if blob is None:
            return None
        try:
            return details_from_json(_unpack(blob))
        except (ValueError, TypeError, zlib.error) as exc:  # a blob this version cannot read: shown as not stored
            log.warning("the stored details of %s cannot be read: %s", digest, exc)
            return None

    def _blob(self, digest: str, column: Any) -> Any | None:
        with self.db.session() as session:
            blob = session.scalar(select(column).where(ScanResult.image_digest == digest))
        return None if blob is None else _unpack(blob)

    def packages(self, digest: str, f: PackageFilter) -> tuple[Page[PackageLine], list[str]] | None:
        """One page of the image's packages (from its stored inventory) and the ecosystems it has."""
        data = self._blob(digest, ScanResult.inventory)
        if data is None:
            return None
        inventory = inventory_from_json(data)
        ecosystems = sorted({found.package.ecosystem for found in inventory.packages})
        text = f.text.strip().lower()
        lines = [
            PackageLine(
                found.package.name,
                found.package.version,
                found.package.ecosystem,
                found.package.licenses,
                found.package.location,
                found.package.purl,
                found.layer.index,
                found.layer.digest,
                dockerfile_line(found.layer.created_by) if found.layer.created_by else "",
            )
            for found in inventory.packages
            if (not text or text in found.package.name.lower())
            and (not f.ecosystem or found.package.ecosystem == f.ecosystem)
        ]
        return paged(lines, f.page, f.size), ecosystems

    def findings(self, digest: str, f: FindingFilter) -> Page[Finding] | None:
        """One page of the image's findings (from its stored findings), worst first."""
        data = self._blob(digest, ScanResult.findings)
        if data is None:
            return None
        keeps = _keeps_severity(f.min_severity)
        text = f.text.strip().lower()
        chosen = [
            finding
            for finding in (finding_from_json(item) for item in data)
            if keeps(finding.severity)
            and (not f.fixable or finding.fixed_versions)
            and (not text or text in finding.id.lower() or text in finding.package.lower())
        ]
        chosen.sort(key=finding_rank)
        return paged(chosen, f.page, f.size)

    def changes(self, digest: str, page: int = 1, size: int = 50) -> Page[ChangeLine]:
        """What changed in the image's findings, newest first (indexed by digest)."""
        where = FindingChange.image_digest == digest
        with self.db.session() as session:
            total = int(session.scalar(select(func.count()).select_from(FindingChange).where(where)) or 0)
            shown, offset = window(total, page, size)
            rows = session.execute(
                select(
                    FindingChange.finding_id,
                    FindingChange.package,
                    FindingChange.version,
                    FindingChange.change,
                    FindingChange.detail,
                    FindingChange.at,
                )
                .where(where)
                .order_by(FindingChange.id.desc())
                .limit(size)
                .offset(offset)
            ).all()
        return Page([ChangeLine(*row) for row in rows], total, shown, size)

    def report(self, digest: str) -> StoredReport | None:
        """The image's report as the scan made it, for the report and SBOM writers. Layers, history and config come
        from the stored details; an older result without them gets the listed facts only (no layers)."""
        with self.db.session() as session:
            row = session.execute(
                select(
                    ScanResult.registry_host,
                    ScanResult.repository,
                    ScanResult.reference,
                    ScanResult.platform,
                    ScanResult.index_digest,
                    ScanResult.inventory,
                    ScanResult.findings,
                    ScanResult.details,
                ).where(ScanResult.image_digest == digest, *self.visibility.results(session))
            ).one_or_none()
        if row is None:
            return None
        host, repository, reference, platform, index_digest, inventory, findings, details_blob = row
        details = self._details(digest, details_blob)
        stored = details is not None
        if details is None:
            details = ImageDetails(
                repository=repository,
                reference=reference,
                digest=digest,
                media_type="",
                index_digest=index_digest,
                platform=platform,
                config_digest="",
                created=None,
                total_size=0,
                layers=[],
            )
        report = ImageReport(
            details, inventory_from_json(_unpack(inventory)), AnalysisStats(layers=len(details.layers)), {}
        )
        return StoredReport(report, [finding_from_json(f) for f in _unpack(findings)], host, stored)

    # Search across images ---------------------------------------------------------------------------------------

    def vulnerability_ids(self, session: Session, query: str) -> list[str]:
        """The ids a vulnerability's findings may carry: the query as the data spells ids (CVE upper case, GHSA
        `GHSA-` then lower case, any other id as typed and in upper case), and, when the data has a record under
        it (an advisory id such as DSA-5600-1 or DEBIAN-CVE-…), that record's aliases (CVE first)."""
        typed = query.strip()
        normal = normalized_id(typed)
        ids = list(dict.fromkeys((normal, normal.upper()) if normal == typed else (normal,)))
        for aliases in session.scalars(select(VulnRecord.aliases).where(VulnRecord.id.in_(ids))):
            ids.extend(str(a) for a in aliases or () if str(a) not in ids)
        return ids

    def search(self, query: str, page: int = 1, size: int = DEFAULT_SIZE) -> Search:
        """A vulnerability id (CVE, GHSA or any advisory id) → every image it affects; otherwise a package name →
        its findings in every image. Each is an indexed lookup, counted once and read one page at a time."""
        query = query.strip()
        with self.db.session() as session:
            ids = self.vulnerability_ids(session, query)
            scope = self.visibility.findings(session)
            by_id = and_(ImageFinding.vuln_id.in_(ids), *scope)
            found = self._search(session, query, "vulnerability", ids, by_id, page, size)
            if found.results.total == 0:
                by_package = and_(ImageFinding.package == query, *scope)
                package = self._search(session, query, "package", [], by_package, page, size)
                if package.results.total:
                    return package
            if found.results.total:
                summary = session.scalar(
                    select(VulnRecord.summary).where(VulnRecord.id.in_(ids), VulnRecord.summary != "").limit(1)
                )
                return replace(found, summary=summary or "")
        return Search(query, "none", ids, Page([], 0, 1, size), 0, 0, "", [])

    @staticmethod
    def _search(session: Session, query: str, kind: str, ids: list[str], where: Any, page: int, size: int) -> Search:
        rank = case(SEVERITY_RANK, value=ImageFinding.severity, else_=0)
        total, images, vulnerabilities, worst = session.execute(
            select(
                func.count(),
                func.count(func.distinct(ImageFinding.result_id)),
                func.count(func.distinct(ImageFinding.vuln_id)),
                func.max(rank),
            ).where(where)
        ).one()
        total = int(total or 0)
        shown, offset = window(total, page, size)
        if not total:
            return Search(query, kind, ids, Page([], 0, shown, size), 0, 0, "", [])
        fixed = session.scalars(
            select(ImageFinding.fixed_versions)
            .where(where, ImageFinding.fixed_versions != "")
            .distinct()
            .order_by(ImageFinding.fixed_versions)
            .limit(FIXED_IN_LIMIT)
        ).all()
        rows = _affected_page(kind, where, size, offset)
        found: Sequence[Any] = session.execute(rows).all()
        by_rank = {value: word for word, value in SEVERITY_RANK.items()}
        return Search(
            query,
            kind,
            ids,
            Page([AffectedLine(*row) for row in found], total, shown, size),
            int(images or 0),
            int(vulnerabilities or 0),
            by_rank.get(int(worst or 0), "UNKNOWN"),
            sorted({v.strip() for text in fixed for v in text.split(",") if v.strip()}),
        )
