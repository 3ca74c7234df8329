"""The image pages' view helpers: what a query string says (anything invalid ignored, never an error), the links
they make, the CSV download, and the vulnerability id spellings the search accepts."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.services.image_catalog import ImageFilter, Page, normalized_id, paged, window
from regscout.vulndb.matcher import Finding
from regscout.web.pages.images import (
    CSV_COLUMNS,
    DIGEST,
    csv_cell,
    download_name,
    filter_params,
    findings_csv,
    parse_finding_filter,
    parse_image_filter,
    parse_package_filter,
    sort_link,
)


def finding(**changes: object) -> Finding:
    values: dict[str, object] = {
        "id": "CVE-2099-0",
        "advisories": ("DEBIAN-CVE-2099-0",),
        "aliases": ("CVE-2099-0",),
        "package": "dpkg",
        "version": "1.21.22",
        "ecosystem": "deb",
        "purl": "pkg:deb/debian/dpkg@1.21.22?distro=debian-12",
        "lookup_ecosystem": "Debian:12",
        "source_package": "dpkg",
        "fixed_versions": ("1.21.22+fix1",),
        "fix_state": "fixed",
        "severity": "CRITICAL",
        "score": 9.8,
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "severity_source": "cvss_v3",
        "cwe_ids": (),
        "summary": 'dpkg, a summary with, commas and "quotes"\nand a new line',
        "links": ("https://security-tracker.debian.org/tracker/CVE-2099-0",),
        "layer_index": 0,
        "layer_digest": "sha256:" + "1" * 64,
        "layer_diff_id": "sha256:" + "2" * 64,
        "layer_created_by": "ADD rootfs.tar /",
        "location": "var/lib/dpkg/status",
    }
    values.update(changes)
    return Finding(**values)  # type: ignore[arg-type]


def test_an_empty_query_string_is_the_default_list() -> None:
    f = parse_image_filter({})
    assert f == ImageFilter()
    assert (f.sort, f.descending, f.page, f.size) == ("severity", True, 1, 50)
    assert filter_params(f) == {}


def test_a_full_query_string_round_trips() -> None:
    params = {
        "registry": "registry.example:5000",
        "repository": "team/",
        "os": "Debian GNU/Linux 12 (bookworm)",
        "severity": "high",
        "fixable": "1",
        "sort": "repository",
        "dir": "desc",
        "size": "100",
        "page": "3",
    }
    f = parse_image_filter(params)
    assert (f.registry, f.repository, f.os, f.min_severity, f.fixable) == (
        "registry.example:5000",
        "team/",
        "Debian GNU/Linux 12 (bookworm)",
        "HIGH",
        True,
    )
    assert (f.sort, f.descending, f.size, f.page) == ("repository", True, 100, 3)
    assert filter_params(f) == params
    assert parse_image_filter(filter_params(f)) == f


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "password; DROP TABLE"}, ImageFilter()),
        ({"sort": "Repository"}, ImageFilter(sort="repository", descending=False)),  # any case
        ({"sort": "scanned"}, ImageFilter(sort="scanned", descending=True)),  # each sort's first direction
        ({"dir": "sideways"}, ImageFilter()),
        ({"dir": "ASC"}, ImageFilter(descending=False)),
        ({"page": "-3"}, ImageFilter()),
        ({"page": "0"}, ImageFilter()),
        ({"page": "1e9"}, ImageFilter()),
        ({"page": "99999999999999999999"}, ImageFilter()),
        ({"page": "７"}, ImageFilter()),  # a digit, but not an ASCII one
        ({"size": "7"}, ImageFilter()),  # only the offered sizes
        ({"size": "100000"}, ImageFilter()),
        ({"size": "25"}, ImageFilter(size=25)),
        ({"severity": "catastrophic"}, ImageFilter()),
        ({"severity": "unknown"}, ImageFilter()),  # not a minimum one can ask for
        ({"severity": " Critical "}, ImageFilter(min_severity="CRITICAL")),
        ({"fixable": "no"}, ImageFilter()),
        ({"fixable": "on"}, ImageFilter(fixable=True)),
        ({"repository": "  spaced  "}, ImageFilter(repository="spaced")),
    ],
)
def test_invalid_values_are_ignored(params: dict[str, str], expected: ImageFilter) -> None:
    assert parse_image_filter(params) == expected


def test_long_text_is_cut() -> None:
    assert len(parse_image_filter({"repository": "x" * 5000}).repository) == 200


@given(
    st.dictionaries(
        st.sampled_from(
            ["registry", "repository", "os", "severity", "fixable", "sort", "dir", "size", "page", "other"]
        ),
        st.text(max_size=40),
    )
)
def test_no_query_string_breaks_the_parser(params: dict[str, str]) -> None:
    f = parse_image_filter(params)
    assert f.page >= 1 and f.size in (25, 50, 100, 200) and f.min_severity in ("", "CRITICAL", "HIGH", "MEDIUM", "LOW")
    assert parse_image_filter(filter_params(f)) == f


def test_sort_links_toggle_the_current_column_and_start_each_other_one_its_own_way() -> None:
    by_severity = ImageFilter()
    assert sort_link(by_severity, "severity") == {"sort": "severity", "dir": "asc", "page": None}
    assert sort_link(by_severity, "repository") == {"sort": "repository", "dir": "asc", "page": None}
    assert sort_link(by_severity, "scanned") == {"sort": "scanned", "dir": "desc", "page": None}
    assert sort_link(ImageFilter(sort="repository", descending=False), "repository")["dir"] == "desc"


def test_the_detail_filters() -> None:
    packages = parse_package_filter({"q": " ssl ", "ecosystem": "deb", "page": "x"})
    assert (packages.text, packages.ecosystem, packages.page) == ("ssl", "deb", 1)
    findings = parse_finding_filter({"severity": "medium", "fixable": "true", "page": "2", "q": "CVE"})
    assert (findings.min_severity, findings.fixable, findings.page, findings.text) == ("MEDIUM", True, 2, "CVE")
    assert parse_finding_filter({"severity": "<script>"}).min_severity == ""


def test_pages_and_windows() -> None:
    assert window(0, 5, 50) == (1, 0)
    assert window(120, 3, 50) == (3, 100)
    assert window(120, 4, 50) == (3, 100)  # past the end: the last page
    page = paged(list(range(120)), 3, 50)
    assert (page.items, page.pages, page.first, page.last) == (list(range(100, 120)), 3, 101, 120)
    empty: Page[int] = paged([], 1, 50)
    assert (empty.pages, empty.first, empty.last) == (1, 0, 0)


def test_the_csv_has_a_header_and_one_quoted_row_per_finding() -> None:
    text = findings_csv("registry.example/library/debian@sha256:abc", [finding(), finding(id="CVE-2099-1", score=None)])
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_COLUMNS)
    first = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert first["vulnerability"] == "CVE-2099-0" and first["fixed_versions"] == "1.21.22+fix1"
    assert first["cvss_score"] == "9.8" and first["summary"] == finding().summary  # commas, quotes, new line kept
    assert first["layer_index"] == "0"
    assert dict(zip(CSV_COLUMNS, rows[2], strict=True))["cvss_score"] == ""
    assert len(rows) == 3


def test_no_csv_cell_is_a_formula() -> None:
    assert csv_cell('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    assert csv_cell("+1") == "'+1" and csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("-2") == "'-2"
    assert csv_cell("1.0-1") == "1.0-1" and csv_cell(None) == "" and csv_cell(3) == "3"
    rows = list(csv.reader(io.StringIO(findings_csv("image", [finding(summary="=cmd|' /C calc'!A0")]))))
    assert rows[1][CSV_COLUMNS.index("summary")].startswith("'=")


def test_download_names_are_safe() -> None:
    assert download_name("library/debian", "sha256:" + "a" * 64, "cdx.json") == "debian-sha256_aaaaaaaaaaaa.cdx.json"
    assert download_name('x/"; evil\r\n', "sha256:" + "b" * 64, "csv") == "_evil_-sha256_bbbbbbbbbbbb.csv"


@pytest.mark.parametrize(
    ("digest", "valid"),
    [
        ("sha256:" + "a" * 64, True),
        ("sha512:" + "0" * 128, True),
        ("sha256:short", False),
        ("../../etc/passwd", False),
        ("sha256:" + "a" * 64 + "/x", False),
        ("", False),
    ],
)
def test_digests(digest: str, valid: bool) -> None:
    assert bool(DIGEST.match(digest)) is valid


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("cve-2024-3094", "CVE-2024-3094"),
        (" CVE-2099-0 ", "CVE-2099-0"),
        ("ghsa-JFH8-C2JP-5V3Q", "GHSA-jfh8-c2jp-5v3q"),
        ("DSA-5600-1", "DSA-5600-1"),
        ("openssl", "openssl"),
    ],
)
def test_vulnerability_ids_are_spelled_as_the_data_spells_them(typed: str, normal: str) -> None:
    assert normalized_id(typed) == normal
