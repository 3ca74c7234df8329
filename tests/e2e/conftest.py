"""The console in a real browser: Debian's chromium driven by Playwright, against `regscout serve` on a real
registry holding real images. Each page a test visits is checked with axe-core and kept as a screenshot in
build/console-screenshots/ (the CI artifact; REGSCOUT_DOCS_SCREENSHOTS=1 also refreshes docs/console/)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from isal import igzip
from playwright.sync_api import Browser, Page, sync_playwright

from tests.harness.accounts import Account
from tests.harness.debian import debian_rootfs_tar, dpkg_query_rows
from tests.harness.images import Layer, Pusher, build_image, sha256_digest, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.integration.cli_support import CliEnv, Server
from tests.integration.test_matching import write_debian_records

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "console-screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "console"
AXE = ROOT / "tests" / "tools" / "node_modules" / "axe-core" / "axe.min.js"
USER, PASSWORD = "tester", "correct horse battery staple"
READER_PASSWORD = "reader-secret-pw"
VULNERABLE_SOURCES = ("dpkg", "e2fsprogs", "glibc")


def chromium_path() -> str:
    found = os.environ.get("REGSCOUT_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise RuntimeError("Debian's chromium is not installed (apt-get install chromium; scripts/test.sh does)")
    return found


@dataclass
class Console:
    """A served regscout with a signed-in user, a registry with a Debian image, and vulnerability data."""

    cli: CliEnv
    server: Server
    registry: RunningRegistry
    debian_digest: str
    versions: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    accounts = {
        "writer": Account("writer-secret-pw", frozenset({"pull", "push"})),
        "reader": Account(READER_PASSWORD, frozenset({"pull"})),
    }
    running = start_registry("token", tmp_path_factory.mktemp("console-registry"), accounts=accounts)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory, registry: RunningRegistry) -> Iterator[Console]:
    raw = debian_rootfs_tar().read_bytes()
    data = igzip.compress(raw, compresslevel=1)
    layer = Layer(
        "application/vnd.oci.image.layer.v1.tar+gzip", data, sha256_digest(data), len(data), sha256_digest(raw)
    )
    debian = build_image([layer], history=[{"created_by": "ADD rootfs.tar / # mmdebstrap --variant=minbase"}])
    with Pusher(registry, auth=("writer", "writer-secret-pw")) as pusher:
        pusher.push("library/debian", "12", debian)
        for n in range(3):
            pusher.push("team/tool", f"1.{n}", small_image(f"tool-{n}"))
    cli = CliEnv(tmp_path_factory.mktemp("console-home"))
    versions = {n: v for n, v, _ in dpkg_query_rows(debian_rootfs_tar(), tmp_path_factory.mktemp("q"))}
    records = cli.home.parent / "osv"
    write_debian_records(records, versions, VULNERABLE_SOURCES)
    cli.run("db", "import", str(records), "--source", "fixtures")
    cli.run("users", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
    server = Server(cli)
    yield Console(cli, server, registry, debian.digest, versions)
    server.stop()


def own_console(console: Console, home: Path, extra: dict[str, str] | None = None) -> Console:
    """A `regscout serve` of its own (a test module's), on the session's registry with the same vulnerability data
    and user: what other modules scanned, queued or registered does not show in it. Stop it with `.server.stop()`."""
    cli = CliEnv(home, extra=extra or {})
    records = home.parent / f"{home.name}-osv"
    write_debian_records(records, console.versions, VULNERABLE_SOURCES)
    cli.run("db", "import", str(records), "--source", "fixtures")
    cli.run("users", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
    return Console(cli, Server(cli), console.registry, console.debian_digest, console.versions)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: while Playwright's sync API is open its event loop counts as running in this
    # thread, and every asyncio test collected after the browser tests would fail to start its own.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        launched.close()


def sign_in(page: Page, console: Console, user: str = USER, password: str = PASSWORD) -> None:
    page.goto(f"{console.url}/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A signed-in page in a fresh browser context (its own cookies)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    sign_in(opened, console)
    yield opened
    context.close()


@pytest.fixture
def anonymous_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is (run through the debugger protocol, which
    the page's Content-Security-Policy does not govern)."""
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def check_page(page: Page, name: str) -> None:
    """Every page a test shows: no serious or critical axe violation, and a screenshot kept under its name."""
    page.wait_for_load_state("networkidle")
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=2)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("REGSCOUT_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOTS / shot.name)
