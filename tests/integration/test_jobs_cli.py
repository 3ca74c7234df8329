"""The embedded executor as a user runs it: `regscout image add`, `regscout serve`, restarts, `regscout jobs`."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.faults import FaultProxy, Hang
from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry

from .cli_support import CliEnv, Server, wait_until


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry("anonymous", tmp_path_factory.mktemp("jobs-cli-registry"))
    try:
        with Pusher(running) as pusher:
            for tag in ("1", "2", "3"):
                pusher.push("team/app", tag, small_image(f"jobs-cli-{tag}"))
        yield running
    finally:
        running.stop()


@pytest.fixture
def proxy(registry: RunningRegistry) -> Iterator[FaultProxy]:
    front = FaultProxy(registry.url)
    yield front
    front.close()


def cli_for(home: Path, url: str) -> CliEnv:
    env = CliEnv(
        home,
        extra={"REGSCOUT_JOB_POLL_SECONDS": "0.1", "REGSCOUT_JOB_LEASE_SECONDS": "2", "REGSCOUT_WORKERS": "2"},
    )
    env.run("registry", "add", "--name", "reg", "--type", "docker-registry", "--url", url)
    return env


def job(cli: CliEnv, job_id: int) -> dict[str, Any]:
    return dict(json.loads(cli.run("jobs", "show", str(job_id), "--json").stdout))


def add(cli: CliEnv, image: str) -> int:
    out = json.loads(cli.run("image", "add", "reg", image, "--json").stdout)
    return int(out["jobs"][0]["id"])


def test_queued_jobs_survive_a_restart_and_a_killed_server_s_job_runs_again(proxy: FaultProxy, tmp_path: Path) -> None:
    cli = cli_for(tmp_path / "home", proxy.url)
    first = add(cli, "team/app:1")  # no server runs: it waits in the database
    assert job(cli, first)["state"] == "queued"
    server = Server(cli)
    wait_until(lambda: job(cli, first)["state"] == "succeeded", 60, server.stop)

    # A scan in flight when the server is killed: the blob hangs until the fault is cleared.
    proxy.add_fault(r"/blobs/sha256:", Hang(120), times=None, method="GET")
    second = add(cli, "team/app:2")
    wait_until(lambda: job(cli, second)["state"] == "running", 30, server.stop)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    third = add(cli, "team/app:3")  # queued while no server runs
    proxy.clear_faults()

    restarted = Server(cli)
    try:
        for job_id in (second, third):
            wait_until(lambda job_id=job_id: job(cli, job_id)["state"] == "succeeded", 60, restarted.stop)
    finally:
        log = restarted.stop()
    history = job(cli, second)["history"]
    assert [a["outcome"] for a in history] == ["lost", "succeeded"]
    assert "lease expired" in history[0]["reason"]
    assert history[0]["worker"] != history[1]["worker"]
    assert "Traceback" not in log


def test_jobs_commands_and_their_errors(registry: RunningRegistry, tmp_path: Path) -> None:
    cli = cli_for(tmp_path / "home", registry.url)
    missing = cli.run("image", "add", "nowhere", "team/app:1", check_code=3)
    assert "registry 'nowhere' is not integrated" in missing.stderr and "regscout registry add" in missing.stderr
    bad = cli.run("image", "add", "reg", "Team/App:1", check_code=5)
    assert "not a valid repository name" in bad.stderr
    job_id = add(cli, "team/app:1")
    listed = json.loads(cli.run("jobs", "list", "--state", "queued", "--json").stdout)
    assert [(j["id"], j["image"], j["trigger"], j["state"]) for j in listed] == [
        (job_id, "team/app:1", "manual", "queued")
    ]
    assert "already queued or running" in cli.run("image", "add", "reg", "team/app:1").stdout
    assert "cancelled" in cli.run("jobs", "cancel", str(job_id)).stdout
    assert "only queued or running jobs" in cli.run("jobs", "cancel", str(job_id), check_code=5).stderr
    assert "there is no job 999" in cli.run("jobs", "show", "999", check_code=3).stderr
    assert "queued again" in cli.run("jobs", "retry", str(job_id)).stdout
    table = cli.run("jobs", "list").stdout
    assert "team/app:1" in table and "queued" in table

    # A sync queues what the rules select; its progress and the covered images are shown.
    cli.run("registry", "edit", "reg", "--include", "team/app:2", "--no-test")
    synced = cli.run("registry", "sync", "reg").stdout
    assert "3 found, 1 selected, 1 queued" in synced
    status = json.loads(cli.run("registry", "sync-status", "reg", "--json").stdout)
    assert (status["state"], status["total"], status["jobs"]) == ("scanning", 1, {"queued": 1})
    images = json.loads(cli.run("registry", "images", "reg", "--json").stdout)
    assert sorted((i["tag"], i["source"], i["state"]) for i in images) == [
        ("1", "manual", "present"),
        ("2", "sync", "present"),
        ("3", "sync", "present"),
    ]
    server = Server(cli)
    try:
        wait_until(
            lambda: json.loads(cli.run("registry", "sync-status", "reg", "--json").stdout)["state"] == "done",
            60,
            server.stop,
        )
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        api = httpx.Client(base_url=server.url, headers=headers, timeout=30)
        added = api.post("/api/v1/registries/reg/images", json={"image": "team/app:3"})
        assert added.status_code == 202
        api_job = added.json()["jobs"][0]["id"]
        wait_until(lambda: api.get(f"/api/v1/jobs/{api_job}").json()["state"] == "succeeded", 60, server.stop)
        assert api.get(f"/api/v1/jobs/{api_job}").json()["trigger"] == "api"
        assert api.post("/api/v1/registries/nowhere/images", json={"image": "a:1"}).status_code == 404
        assert api.post(f"/api/v1/jobs/{api_job}/cancel").status_code == 409
        assert api.get("/api/v1/jobs/12345").status_code == 404
        synced_api = api.post("/api/v1/registries/reg/sync")
        assert synced_api.status_code == 202 and synced_api.json()["queued"] == 0
        progress = api.get("/api/v1/registries/reg/sync/latest").json()
        assert progress["sync_id"] == synced_api.json()["sync_id"] and progress["state"] == "done"
        metrics = httpx.get(server.url + "/metrics").text
        assert 'regscout_jobs{state="succeeded"}' in metrics
    finally:
        server.stop()
