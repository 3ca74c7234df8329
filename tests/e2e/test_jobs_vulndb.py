"""The jobs pages (queue and history refreshing themselves, one job's attempts, cancel, retry) and the
vulnerability-data page (sources and counts, importing a file, "Update now" failing without the internet), in a real
browser against a server of this module's own, so its jobs, registries and failing sources reach no other page's
test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from regscout.vulndb.sources import DEFAULT_ECOSYSTEMS
from tests.integration.cli_support import CliEnv, free_port, wait_until
from tests.integration.test_matching import record

from .conftest import READER_PASSWORD, USER, VULNERABLE_SOURCES, Console, check_page, own_console

LIVE = 60_000  # ms: how long a state may take to show up without a reload


@pytest.fixture(scope="module")
def console(console: Console, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """This module's own server; a failed attempt waits 10 minutes before the next, so a job of an unreachable
    registry stays queued."""
    own = own_console(console, tmp_path_factory.mktemp("jobs-home"), {"REGSCOUT_JOB_RETRY_DELAY_SECONDS": "600"})
    yield own
    own.server.stop()


@dataclass
class Jobs:
    tool: int  # team/tool:1.0 of the real registry: succeeds
    missing: int  # a tag the registry does not have: fails at once
    offline: int  # on a registry nobody listens on: requeued after each failed attempt


def queue(cli: CliEnv, registry: str, image: str) -> int:
    added = json.loads(cli.run("image", "add", registry, image, "--json").stdout)
    return int(added["jobs"][0]["id"])


def job(cli: CliEnv, job_id: int) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(cli.run("jobs", "show", str(job_id), "--json").stdout)
    return shown


@pytest.fixture(scope="module")
def registries(console: Console) -> None:
    cli = console.cli
    cli.run(
        "registry", "add", "--name", "lab", "--type", "docker-registry", "--url", console.registry.url,
        "--username", "reader", "--password-stdin", stdin=READER_PASSWORD + "\n",
    )  # fmt: skip
    closed = f"http://127.0.0.1:{free_port()}"
    cli.run("registry", "add", "--name", "offline", "--type", "docker-registry", "--url", closed, "--no-test")


@pytest.fixture(scope="module")
def offline_job(console: Console, registries: None) -> int:
    return queue(console.cli, "offline", "team/tool:1.0")


STATE: dict[str, Jobs] = {}


def queued(console: Console, offline_job: int) -> Jobs:
    """The lab's jobs, queued once: by the first test while its page shows the list (so they appear live), or by
    whichever test of the module runs first."""
    if "jobs" not in STATE:
        STATE["jobs"] = Jobs(
            queue(console.cli, "lab", "team/tool:1.0"), queue(console.cli, "lab", "team/tool:9.9"), offline_job
        )
    return STATE["jobs"]


def row(page: Page, job_id: int) -> Any:
    return page.locator(f'#jobs-table tr[data-job="{job_id}"]')


def csrf(page: Page) -> str:
    value = page.locator("input[name=csrf_token]").first.input_value()
    assert value
    return value


def session(page: Page, console: Console) -> httpx.Client:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return httpx.Client(base_url=console.url, cookies=cookies)


# ------------------------------------------------------------------------------------------------------------ jobs


def test_jobs_reach_their_end_states_live(page: Page, console: Console, offline_job: int) -> None:
    page.goto(f"{console.url}/jobs")
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    # The offline registry's job is queued or running: the table refreshes itself.
    expect(row(page, offline_job)).to_be_visible()
    expect(page.locator("#jobs-table[hx-trigger='every 2s']")).to_have_count(1)
    page.evaluate("window.notReloaded = true")

    ids = queued(console, offline_job)  # queued after the page was loaded
    expect(row(page, ids.tool)).to_have_attribute("data-state", "succeeded", timeout=LIVE)
    expect(row(page, ids.missing)).to_have_attribute("data-state", "failed", timeout=LIVE)
    expect(row(page, ids.tool).get_by_text("succeeded", exact=True)).to_be_visible()
    expect(row(page, ids.missing)).to_contain_text("image gone from the registry")
    expect(row(page, ids.offline)).to_contain_text("offline")
    expect(page.locator(".state-counts")).to_contain_text("1 failed")  # the counts refresh with the table
    assert page.evaluate("window.notReloaded") is True, "the page was reloaded"
    check_page(page, "jobs")


def test_the_list_filters_by_state_registry_and_trigger(page: Page, console: Console, offline_job: int) -> None:
    ids = queued(console, offline_job)
    page.goto(f"{console.url}/jobs")
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/jobs\?state=failed"))
    expect(row(page, ids.missing)).to_be_visible()
    expect(row(page, ids.tool)).to_have_count(0)
    # nothing shown can change by itself: no refreshing
    expect(page.locator("#jobs-table[hx-trigger]")).to_have_count(0)

    page.goto(f"{console.url}/jobs?registry=lab&state=succeeded")
    expect(page.get_by_label("Registry")).to_have_value("lab")
    expect(row(page, ids.tool)).to_be_visible()
    expect(page.locator("#jobs-table tbody tr")).to_have_count(1)

    page.goto(f"{console.url}/jobs?trigger=schedule")
    expect(page.get_by_text("No job matches these filters.")).to_be_visible()

    page.goto(f"{console.url}/jobs?state=finished")
    expect(page.get_by_role("alert")).to_contain_text("unknown job state 'finished'")


def test_a_failed_job_shows_its_attempts_reason_and_can_be_retried(
    page: Page, console: Console, offline_job: int
) -> None:
    ids = queued(console, offline_job)
    wait_until(lambda: job(console.cli, ids.missing)["state"] == "failed", 60, lambda: "the job did not fail")
    page.goto(f"{console.url}/jobs")
    row(page, ids.missing).get_by_role("link", name=str(ids.missing)).click()
    expect(page).to_have_url(f"{console.url}/jobs/{ids.missing}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Job {ids.missing}: team/tool:9.9")
    attempts = page.locator("table[aria-labelledby='h-attempts'] tbody tr")
    expect(attempts).to_have_count(1)
    first = attempts.first
    expect(first).to_contain_text("failed")
    expect(first).to_contain_text("image gone from the registry")
    expect(first.locator("td").last).to_have_text("404")  # the registry's answer
    expect(first.locator("td.worker")).to_contain_text("serve@")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    check_page(page, "job-failed")

    page.get_by_role("button", name="Retry job").click()
    expect(page).to_have_url(f"{console.url}/jobs/{ids.missing}?done=retried")
    expect(page.get_by_role("status").filter(has_text="queued again")).to_be_visible()
    # It was queued again and ran again: a second attempt, with a fresh allowance, shows without a reload.
    expect(attempts).to_have_count(2, timeout=LIVE)
    expect(page.locator("#job-state")).to_have_text("failed", timeout=LIVE)
    shown = job(console.cli, ids.missing)
    assert [a["attempt"] for a in shown["history"]] == [1, 2]
    assert shown["max_attempts"] > 1


def test_a_queued_job_can_be_cancelled(page: Page, console: Console, offline_job: int) -> None:
    def requeued() -> bool:
        shown = job(console.cli, offline_job)
        return shown["state"] == "queued" and shown["attempts"] == 1

    wait_until(requeued, 60, lambda: f"the offline job was not requeued: {job(console.cli, offline_job)}")
    page.goto(f"{console.url}/jobs/{offline_job}")
    expect(page.locator("#job-state")).to_have_text("queued")
    expect(page.locator("#job-reason")).to_contain_text("cannot connect")
    expect(page.locator("#job-next")).to_contain_text("not before")  # the failed attempt's back-off
    expect(page.locator("table[aria-labelledby='h-attempts'] tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Retry job")).to_have_count(0)
    check_page(page, "job-queued")

    page.get_by_role("button", name="Cancel job").click()
    expect(page.get_by_role("status").filter(has_text="The job was cancelled.")).to_be_visible()
    expect(page.locator("#job-state")).to_have_text("cancelled")
    expect(page.locator("#job-reason")).to_have_text(f"cancelled by {USER}")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry job")).to_be_visible()
    assert job(console.cli, offline_job)["state"] == "cancelled"


def test_refused_actions_show_the_job_stores_message(page: Page, console: Console, offline_job: int) -> None:
    ids = queued(console, offline_job)
    page.goto(f"{console.url}/jobs/{ids.tool}")
    token = csrf(page)
    with session(page, console) as client:
        again = client.post(f"/jobs/{ids.tool}/cancel", data={"csrf_token": token})
        assert again.status_code == 409
        assert "only queued or running jobs can be cancelled" in again.text
        retried = client.post(f"/jobs/{ids.tool}/retry", data={"csrf_token": token})
        assert retried.status_code == 409 and "only failed or cancelled jobs can be retried" in retried.text
        missing = client.post("/jobs/999999/retry", data={"csrf_token": token})
        assert missing.status_code == 404 and "there is no job 999999" in missing.text
        assert client.get("/jobs/999999").status_code == 404
        not_a_number = client.get("/jobs/abc")
        assert not_a_number.status_code == 404 and "a job is known by its number" in not_a_number.text
        assert client.get("/jobs?page=abc").status_code == 200  # a bad page number is the first page
        forged = client.post(f"/jobs/{ids.missing}/retry", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    assert job(console.cli, ids.tool)["state"] == "succeeded"


# ------------------------------------------------------------------------------------------------------------ data


def source_row(page: Page, name: str) -> Any:
    return page.locator(f'#vulndb-sources tr[data-source="{name}"]')


def test_the_data_page_shows_sources_counts_and_ecosystems(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/vulndb")
    expect(page.get_by_role("heading", name="Vulnerability data", level=1)).to_be_visible()
    fixtures = source_row(page, "fixtures")
    expect(fixtures.locator("td.records")).to_have_text(str(len(VULNERABLE_SOURCES)))
    expect(fixtures).to_contain_text("(imported)")
    expect(fixtures).to_contain_text("osv-dir")
    expect(fixtures.get_by_text("ok", exact=True)).to_be_visible()
    expect(fixtures).to_contain_text("not scheduled (imported source)")
    expect(page.locator("#vulndb-sources")).to_contain_text("Scheduled updates: off.")
    # the default sources, configured and never updated here
    expect(source_row(page, "debian")).to_contain_text("never updated")
    expect(source_row(page, "debian")).to_contain_text(
        "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip"
    )
    expect(page.locator("#vulndb-ecosystems tbody tr").filter(has_text="Debian:12")).to_contain_text("fixtures")
    check_page(page, "vulndb")


def osv_file(directory: Path) -> Path:
    records = [
        record("CONSOLE-2099-1", "Debian:12", "bash", events=[{"introduced": "0"}]),
        record("CONSOLE-2099-2", "PyPI", "requests", events=[{"introduced": "0"}, {"fixed": "9.0"}]),
    ]
    path = directory / "console-records.json"
    path.write_text(json.dumps(records))
    return path


def test_importing_a_file_raises_the_count(page: Page, console: Console, tmp_path: Path) -> None:
    page.goto(f"{console.url}/vulndb")
    summary = page.locator("#vulndb-sources > p").first
    expect(summary).to_contain_text(f"{len(VULNERABLE_SOURCES)} records from")

    page.get_by_label("OSV file").set_input_files(str(osv_file(tmp_path)))
    page.get_by_label("Source name").fill("uploaded")
    page.get_by_role("button", name="Import").click()
    headline = page.locator("#task-headline")
    expect(headline).to_contain_text("The import of console-records.json into source uploaded ended", timeout=LIVE)
    expect(headline).to_contain_text("1 source ok")
    uploaded = source_row(page, "uploaded")
    expect(uploaded.locator("td.records")).to_have_text("2")
    expect(uploaded).to_contain_text("uploaded file console-records.json")
    expect(summary).to_contain_text(f"{len(VULNERABLE_SOURCES) + 2} records from")
    expect(page.locator("#vulndb-ecosystems tbody tr").filter(has_text="PyPI")).to_contain_text("uploaded")
    check_page(page, "vulndb-imported")

    # A file of another kind is refused with the reason, and nothing is imported.
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not OSV")
    page.get_by_label("OSV file").set_input_files(str(wrong))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#task-message")).to_contain_text("expected an OSV zip (.zip)")
    # A record that breaks the schema fails the import; the source's previous records keep serving.
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"id": "CONSOLE-BROKEN", "modified": "yesterday"}))
    page.get_by_label("OSV file").set_input_files(str(broken))
    page.get_by_role("button", name="Import").click()
    expect(headline).to_contain_text("0 ok, 1 failed", timeout=LIVE)
    error = page.locator('#data-task tr[data-result="uploaded"] td.error')
    expect(error).to_contain_text("broken.json: record CONSOLE-BROKEN: field modified")
    expect(error).not_to_contain_text("regscout-upload-")  # the upload's temporary path means nothing to its uploader
    expect(uploaded.locator("td.records")).to_have_text("2")
    expect(uploaded.get_by_text("failed", exact=True)).to_be_visible()


def test_update_now_shows_that_the_default_sources_cannot_be_reached(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/vulndb")
    page.get_by_role("button", name="Update now").click()
    headline = page.locator("#task-headline")
    expect(headline).to_contain_text("The update of every configured source", timeout=LIVE)
    expect(headline).to_contain_text(f"0 ok, {len(DEFAULT_ECOSYSTEMS)} failed", timeout=LIVE)
    expect(page.get_by_role("alert").filter(has_text="keeps serving its previous data")).to_be_visible()
    result = page.locator('#data-task tr[data-result="debian"]')
    expect(result.get_by_text("failed", exact=True)).to_be_visible()
    expect(result.locator("td.error")).to_contain_text("Debian/all.zip")
    # the sources table was refreshed with it: each default source's last error, the imported data unharmed
    debian = source_row(page, "debian")
    expect(debian.get_by_text("failed", exact=True)).to_be_visible()
    expect(debian.locator("td.outcome .error")).to_have_text(result.locator("td.error").inner_text())
    expect(source_row(page, "fixtures").locator("td.records")).to_have_text(str(len(VULNERABLE_SOURCES)))
    check_page(page, "vulndb-update-failed")

    # after a reload too: the sources keep their last error
    page.reload()
    expect(source_row(page, "alpine").get_by_text("failed", exact=True)).to_be_visible()
    expect(source_row(page, "alpine").locator("td.outcome .error")).to_contain_text("Alpine/all.zip")


def test_refused_data_requests_say_why_and_the_forms_work_without_htmx(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/vulndb")
    token = csrf(page)
    with session(page, console) as client:
        unknown = client.post("/vulndb/update", data={"csrf_token": token, "source": "nope"})
        assert unknown.status_code == 422 and "&#39;nope&#39; is not a configured source" in unknown.text
        nameless = client.post("/vulndb/import", data={"csrf_token": token}, files={"file": ("a.json", b"{}")})
        assert nameless.status_code == 422 and "name the source this file replaces" in nameless.text
        fileless = client.post("/vulndb/import", data={"csrf_token": token, "source": "mine"})
        assert fileless.status_code == 422 and "choose a file to import" in fileless.text
        bad_name = client.post(
            "/vulndb/import", data={"csrf_token": token, "source": "../x"}, files={"file": ("a.json", b"{}")}
        )
        assert bad_name.status_code == 422 and "use 1-100 letters" in bad_name.text
        forged = client.post("/vulndb/update", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        # without htmx: the import runs, and the browser is sent back to the page, which shows its outcome
        body = json.dumps(record("CONSOLE-2099-3", "npm", "left-pad", events=[{"introduced": "0"}])).encode()
        plain = client.post(
            "/vulndb/import", data={"csrf_token": token, "source": "plain"}, files={"file": ("pad.json", body)}
        )
        assert plain.status_code == 303 and plain.headers["location"] == "/vulndb"
        assert client.get("/vulndb/task").status_code == 303  # the fragment is for htmx only
    page.reload()
    expect(source_row(page, "plain").locator("td.records")).to_have_text("1", timeout=LIVE)
    expect(page.locator("#task-headline")).to_contain_text("pad.json into source plain")
