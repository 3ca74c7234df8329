"""The images and vulnerabilities pages in a real browser, on images scanned through the CLI: the list filtered with
the filter in the URL, the Debian image's sections (its dpkg finding with the fixed-in version), the SBOMs
downloaded and validated, and the search by CVE id and by package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.harness.validators import cyclonedx_problems, spdx_problems

from .conftest import READER_PASSWORD, Console, check_page

DPKG_CVE = "CVE-2099-0"  # write_debian_records numbers the sources in order: dpkg first, the only one with a fix


@pytest.fixture(scope="module")
def scanned(console: Console) -> Console:
    """The Debian image and one of the tool images scanned with `regscout image` (which stores the results)."""
    added = console.cli.run(
        "registry",
        "add",
        "--name",
        "lab",
        "--type",
        "docker-registry",
        "--url",
        console.registry.url,
        "--username",
        "reader",
        "--password-stdin",
        stdin=READER_PASSWORD + "\n",
        check_code=None,
    )
    if added.returncode != 0:  # another module of the session may have added it already
        assert "lab" in console.cli.run("registry", "list").stdout, added.stderr
    for image in ("library/debian:12", "team/tool:1.0"):
        console.cli.run("image", f"{console.registry.host}/{image}", "--registry", "lab")
    return console


def fixed_version(console: Console) -> str:
    return console.versions["dpkg"] + "+fix1"


def test_the_image_list_filters_with_the_filter_in_the_url(page: Page, scanned: Console) -> None:
    page.goto(f"{scanned.url}/images")
    expect(page.get_by_role("heading", name="Images", level=1)).to_be_visible()
    table = page.get_by_role("table", name=re.compile("Scanned images"))
    expect(table.get_by_role("link", name="library/debian")).to_be_visible()
    expect(table.get_by_role("link", name="team/tool")).to_be_visible()
    check_page(page, "images")

    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Minimum severity").select_option("critical")
    expect(page).to_have_url(re.compile(r"/images\?.*severity=critical"))
    assert page.evaluate("window.stillTheSamePage") is True  # htmx swapped the table; the page did not reload
    expect(table.get_by_role("link", name="team/tool")).to_have_count(0)
    debian_row = table.get_by_role("row").filter(has=page.get_by_role("link", name="library/debian"))
    expect(debian_row).to_contain_text(re.compile(r"Critical \d+"))
    expect(page.get_by_role("status")).to_contain_text("matching the filters")

    # a sort header keeps the filter, and the URL is a bookmark of both
    table.get_by_role("link", name="Repository").click()
    expect(page).to_have_url(re.compile(r"severity=critical.*sort=repository&dir=asc"))
    expect(page.get_by_role("columnheader", name="Repository")).to_have_attribute("aria-sort", "ascending")
    bookmark = page.url
    page.goto(bookmark)
    expect(page.get_by_label("Minimum severity")).to_have_value("critical")
    expect(table.get_by_role("link", name="team/tool")).to_have_count(0)
    check_page(page, "images-filtered")

    # nonsense in the query string is ignored, not an error
    page.goto(f"{scanned.url}/images?severity=bogus&sort=nothing&page=-4&size=3")
    expect(table.get_by_role("link", name="team/tool")).to_be_visible()


def test_the_debian_image_shows_its_sections(page: Page, scanned: Console) -> None:
    page.goto(f"{scanned.url}/images")
    page.get_by_role("link", name="library/debian").click()
    expect(page).to_have_url(f"{scanned.url}/images/{scanned.debian_digest}")
    expect(page.get_by_role("heading", name="library/debian:12", level=1)).to_be_visible()
    expect(page.get_by_text("Debian GNU/Linux 12 (bookworm)").first).to_be_visible()
    check_page(page, "image-overview")

    sections = page.get_by_role("navigation", name="Image sections")
    sections.get_by_role("link", name=re.compile("^Vulnerabilities")).click()
    expect(sections.get_by_role("link", name=re.compile("^Vulnerabilities"))).to_have_attribute("aria-current", "page")
    findings = page.get_by_role("table", name=re.compile("Vulnerabilities"))
    dpkg = findings.get_by_role("row").filter(has=page.get_by_role("link", name=DPKG_CVE))
    expect(dpkg).to_contain_text("Critical")  # the badge says the severity in words
    expect(dpkg).to_contain_text("9.8")
    expect(dpkg).to_contain_text("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    expect(dpkg).to_contain_text(fixed_version(scanned))
    expect(dpkg).to_contain_text(scanned.versions["dpkg"])
    expect(dpkg).to_contain_text("ADD rootfs.tar /")  # the layer that brought it
    check_page(page, "image-vulnerabilities")

    page.get_by_label("Only with a fix").check()
    expect(page).to_have_url(re.compile("fixable=1"))
    expect(findings.get_by_role("row")).to_have_count(2)  # the header and dpkg's finding
    expect(findings).to_contain_text(DPKG_CVE)

    sections.get_by_role("link", name="Layers and history").click()
    expect(page.locator("pre.dockerfile")).to_have_text(
        re.compile(r"^ADD rootfs\.tar / # mmdebstrap --variant=minbase")
    )
    expect(page.get_by_role("table", name=re.compile("Layers"))).to_contain_text("sha256:")
    check_page(page, "image-layers")

    sections.get_by_role("link", name=re.compile("^Packages")).click()
    page.get_by_label("Name contains").fill("dpkg")
    expect(page).to_have_url(re.compile("q=dpkg"))
    packages = page.get_by_role("table", name="Packages")
    row = packages.get_by_role("row").filter(has=page.get_by_role("cell", name="dpkg", exact=True))
    expect(row).to_contain_text(scanned.versions["dpkg"])
    expect(row).to_contain_text("deb")
    check_page(page, "image-packages")

    sections.get_by_role("link", name="Changes").click()
    expect(page.get_by_role("heading", name="Changes", level=2)).to_be_visible()
    check_page(page, "image-changes")


def test_the_sboms_download_and_validate(page: Page, scanned: Console, tmp_path: Path) -> None:
    page.goto(f"{scanned.url}/images/{scanned.debian_digest}?tab=downloads")
    check_page(page, "image-downloads")
    documents = {}
    for name, label in (("cyclonedx", "CycloneDX"), ("spdx", "SPDX"), ("csv", "CSV")):
        with page.expect_download() as started:
            page.get_by_role("link", name=re.compile(label)).click()
        target = tmp_path / started.value.suggested_filename
        started.value.save_as(target)
        documents[name] = target.read_text()
    assert cyclonedx_problems(documents["cyclonedx"]) == []
    cyclonedx = json.loads(documents["cyclonedx"])
    assert {v["id"] for v in cyclonedx["vulnerabilities"]} == {"CVE-2099-0", "CVE-2099-1", "CVE-2099-2"}
    assert "dpkg" in {c["name"] for c in cyclonedx["components"]}
    assert spdx_problems(documents["spdx"]) == []
    assert "dpkg" in {p["name"] for p in json.loads(documents["spdx"])["packages"]}
    assert DPKG_CVE in documents["csv"] and fixed_version(scanned) in documents["csv"]

    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=scanned.url, cookies=cookies) as client:
        for fmt, media in (("sarif", "application/sarif+json"), ("json", "application/json")):
            response = client.get(f"/images/{scanned.debian_digest}/download/{fmt}")
            assert response.status_code == 200 and response.headers["content-type"].startswith(media)
            assert "attachment" in response.headers["content-disposition"]
            assert DPKG_CVE in response.text
        assert client.get(f"/images/{scanned.debian_digest}/download/pdf").status_code == 404
        assert client.get("/images/sha256:" + "0" * 64).status_code == 404
    with httpx.Client(base_url=scanned.url) as anonymous:  # downloads need a session too
        refused = anonymous.get(f"/images/{scanned.debian_digest}/download/cyclonedx", follow_redirects=False)
        assert refused.status_code == 303 and "/login" in refused.headers["location"]


def test_search_by_cve_and_by_package(page: Page, scanned: Console) -> None:
    page.goto(f"{scanned.url}/vulnerabilities")
    expect(page.get_by_role("heading", name="Vulnerabilities", level=1)).to_be_visible()
    check_page(page, "vulnerabilities-empty")
    page.get_by_label("CVE, GHSA or advisory id, or package name").fill(DPKG_CVE.lower())
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(f"q={DPKG_CVE.lower()}"))
    expect(page.get_by_role("heading", name=DPKG_CVE, level=2)).to_be_visible()
    affected = page.get_by_role("table", name=re.compile("Images affected"))
    row = affected.get_by_role("row").filter(has=page.get_by_role("link", name="library/debian:12"))
    expect(row).to_contain_text("dpkg")
    expect(row).to_contain_text(scanned.versions["dpkg"])
    expect(row).to_contain_text(fixed_version(scanned))
    expect(page.locator(".facts")).to_contain_text(fixed_version(scanned))
    check_page(page, "vulnerabilities")

    # the advisory id the data has finds the same findings
    page.goto(f"{scanned.url}/vulnerabilities?q=DEBIAN-{DPKG_CVE}")
    expect(affected.get_by_role("link", name="library/debian:12")).to_be_visible()

    # a package by its (binary) name: glibc's libc6
    page.goto(f"{scanned.url}/vulnerabilities?q=libc6")
    expect(page.get_by_role("heading", name="Package libc6", level=2)).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Findings of package"))).to_contain_text("CVE-2099-2")
    check_page(page, "vulnerabilities-package")

    page.get_by_role("link", name="library/debian:12").first.click()
    expect(page).to_have_url(re.compile(re.escape(f"/images/{scanned.debian_digest}?tab=vulnerabilities")))
