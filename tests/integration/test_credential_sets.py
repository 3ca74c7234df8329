"""Credential sets: other credentials for the repositories matching a pattern, tested on save and used for
exactly those repositories (listing their tags and pulling them), against a real token-auth registry whose
accounts may each read only some repositories."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from regscout.api.app import create_app
from regscout.services.audit import SYSTEM
from tests.harness.accounts import Account
from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry

from .cli_support import CliEnv
from .conftest import make_runtime

MAIN, TEAM, OTHER = "main-secret-pw", "team-secret-pw", "other-secret-pw"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    accounts = {
        "pusher": Account("pusher-secret-pw", frozenset({"*"})),
        "main": Account(MAIN, frozenset({"pull"}), repositories=("public/*",)),
        "team": Account(TEAM, frozenset({"pull"}), repositories=("team/*",)),
        "other": Account(OTHER, frozenset({"pull"}), repositories=("elsewhere/*",)),
    }
    running = start_registry("token", tmp_path_factory.mktemp("sets-registry"), accounts=accounts)
    with Pusher(running, auth=("pusher", "pusher-secret-pw")) as pusher:
        pusher.push("public/site", "1", small_image("public-site"))
        pusher.push("team/app", "1", small_image("team-app"))
        pusher.push("team/db", "2", small_image("team-db"))
    yield running
    running.stop()


@pytest.fixture
def cli(tmp_path: Path, registry: RunningRegistry) -> CliEnv:
    env = CliEnv(tmp_path / "home")
    env.run(
        "registry", "add", "--name", "lab", "--type", "docker-registry", "--url", registry.url,
        "--username", "main", "--password-stdin", stdin=MAIN + "\n",
    )  # fmt: skip
    return env


def _tags(cli: CliEnv) -> dict[str, object]:
    listings = json.loads(cli.run("registry", "repos", "lab", "--tags", "--json").stdout)
    return {listing["name"]: listing.get("tags") or listing.get("error") for listing in listings}


def _users_for(registry: RunningRegistry, repository: str) -> set[str | None]:
    assert registry.token_issuer is not None
    return {
        request.user
        for request in registry.token_issuer.requests
        if any(f":{repository}:" in scope for scope in request.scopes)
    }


def test_a_set_is_tested_then_used_for_its_repositories_only(cli: CliEnv, registry: RunningRegistry) -> None:
    before = _tags(cli)
    assert isinstance(before["public/site"], list) and isinstance(before["team/app"], str)  # main can't read team/*

    added = cli.run("registry", "credentials", "add", "lab", "team/*", "--username", "team", "--password-stdin",
                    stdin=TEAM + "\n")  # fmt: skip
    assert "Connected" in added.stdout and "credential set for 'team/*'" in added.stdout

    after = _tags(cli)
    assert [t["tag"] for t in after["team/app"]] == ["1"] and [t["tag"] for t in after["team/db"]] == ["2"]  # type: ignore[union-attr]
    assert all(t["digest"] for t in after["team/app"])  # type: ignore[union-attr]
    assert isinstance(after["public/site"], list)

    assert registry.token_issuer is not None
    registry.token_issuer.clear_requests()
    sbom = cli.run("sbom", f"{registry.host}/team/app:1", "--format", "json")
    assert json.loads(sbom.stdout)["image"]["repository"] == "team/app"
    assert _users_for(registry, "team/app") == {"team"}
    registry.token_issuer.clear_requests()
    cli.run("sbom", f"{registry.host}/public/site:1", "--format", "json")
    assert _users_for(registry, "public/site") == {"main"}


def test_a_failing_set_is_not_saved(cli: CliEnv) -> None:
    denied = cli.run("registry", "credentials", "add", "lab", "team/app", "--username", "other", "--password-stdin",
                     stdin=OTHER + "\n", check_code=4)  # fmt: skip
    assert "Authorization failed" in denied.stderr and "team/app" in denied.stderr
    wrong = cli.run("registry", "credentials", "add", "lab", "team/app", "--username", "team", "--password-stdin",
                    stdin="not-the-password\n", check_code=4)  # fmt: skip
    assert "Authorization failed" in wrong.stderr
    nothing = cli.run("registry", "credentials", "add", "lab", "nowhere/*", "--username", "team", "--password-stdin",
                      stdin=TEAM + "\n", check_code=4)  # fmt: skip
    assert "no repository of lab matches 'nowhere/*'" in nothing.stderr
    tagged = cli.run("registry", "credentials", "add", "lab", "team/app:1", "--password-stdin", stdin=TEAM + "\n",
                     check_code=2)  # fmt: skip
    assert "a credential set is for repositories" in tagged.stderr
    assert json.loads(cli.run("registry", "credentials", "list", "lab", "--json").stdout) == []


def test_exact_sets_add_their_repository_and_the_first_match_wins(cli: CliEnv, registry: RunningRegistry) -> None:
    for pattern, user, secret in (("team/app", "team", TEAM), ("team/*", "other", OTHER)):
        cli.run("registry", "credentials", "add", "lab", pattern, "--username", user, "--password-stdin",
                "--no-test", stdin=secret + "\n")  # fmt: skip
    listed = json.loads(cli.run("registry", "credentials", "list", "lab", "--json").stdout)
    assert [(s["pattern"], s["username"], s["status"]) for s in listed] == [
        ("team/app", "team", None),
        ("team/*", "other", None),
    ]
    tags = _tags(cli)
    assert isinstance(tags["team/app"], list)  # the first set (team) reads it
    assert isinstance(tags["team/db"], str)  # the second (other) cannot
    failed = cli.run("registry", "credentials", "test", "lab", "team/*", check_code=4)
    assert "Authorization failed" in failed.stdout
    assert json.loads(cli.run("registry", "credentials", "list", "lab", "--json").stdout)[1]["status"] == (
        "Authorization failed"
    )
    cli.run("registry", "credentials", "remove", "lab", "team/*")
    cli.run("registry", "credentials", "remove", "lab", "team/app")
    assert isinstance(_tags(cli)["team/app"], str)
    missing = cli.run("registry", "credentials", "remove", "lab", "team/app", check_code=3)
    assert "no credential set for 'team/app'" in missing.stderr


def test_secrets_stay_encrypted_and_survive_key_rotation(cli: CliEnv, registry: RunningRegistry) -> None:
    cli.run("registry", "credentials", "add", "lab", "team/*", "--username", "team", "--password-stdin",
            stdin=TEAM + "\n")  # fmt: skip
    database = cli.home / "regscout.db"
    assert TEAM.encode() not in database.read_bytes()
    rotated = cli.run("secrets", "rotate")
    assert "re-encrypted 2 credential(s)" in rotated.stdout
    assert isinstance(_tags(cli)["team/app"], list)
    assert TEAM not in "\n".join(cli.transcript)


def test_api(tmp_path: Path, registry: RunningRegistry, cli: CliEnv) -> None:
    runtime = make_runtime(cli.home)
    _, token = runtime.tokens.create("sets", actor=SYSTEM)
    headers = {"Authorization": f"Bearer {token.reveal()}"}
    with TestClient(create_app(runtime)) as client:
        base = "/api/v1/registries/lab/credentials"
        bad = client.post(base, json={"pattern": "team/*", "username": "team", "password": "wrong"}, headers=headers)
        assert bad.status_code == 422 and bad.json()["status"] == "Authorization failed"
        created = client.post(base, json={"pattern": "team/*", "username": "team", "password": TEAM}, headers=headers)
        assert created.status_code == 201 and created.json()["test"]["status"] == "Connected"
        assert TEAM not in created.text
        listed = client.get(base, headers=headers).json()
        assert [s["pattern"] for s in listed] == ["team/*"] and TEAM not in json.dumps(listed)
        tested = client.post(f"{base}/test", params={"pattern": "team/*"}, headers=headers)
        assert tested.status_code == 200 and tested.json()["status"] == "Connected"
        assert client.delete(base, params={"pattern": "team/*"}, headers=headers).status_code == 204
        assert client.get(base, headers=headers).json() == []
        assert client.get(base, headers={}).status_code == 401
    runtime.db.dispose()
