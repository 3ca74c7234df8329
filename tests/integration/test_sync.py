"""`registry edit` pull settings and `registry sync --dry-run` against a real registry of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from regscout.analysis.merge import Inventory
from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry

from .cli_support import CliEnv, Server
from .conftest import make_runtime

NOW = datetime.now(UTC)
# repository, tag, age in days
IMAGES = [
    ("alpine", "1.0", 100),
    ("alpine", "2.0", 10),
    ("alpine", "latest", 5),
    ("team/app", "1.0", 10),
    ("team/app", "4", 100),
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry holding only the images above, so a sync lists exactly them."""
    running = start_registry("anonymous", tmp_path_factory.mktemp("sync-registry"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def digests(registry: RunningRegistry) -> dict[str, str]:
    with Pusher(registry) as pusher:
        return {
            f"{repo}:{tag}": pusher.push(
                repo, tag, small_image(f"sync-{repo}-{tag}", created=NOW - timedelta(days=age))
            )
            for repo, tag, age in IMAGES
        }


@pytest.fixture
def cli(tmp_path: Path, registry: RunningRegistry) -> CliEnv:
    env = CliEnv(tmp_path / "home")
    env.run("registry", "add", "--name", "reg", "--type", "docker-registry", "--url", registry.url)
    return env


def dry_run(cli: CliEnv) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cli.run("registry", "sync", "reg", "--dry-run", "--json").stdout)
    return result


def decisions(plan: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    return {f"{i['repository']}:{i['tag']}": (i["selected"], i["rule"]) for i in plan["images"]}


def stored_pull(cli: CliEnv) -> dict[str, Any]:
    pull: dict[str, Any] = json.loads(cli.run("registry", "show", "reg", "--json").stdout)["pull"]
    return pull


def set_kaspersky_rules(cli: CliEnv) -> None:
    cli.run(
        "registry",
        "edit",
        "reg",
        "--include",
        "alpine",
        "--created-within",
        "60d",
        "--never",
        "*:latest",
        "--always",
        "team/app:4",
    )


EXPECTED = {
    "alpine:2.0": (True, "created within 60d (build time)"),
    "alpine:latest": (False, "never: *:latest"),
    "team/app:1.0": (False, "criteria: no pattern matches"),
    "team/app:4": (True, "always: team/app:4"),
}


def test_rules_from_the_cli_decide_each_image(cli: CliEnv, digests: dict[str, str]) -> None:
    defaults = dry_run(cli)
    assert {ref: selected for ref, (selected, _) in decisions(defaults).items()} == dict.fromkeys(digests, True)

    set_kaspersky_rules(cli)
    pull = stored_pull(cli)
    assert (pull["include"], pull["condition"], pull["created_within"]) == (["alpine"], "created_within", "60d")
    assert (pull["never"], pull["always"]) == (["*:latest"], ["team/app:4"])

    plan = dry_run(cli)
    got = decisions(plan)
    old_date = (NOW - timedelta(days=100)).date().isoformat()
    assert got == {**EXPECTED, "alpine:1.0": (False, f"older than 60d (build time {old_date})")}
    assert (plan["found"], plan["selected"]) == (5, 2)
    by_ref = {f"{i['repository']}:{i['tag']}": i for i in plan["images"]}
    assert {ref: i["digest"] for ref, i in by_ref.items()} == digests
    assert all(i["created_source"] == "build" for i in plan["images"])
    assert by_ref["alpine:2.0"]["created"].startswith((NOW - timedelta(days=10)).date().isoformat())

    table = cli.run("registry", "sync", "reg", "--dry-run").stdout
    assert "5 found, 2 selected" in table
    assert digests["team/app:4"][:19] in table and "always: team/app:4" in table


def test_latest_picks_the_two_newest_per_repository(cli: CliEnv, digests: dict[str, str]) -> None:
    set_kaspersky_rules(cli)
    cli.run("registry", "edit", "reg", "--latest", "2", "--clear-include", "--clear-never", "--clear-always")
    pull = stored_pull(cli)
    assert (pull["condition"], pull["latest"], pull["include"], pull["never"], pull["always"]) == (
        "latest",
        2,
        [],
        [],
        [],
    )
    assert decisions(dry_run(cli)) == {
        "alpine:latest": (True, "latest 2 of alpine (rank 1)"),
        "alpine:2.0": (True, "latest 2 of alpine (rank 2)"),
        "alpine:1.0": (False, "not in latest 2 of alpine (rank 3)"),
        "team/app:1.0": (True, "latest 2 of team/app (rank 1)"),
        "team/app:4": (True, "latest 2 of team/app (rank 2)"),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--latest", "0"], "latest: Input should be greater than 0"),
        (["--created-within", "5w"], "period '5w' must be a number followed by d (days), m (months) or y (years)"),
        (["--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--pull", "automatic"], "automatic mode needs a schedule"),
        (["--latest", "2", "--no-condition"], "give only one of --created-within, --latest and --no-condition"),
    ],
)
def test_invalid_rules_exit_2_and_save_nothing(cli: CliEnv, args: list[str], message: str) -> None:
    set_kaspersky_rules(cli)
    before = stored_pull(cli)
    failed = cli.run("registry", "edit", "reg", *args, "--include", "other", check_code=2)
    assert message in " ".join(failed.stderr.split())
    assert stored_pull(cli) == before


def test_rescan_off_drops_digests_already_scanned(
    cli: CliEnv, registry: RunningRegistry, digests: dict[str, str]
) -> None:
    set_kaspersky_rules(cli)
    runtime = make_runtime(cli.home)
    host = urlsplit(registry.url).netloc
    scanned = {"alpine": ("2.0", digests["alpine:2.0"]), "team/app": (digests["team/app:4"], digests["team/app:4"])}
    for repository, (reference, digest) in scanned.items():
        runtime.results.save(
            digest=digest,
            registry_host=host,
            repository=repository,
            reference=reference,
            platform="linux/amd64",
            inventory=Inventory(None, []),
            findings=[],
        )
    runtime.db.dispose()
    got = decisions(dry_run(cli))
    assert got["alpine:2.0"] == (False, "unchanged digest, rescan off")
    assert got["team/app:4"] == (False, f"digest already scanned as team/app@{digests['team/app:4']}, rescan off")
    cli.run("registry", "edit", "reg", "--rescan")
    assert {ref: decisions(dry_run(cli))[ref] for ref in EXPECTED} == EXPECTED


def test_sync_queues_the_selected_images_and_shows_each_decision(cli: CliEnv) -> None:
    set_kaspersky_rules(cli)
    table = cli.run("registry", "sync", "reg").stdout
    assert "never: *:latest" in table and "always: team/app:4" in table
    assert "5 found, 2 selected, 2 queued, 0 already queued or running, 0 gone" in table
    again = json.loads(cli.run("registry", "sync", "reg", "--json").stdout)
    assert {ref: decisions(again)[ref] for ref in EXPECTED} == EXPECTED
    assert (again["queued"], again["already_active"]) == (0, 2)  # still queued from the first sync
    jobs = json.loads(cli.run("jobs", "list", "--json").stdout)
    assert sorted(job["image"] for job in jobs) == ["alpine:2.0", "team/app:4"]
    assert {job["trigger"] for job in jobs} == {"manual"}
    assert (
        "no registry integration named 'nope'" in cli.run("registry", "sync", "nope", "--dry-run", check_code=3).stderr
    )


def test_api_edits_pull_settings_and_returns_the_same_decisions(cli: CliEnv, digests: dict[str, str]) -> None:
    set_kaspersky_rules(cli)
    expected = dry_run(cli)["images"]
    server = Server(cli)
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=60
        ) as client:
            synced = client.get("/api/v1/registries/reg/sync", params={"dry_run": "true"})
            assert synced.status_code == 200, synced.text
            assert synced.json()["images"] == expected
            assert client.get("/api/v1/registries/reg/sync").status_code == 400  # running a sync is a POST

            bad = client.patch("/api/v1/registries/reg", json={"pull": {"latest": 0, "condition": "latest"}})
            assert bad.status_code == 422 and "latest: Input should be greater than 0" in bad.json()["detail"]
            unknown = client.patch("/api/v1/registries/reg", json={"pull": {"sometimes": ["x"]}})
            assert unknown.status_code == 422 and "sometimes" in unknown.json()["detail"]

            changed = client.patch("/api/v1/registries/reg", json={"pull": {"never": [], "rescan": True}})
            assert changed.status_code == 200, changed.text
            assert changed.json()["test"] is None  # only pull settings changed: no connection test
            pull = changed.json()["integration"]["pull"]
            assert (pull["never"], pull["rescan"], pull["include"]) == ([], True, ["alpine"])
            after = {
                i["tag"]: i["selected"]
                for i in client.get("/api/v1/registries/reg/sync", params={"dry_run": "true"}).json()["images"]
                if i["repository"] == "alpine"
            }
            assert after == {"1.0": False, "2.0": True, "latest": True}
    finally:
        server.stop()
