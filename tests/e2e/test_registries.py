"""The registries section in a real browser against a real token-auth registry: add with a wrong password and see
the remedy, fix it and save, set pull rules and preview them unsaved, save, sync now and watch the scans end; edit
with the stored credentials kept, and delete with a confirmation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from .conftest import READER_PASSWORD, Console, check_page, own_console

NAME = "e2e registry"
WRONG_REMEDY = "The registry refused the user name or password/token"


@pytest.fixture(scope="module")
def console(console: Console, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """This module's own server: images another module scanned would otherwise read as "unchanged digest" here."""
    own = own_console(console, tmp_path_factory.mktemp("registries-home"))
    yield own
    own.server.stop()


def _path(name: str, suffix: str = "") -> str:
    return f"/registries/{quote(name, safe='')}{suffix}"


def _get(page: Page, console: Console, path: str) -> str:
    """A page as the signed-in user sees it, fetched beside the browser (which stays where it is)."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=console.url, cookies=cookies) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    return response.text


def _choose_type(page: Page, console: Console, type_name: str) -> None:
    page.get_by_label("Type", exact=True).select_option(type_name)
    expect(page).to_have_url(re.compile(rf"/registries/new\?type={re.escape(type_name)}$"))


def _fill_registry(page: Page, console: Console, name: str, password: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("URL", exact=True).fill(console.registry.url)
    page.get_by_label("Authentication").select_option("password")
    page.get_by_label("User name").fill("reader")
    page.get_by_label("Password or token").fill(password)


def _add_connected(page: Page, console: Console, name: str) -> None:
    page.goto(f"{console.url}/registries/new?type=docker-registry")
    _fill_registry(page, console, name, READER_PASSWORD)
    page.get_by_role("button", name="Test and save").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def test_add_preview_save_and_sync_a_registry(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/registries")
    expect(page.get_by_role("heading", name="Registries", level=1)).to_be_visible()
    check_page(page, "registries-list-before")

    page.get_by_role("link", name="Add a registry").click()
    expect(page.get_by_role("heading", name="Add a registry", level=1)).to_be_visible()
    # the type-specific fields follow the type chosen (and the URL says which, so it can be bookmarked)
    _choose_type(page, console, "harbor")
    expect(page.get_by_label("Include Public")).to_be_visible()
    expect(page.get_by_label("Projects")).to_be_visible()
    _choose_type(page, console, "docker-registry")
    expect(page.get_by_label("Include Public")).to_have_count(0)
    expect(page.get_by_label("Repositories")).to_be_visible()
    check_page(page, "registries-new")

    # a wrong password: the test fails, nothing is saved, the form keeps what was typed but the password
    _fill_registry(page, console, NAME, "not-the-password")
    page.get_by_role("button", name="Test and save").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Authorization failed")
    expect(alert).to_contain_text(WRONG_REMEDY)
    expect(page.get_by_label("Name", exact=True)).to_have_value(NAME)
    expect(page.get_by_label("User name")).to_have_value("reader")
    expect(page.get_by_label("Password or token")).to_have_value("")
    check_page(page, "registries-test-failed")
    assert NAME not in _get(page, console, "/registries")

    # the right password: connected, read-only
    page.get_by_label("Password or token").fill(READER_PASSWORD)
    page.get_by_role("button", name="Test and save").click()
    expect(page).to_have_url(f"{console.url}{_path(NAME)}?notice=added")
    expect(page.get_by_role("status").first).to_have_text("The registry was added.")
    connection = page.locator("section", has=page.get_by_role("heading", name="Connection"))
    expect(connection).to_contain_text("Connected")
    expect(connection).to_contain_text("read-only")
    expect(page.get_by_role("link", name=f"Images of {NAME}")).to_have_attribute(
        "href", "/images?registry=e2e+registry"
    )
    check_page(page, "registries-detail")

    page.goto(f"{console.url}/registries")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=NAME))
    expect(row).to_contain_text("Connected")
    expect(row).to_contain_text("read-only")
    expect(row.get_by_role("button", name=f"Sync now {NAME}")).to_be_visible()
    check_page(page, "registries-list")

    # pull rules with a preview of the unsaved settings: every image and the rule that decided it
    page.goto(f"{console.url}{_path(NAME)}")
    page.get_by_role("link", name="Pull settings", exact=True).click()
    page.get_by_label("Criteria: include patterns").fill("team/*")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", name="Preview (not saved)")).to_be_visible()
    for n in range(3):
        tool = preview.get_by_role("row").filter(has_text=f"1.{n}")
        expect(tool).to_contain_text("team/tool")
        expect(tool).to_contain_text("selected")
        expect(tool).to_contain_text("criteria: team/*")
    debian = preview.get_by_role("row").filter(has_text="library/debian")
    expect(debian).to_contain_text("skipped")
    expect(debian).to_contain_text("criteria: no pattern matches")
    expect(preview).to_contain_text("4 images found, 3 selected")
    check_page(page, "registries-pull-preview")
    assert "team/*" not in _get(page, console, _path(NAME))  # the preview saved nothing

    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").first).to_have_text("The pull-and-scan settings were saved.")
    pull = page.locator("section", has=page.get_by_role("heading", name="Pull and scan"))
    expect(pull).to_contain_text("team/*")

    # sync now: the progress polls itself until every scan has ended
    page.get_by_role("button", name="Sync now").click()
    expect(page).to_have_url(re.compile(r"/syncs/\d+$"))
    progress = page.locator("#sync-progress")
    expect(progress).to_have_attribute("data-state", "done", timeout=180_000)
    expect(progress.locator(".sync-done")).to_have_text("3/3")
    expect(progress.locator(".sync-eta")).to_have_text("none (finished)")
    expect(progress).to_contain_text("4 images, 3 selected")
    check_page(page, "registries-sync")
    page.goto(f"{console.url}{_path(NAME)}")
    expect(page.locator("section", has=page.get_by_role("heading", name="Pull and scan"))).to_contain_text(
        "3 of 3 scans done"
    )


def test_edit_keeps_the_stored_credentials_unless_updated(page: Page, console: Console) -> None:
    name = "e2e edit"
    _add_connected(page, console, name)
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name=f"Edit {name}", level=1)).to_be_visible()
    password = page.get_by_label("New password or token")
    expect(password).to_be_hidden()
    # keyboard: the checkbox reveals the password field
    page.get_by_label("Update stored credentials").focus()
    page.keyboard.press("Space")
    expect(password).to_be_visible()
    check_page(page, "registries-edit")
    # a wrong new password fails the test and keeps the stored one
    password.fill("wrong-again")
    page.get_by_role("button", name="Test and save").click()
    expect(page.get_by_role("alert")).to_contain_text("Authorization failed")
    expect(page.get_by_label("Update stored credentials")).to_be_checked()
    # unticked: the stored credentials are kept, and the test with them passes
    page.get_by_label("Update stored credentials").uncheck()
    page.get_by_label("Description").fill("watched by the console test")
    page.get_by_role("button", name="Test and save").click()
    expect(page.get_by_role("status").first).to_have_text("The changes were saved.")
    expect(page.get_by_text("watched by the console test")).to_be_visible()
    expect(page.locator("section", has=page.get_by_role("heading", name="Connection"))).to_contain_text("Connected")
    page.get_by_role("button", name="Test now").click()
    expect(page.get_by_role("status").first).to_contain_text("The connection was tested")
    expect(page.locator("section", has=page.get_by_role("heading", name="Connection"))).to_contain_text("read-only")


def test_save_without_testing_and_delete_with_confirmation(page: Page, console: Console) -> None:
    name = "e2e untested"
    page.goto(f"{console.url}/registries/new")
    _fill_registry(page, console, name, "not-the-password")
    page.get_by_role("button", name="Save without testing").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.locator("section", has=page.get_by_role("heading", name="Connection"))).to_contain_text("Not tested")

    page.get_by_role("link", name="Delete", exact=True).click()
    expect(page.get_by_role("heading", name=f"Delete {name}?", level=1)).to_be_visible()
    check_page(page, "registries-delete")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    page.get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("button", name=f"Delete {name}").click()
    expect(page).to_have_url(f"{console.url}/registries?notice=deleted")
    expect(page.get_by_role("link", name=name)).to_have_count(0)


def test_a_registry_that_does_not_exist_and_a_write_without_the_token(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/registries/no-such-registry")
    expect(page.get_by_role("heading", name="No such registry")).to_be_visible()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=console.url, cookies=cookies) as client:
        refused = client.post("/registries/new", data={"type": "docker-registry", "name": "forged"})
    assert refused.status_code == 403
