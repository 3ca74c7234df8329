"""Signing in and out, the session cookie, CSRF, and the dashboard, in a real browser."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, USER, Console, check_page, sign_in


def test_sign_in_page_and_a_wrong_password(anonymous_page: Page, console: Console) -> None:
    anonymous_page.goto(f"{console.url}/?severity=CRITICAL")
    expect(anonymous_page).to_have_url(f"{console.url}/login?next=/%3Fseverity%3DCRITICAL")
    check_page(anonymous_page, "sign-in")
    anonymous_page.get_by_label("User name").fill(USER)
    anonymous_page.get_by_label("Password").fill("not the password")
    anonymous_page.get_by_role("button", name="Sign in").click()
    expect(anonymous_page.get_by_role("alert")).to_have_text("The user name or password is wrong.")


def test_sign_in_returns_to_the_page_asked_for_and_sets_a_safe_cookie(anonymous_page: Page, console: Console) -> None:
    anonymous_page.goto(f"{console.url}/?from=bookmark")
    anonymous_page.get_by_label("User name").fill(USER)
    anonymous_page.get_by_label("Password").fill(PASSWORD)
    anonymous_page.get_by_role("button", name="Sign in").click()
    expect(anonymous_page).to_have_url(f"{console.url}/?from=bookmark")
    cookie = next(c for c in anonymous_page.context.cookies() if c["name"] == "regscout_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # plain HTTP here: Secure is set only when the request came over TLS (or a proxy says it did)
    assert cookie["secure"] is False


def test_the_dashboard_and_signing_out(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    check_page(page, "dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{console.url}/login")
    page.goto(f"{console.url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))


def test_an_unsafe_request_without_the_csrf_token_is_refused(page: Page, console: Console) -> None:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=console.url, cookies=cookies) as client:
        refused = client.post("/logout", data={})
        assert refused.status_code == 403 and "security token" in refused.text
        forged = client.post("/logout", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    # the session survived both attempts
    page.goto(f"{console.url}/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()


def test_the_sign_in_form_needs_its_own_token(console: Console) -> None:
    with httpx.Client(base_url=console.url) as client:
        refused = client.post("/login", data={"username": USER, "password": PASSWORD, "csrf_token": "x"})
    assert refused.status_code == 403


def test_sign_in_redirects_only_within_the_site(anonymous_page: Page, console: Console) -> None:
    anonymous_page.goto(f"{console.url}/login?next=//evil.example/")
    sign_in(anonymous_page, console)
    expect(anonymous_page).to_have_url(f"{console.url}/")
