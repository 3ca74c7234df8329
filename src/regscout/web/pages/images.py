"""The console's images: the list (filtered, sorted and paged by the database, each state a bookmarkable URL), one
image's overview, layers and history, packages, vulnerabilities and changes, and its reports to download."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...analysis.details import dockerfile_line
from ...services.image_catalog import (
    DEFAULT_SIZE,
    DEFAULT_SORT,
    DESCENDING_FIRST,
    PAGE_SIZES,
    SEVERITIES,
    SORTS,
    FindingFilter,
    ImageCatalog,
    ImageFilter,
    PackageFilter,
)
from ...services.users import SessionUser
from ...vulndb.matcher import Finding
from ..auth import User, principal_of, runtime_of
from ..templating import SECURITY_HEADERS, render

router = APIRouter()

MAX_TEXT = 200  # longest free-text filter kept; longer input is cut, never an error
MAX_PAGE = 1_000_000
TABS = (
    ("overview", "Overview"),
    ("layers", "Layers and history"),
    ("packages", "Packages"),
    ("vulnerabilities", "Vulnerabilities"),
    ("changes", "Changes"),
    ("policies", "Policies"),
    ("downloads", "Downloads"),
)
TAB_NAMES = frozenset(name for name, _ in TABS)
DETAIL_PAGE_SIZE = 100
CHANGES_PAGE_SIZE = 50
# An image digest as the registry gives it (algorithm:hex); anything else is not a stored image.
DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,128}$")
TRUE = frozenset({"1", "true", "on", "yes"})


@dataclass(frozen=True)
class Download:
    name: str
    label: str
    media_type: str
    suffix: str


DOWNLOADS = {
    d.name: d
    for d in (
        Download("cyclonedx", "CycloneDX 1.6 SBOM with vulnerabilities", "application/vnd.cyclonedx+json", "cdx.json"),
        Download("spdx", "SPDX 2.3 SBOM", "application/spdx+json", "spdx.json"),
        Download("sarif", "SARIF 2.1.0", "application/sarif+json", "sarif.json"),
        Download("json", "regscout JSON report", "application/json", "json"),
        Download("csv", "Findings as CSV", "text/csv; charset=utf-8", "csv"),
    )
}

# Parsing what a query string says: anything invalid is ignored (the default applies), never an error.


def text_param(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "").strip()[:MAX_TEXT]


def int_param(params: Mapping[str, str], name: str, default: int, maximum: int = MAX_PAGE) -> int:
    raw = (params.get(name) or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        return default
    return max(1, min(int(raw), maximum))


def severity_param(params: Mapping[str, str], name: str = "severity") -> str:
    word = (params.get(name) or "").strip().upper()
    return word if word in SEVERITIES else ""


def flag_param(params: Mapping[str, str], name: str) -> bool:
    return (params.get(name) or "").strip().lower() in TRUE


def size_param(params: Mapping[str, str], default: int = DEFAULT_SIZE) -> int:
    size = int_param(params, "size", default)
    return size if size in PAGE_SIZES else default


def parse_image_filter(params: Mapping[str, str]) -> ImageFilter:
    """The list's filter, sort and page from its query string."""
    sort = (params.get("sort") or "").strip().lower()
    if sort not in SORTS:
        sort = DEFAULT_SORT
    direction = (params.get("dir") or "").strip().lower()
    descending = direction == "desc" if direction in ("asc", "desc") else sort in DESCENDING_FIRST
    return ImageFilter(
        registry=text_param(params, "registry"),
        repository=text_param(params, "repository"),
        os=text_param(params, "os"),
        min_severity=severity_param(params),
        fixable=flag_param(params, "fixable"),
        sort=sort,
        descending=descending,
        page=int_param(params, "page", 1),
        size=size_param(params),
    )


def filter_params(f: ImageFilter) -> dict[str, str]:
    """The query string that shows `f` (defaults left out, so URLs stay short and bookmarks stay valid)."""
    params = {
        "registry": f.registry,
        "repository": f.repository,
        "os": f.os,
        "severity": f.min_severity.lower(),
        "fixable": "1" if f.fixable else "",
    }
    if f.sort != DEFAULT_SORT or f.descending != (f.sort in DESCENDING_FIRST):
        params["sort"] = f.sort
        params["dir"] = "desc" if f.descending else "asc"
    if f.size != DEFAULT_SIZE:
        params["size"] = str(f.size)
    if f.page > 1:
        params["page"] = str(f.page)
    return {k: v for k, v in params.items() if v}


def sort_link(f: ImageFilter, key: str) -> dict[str, Any]:
    """The query changes a column header links to: this column in its first direction, or the other way round
    when it is already the sort; back to the first page."""
    descending = not f.descending if f.sort == key else key in DESCENDING_FIRST
    return {"sort": key, "dir": "desc" if descending else "asc", "page": None}


def parse_package_filter(params: Mapping[str, str]) -> PackageFilter:
    return PackageFilter(
        text=text_param(params, "q"),
        ecosystem=text_param(params, "ecosystem"),
        page=int_param(params, "page", 1),
        size=DETAIL_PAGE_SIZE,
    )


def parse_finding_filter(params: Mapping[str, str]) -> FindingFilter:
    return FindingFilter(
        text=text_param(params, "q"),
        min_severity=severity_param(params),
        fixable=flag_param(params, "fixable"),
        page=int_param(params, "page", 1),
        size=DETAIL_PAGE_SIZE,
    )


# The CSV download ------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "image",
    "vulnerability",
    "severity",
    "cvss_score",
    "cvss_vector",
    "package",
    "installed_version",
    "ecosystem",
    "fixed_versions",
    "fix_state",
    "layer_index",
    "layer_digest",
    "location",
    "purl",
    "advisories",
    "links",
    "summary",
)
# A cell a spreadsheet would run as a formula starts with one of these: it gets a leading apostrophe (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def findings_csv(image: str, findings: list[Finding]) -> str:
    """One row per finding, RFC 4180 quoting, CRLF line ends; no cell can be taken for a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in findings:
        writer.writerow(
            csv_cell(v)
            for v in (
                image,
                f.id,
                f.severity,
                "" if f.score is None else f"{f.score:.1f}",
                f.vector or "",
                f.package,
                f.version,
                f.ecosystem,
                " ".join(f.fixed_versions),
                f.fix_state,
                f.layer_index,
                f.layer_digest,
                f.location,
                f.purl,
                " ".join(f.advisories),
                " ".join(f.links),
                f.summary,
            )
        )
    return out.getvalue()


def download_name(repository: str, digest: str, suffix: str) -> str:
    """`debian-sha256_1a2b3c4d5e6f.cdx.json`: the repository's last part and the digest's start, safe characters."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", repository.rsplit("/", 1)[-1])[:60] or "image"
    algorithm, _, value = digest.partition(":")
    return f"{base}-{algorithm}_{value[:12]}.{suffix}"


# Routes -----------------------------------------------------------------------------------------------------------


def catalog_of(request: Request, user: SessionUser) -> ImageCatalog:
    """The stored images the signed-in user's scopes let it see."""
    return ImageCatalog(runtime_of(request).db, principal_of(request, user))


def fragment_for(request: Request, target: str) -> bool:
    """An htmx request that swaps only `target` (a history restore wants the whole page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-target") == target
        and headers.get("hx-history-restore-request") != "true"
    )


def not_found(request: Request, user: Any, digest: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        user,
        section="images",
        status_code=404,
        title="Image not found",
        message=f"No scan result is stored for {digest[:140]}.",
    )


@router.get("/images", response_class=HTMLResponse, include_in_schema=False)
def image_list(request: Request, user: User) -> HTMLResponse:
    f = parse_image_filter(request.query_params)
    catalog = catalog_of(request, user)
    listed = catalog.images(f)
    shown = replace(f, page=listed.page)
    context: dict[str, Any] = {
        "filter": shown,
        "params": filter_params(shown),
        "listed": listed,
        "filtered": bool(f.registry or f.repository or f.os or f.min_severity or f.fixable),
        "sort_link": sort_link,
        "page_sizes": PAGE_SIZES,
        "severity_words": SEVERITIES,
    }
    if fragment_for(request, "image-results"):
        return render(request, "images/_results.html", user, section="images", **context)
    return render(request, "images/list.html", user, section="images", facets=catalog.facets(), **context)


@router.get("/images/{digest}", response_class=HTMLResponse, include_in_schema=False)
def image_detail(request: Request, user: User, digest: str) -> HTMLResponse:
    if not DIGEST.match(digest):
        return not_found(request, user, digest)
    catalog = catalog_of(request, user)
    stored = catalog.image(digest)
    if stored is None:
        return not_found(request, user, digest)
    params = request.query_params
    tab = params.get("tab", "overview")
    tab = tab if tab in TAB_NAMES else "overview"
    context: dict[str, Any] = {
        "image": stored,
        "line": stored.line,
        "details": stored.details,
        "tab": tab,
        "tabs": TABS,
        "downloads": DOWNLOADS.values(),
        "severity_words": SEVERITIES,
        "instruction": dockerfile_line,
        "title": f"{stored.line.repository}:{stored.line.reference}",
    }
    if tab == "packages":
        package_filter = parse_package_filter(params)
        packages = catalog.packages(digest, package_filter)
        if packages is None:
            return not_found(request, user, digest)
        listed, ecosystems = packages
        context.update(
            packages=listed,
            ecosystems=ecosystems,
            package_filter=package_filter,
            params={"tab": tab, "q": package_filter.text, "ecosystem": package_filter.ecosystem},
        )
    elif tab == "vulnerabilities":
        finding_filter = parse_finding_filter(params)
        findings = catalog.findings(digest, finding_filter)
        if findings is None:
            return not_found(request, user, digest)
        context.update(
            findings=findings,
            finding_filter=finding_filter,
            params={
                "tab": tab,
                "q": finding_filter.text,
                "severity": finding_filter.min_severity.lower(),
                "fixable": "1" if finding_filter.fixable else "",
            },
        )
    elif tab == "policies":
        stored_report = catalog.report(digest)
        if stored_report is None:
            return not_found(request, user, digest)
        line = stored.line
        context.update(
            check=runtime_of(request).check.evaluate(
                f"{line.registry}/{line.repository}@{digest}",
                registry_host=line.registry,
                tag="" if ":" in line.reference else line.reference,
                report=stored_report.report,
                findings=stored_report.findings,
                scanned_at=line.analyzed_at,
            ),
            params={"tab": tab},
        )
    elif tab == "changes":
        context.update(
            changes=catalog.changes(digest, int_param(params, "page", 1), CHANGES_PAGE_SIZE), params={"tab": tab}
        )
    else:
        context["params"] = {"tab": tab}
    if fragment_for(request, "tab-results"):
        return render(request, f"images/_{tab}.html", user, section="images", **context)
    return render(request, "images/detail.html", user, section="images", **context)


@router.get("/images/{digest}/download/{fmt}", include_in_schema=False)
def image_download(request: Request, user: User, digest: str, fmt: str) -> Response:
    chosen = DOWNLOADS.get(fmt)
    if chosen is None or not DIGEST.match(digest):
        return not_found(request, user, digest)
    stored = catalog_of(request, user).report(digest)
    if stored is None:
        return not_found(request, user, digest)
    report, findings, host = stored.report, stored.findings, stored.registry_host
    image = f"{host}/{report.details.repository}@{report.details.digest}"
    from ...report.formats import DOCUMENT_WRITERS  # the writers' libraries load only when a report is asked for
    from ...report.writer import ReportError, rendered

    try:
        if fmt == "csv":
            text = rendered(image, fmt, lambda: findings_csv(image, findings))
        else:
            text = rendered(image, fmt, lambda: DOCUMENT_WRITERS[fmt](report, findings, host) + "\n")
    except ReportError as exc:
        return render(
            request, "error.html", user, section="images", status_code=500, title="Report failed", message=str(exc)
        )
    filename = download_name(report.details.repository, digest, chosen.suffix)
    return Response(
        text.encode(),
        media_type=chosen.media_type,
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
