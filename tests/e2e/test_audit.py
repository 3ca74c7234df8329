"""The audit log page in a real browser: a change made through the API shows with who made it and from where, the
filters narrow it, and the download link carries them."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import Page, expect

from .conftest import Console, check_page

TOKEN = "audit-e2e-token"


def test_the_page_lists_a_change_made_through_the_api_and_filters_it(page: Page, console: Console) -> None:
    headers = {"Authorization": f"Bearer {console.server.admin_token}"}
    with httpx.Client(base_url=console.url, headers=headers) as api:
        made = api.post("/api/v1/tokens", json={"name": TOKEN})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        assert api.delete(f"/api/v1/tokens/{TOKEN}").status_code == 200

    page.goto(f"{console.url}/audit")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Audit")).to_have_attribute("aria-current", "page")
    created = page.locator('tr[data-action="token.create"]', has_text=TOKEN)
    expect(created).to_have_count(1)
    expect(created).to_contain_text("admin (token)")  # the bootstrap token made it...
    expect(created).to_contain_text("127.0.0.1")  # ...from the browser's machine
    expect(created).to_contain_text("role: — → admin")
    expect(page.locator('tr[data-action="token.revoke"]', has_text=TOKEN)).to_have_count(1)
    assert secret not in page.content()
    check_page(page, "audit")

    page.get_by_label("Action").fill("token.revoke")
    page.get_by_label("Target").fill(TOKEN)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{console.url}/audit?actor=&action=token.revoke&target={TOKEN}&since=&until=")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_have_attribute("data-action", "token.revoke")

    download = page.get_by_role("link", name="Download JSON lines")
    expect(download).to_have_attribute("href", f"/audit/export?action=token.revoke&target={TOKEN}")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    exported = httpx.get(console.url + str(download.get_attribute("href")), cookies=cookies)
    assert exported.headers["content-type"] == "application/x-ndjson"
    [line] = [json.loads(line) for line in exported.text.splitlines()]
    assert (line["action"], line["actor"], line["actor_kind"], line["source"]) == (
        "token.revoke",
        "admin",
        "token",
        "127.0.0.1",
    )

    page.get_by_label("Since").fill("the day after tomorrow")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert")).to_contain_text("not an ISO 8601 date")
