"""Policies and accepted risks in a real browser, on a console of its own: the shipped policies added, a block
policy written as a document, the verdict in the images list and on the image's Policies tab, a document with an
error refused with the error shown, and a risk accepted and revoked from the accepted-risks page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.integration.cli_support import wait_until

from .conftest import READER_PASSWORD, Console, check_page, own_console, sign_in

DPKG_CVE = "CVE-2099-0"  # write_debian_records numbers the sources in order: dpkg first
BLOCK = f"""policies:
  - name: no dpkg cve
    action: block
    criteria: {{cve_ids: [{DPKG_CVE}]}}
"""


@pytest.fixture(scope="module")
def scanned(console: Console, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    own = own_console(console, tmp_path_factory.mktemp("policies") / "home")
    own.cli.run(
        "registry", "add", "--name", "lab", "--type", "docker-registry", "--url", own.registry.url,
        "--username", "reader", "--password-stdin", stdin=READER_PASSWORD + "\n",
    )  # fmt: skip
    own.cli.run("image", f"{own.registry.host}/library/debian:12", "--registry", "lab")
    yield own
    own.server.stop()


@pytest.fixture
def signed_in(anonymous_page: Page, scanned: Console) -> Page:
    sign_in(anonymous_page, scanned)
    return anonymous_page


def _verdict_shown(page: Page, url: str, selector: str, value: str) -> None:
    """The verdict is re-evaluated in the background after a change: reload until the page shows it."""

    def shown() -> bool:
        page.goto(url)
        return page.locator(selector).first.get_attribute("data-verdict") == value

    wait_until(shown, 30, lambda: f"{url} never showed the verdict {value}")


def test_policies_verdicts_and_accepted_risks(
    signed_in: Page, scanned: Console, browser: Browser, tmp_path: Path
) -> None:
    page, url = signed_in, scanned.url
    page.goto(f"{url}/policies")
    expect(page.get_by_role("heading", name="Policies", level=1)).to_be_visible()
    page.get_by_role("button", name="Add the shipped policies").click()
    expect(page.locator("tr[data-policy]")).to_have_count(3)
    expect(page.locator('tr[data-policy="critical fixable"] td').first).to_have_text("no")

    page.get_by_label("Policy document").fill("policies:\n  - name: broken\n    criteria: {cvss: 12}\n")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("cvss")
    expect(page.locator("tr[data-policy]")).to_have_count(3)  # nothing saved

    page.get_by_label("Policy document").fill(BLOCK)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    _verdict_shown(page, f"{url}/images", "td[data-verdict]", "fail")
    check_page(page, "images-with-verdicts")

    page.goto(f"{url}/images/{scanned.debian_digest}?tab=policies")
    failing = page.locator('details[data-policy="no dpkg cve"]')
    expect(failing).to_have_attribute("data-outcome", "fail")
    expect(failing).to_contain_text(DPKG_CVE)
    check_page(page, "image-policies")

    page.goto(f"{url}/policies")
    expect(page.locator('tr[data-policy="no dpkg cve"] td[data-outcome="fail"]')).to_have_text("1")
    check_page(page, "policies")

    page.goto(f"{url}/acceptances")
    page.get_by_label("Vulnerability").fill(DPKG_CVE)
    page.get_by_label("For").select_option("everywhere")
    page.get_by_label("Reason").fill("dpkg is not run in production")
    page.get_by_role("button", name="Accept", exact=True).click()
    expect(page.locator("tr[data-acceptance]")).to_have_attribute("data-state", "active")
    check_page(page, "acceptances")
    _verdict_shown(page, f"{url}/images", "td[data-verdict]", "pass")
    expect(page.locator("td[data-verdict]").first).to_contain_text("1 accepted")

    page.goto(f"{url}/acceptances")
    page.get_by_role("button", name="Revoke acceptance 1").click()
    expect(page.locator("tr[data-acceptance]")).to_have_attribute("data-state", "revoked")
    _verdict_shown(page, f"{url}/images", "td[data-verdict]", "fail")
