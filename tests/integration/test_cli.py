"""The `regscout` command against the real registry, as a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.images import Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry

from .cli_support import CliEnv


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    return CliEnv(tmp_path / "home")


@pytest.fixture(scope="module")
def catalogue(registry_token: RunningRegistry) -> dict[str, str]:
    """Two repositories: a single-platform image and a two-platform index."""
    amd = small_image("cli-amd", created="2025-06-01T00:00:00Z")
    arm = build_image([base_layer()], created="2025-06-02T00:00:00Z", architecture="arm64")
    index = build_index([amd, arm])
    with Pusher(registry_token, auth=registry_token.admin_auth()) as pusher:
        return {
            "single": pusher.push("cli/single", "1.0", small_image("cli-single", created="2024-01-02T03:04:05Z")),
            "multi": pusher.push("cli/multi", "latest", index),
        }


def add_reader(cli: CliEnv, registry: RunningRegistry, name: str = "tok") -> None:
    cli.run(
        "registry",
        "add",
        "--name",
        name,
        "--type",
        "docker-registry",
        "--url",
        registry.url,
        "--username",
        "reader",
        "--password-stdin",
        stdin=registry.accounts["reader"].password + "\n",
    )


def test_add_test_show_repos_edit_delete(
    cli: CliEnv, registry_token: RunningRegistry, catalogue: dict[str, str]
) -> None:
    add_reader(cli, registry_token)
    shown = json.loads(cli.run("registry", "show", "tok", "--json").stdout)
    assert shown["connection"]["status"] == "Connected"
    assert shown["connection"]["rights"] == "read-only"
    assert shown["has_secret"] is True
    assert registry_token.accounts["reader"].password not in json.dumps(shown)

    tested = json.loads(cli.run("registry", "test", "tok", "--json").stdout)
    assert tested["status"] == "Connected"

    repos = json.loads(cli.run("registry", "repos", "tok", "--json").stdout)
    assert {"cli/single", "cli/multi"} <= {r["name"] for r in repos}

    listing = json.loads(
        cli.run("registry", "repos", "tok", "--tags", "-r", "cli/single", "-r", "cli/multi", "--json").stdout
    )
    by_name = {r["name"]: r["tags"] for r in listing}
    [single] = by_name["cli/single"]
    assert single["digest"] == catalogue["single"]
    assert single["created"].startswith("2024-01-02T03:04:05") and single["created_source"] == "build"
    assert single["platforms"] == ["linux/amd64"]
    [multi] = by_name["cli/multi"]
    assert multi["digest"] == catalogue["multi"]
    assert multi["platforms"] == ["linux/amd64", "linux/arm64"]
    assert multi["created"].startswith("2025-06-01")  # the linux/amd64 image's build time

    table = cli.run("registry", "repos", "tok", "--tags", "-r", "cli/single").stdout
    assert "cli/single" in table and catalogue["single"][:19] in table

    # a wrong new password is refused and the stored one is kept
    failed = cli.run("registry", "edit", "tok", "--password-stdin", stdin="wrong-one\n", check_code=4)
    assert "Authorization failed" in failed.stderr
    cli.run("registry", "edit", "tok", "--description", "nightly")
    assert json.loads(cli.run("registry", "show", "tok", "--json").stdout)["description"] == "nightly"
    assert json.loads(cli.run("registry", "test", "tok", "--json").stdout)["status"] == "Connected"

    cli.run("registry", "delete", "tok", "--yes")
    missing = cli.run("registry", "show", "tok", check_code=3)
    assert "no registry integration named 'tok'" in missing.stderr


def test_user_errors_have_messages_and_exit_codes(cli: CliEnv, registry_token: RunningRegistry) -> None:
    bad_type = cli.run("registry", "add", "--name", "x", "--type", "nope", "--url", registry_token.url, check_code=2)
    assert "unknown registry type 'nope'" in bad_type.stderr and "docker-registry" in bad_type.stderr
    no_password = cli.run(
        "registry",
        "add",
        "--name",
        "x",
        "--type",
        "docker-registry",
        "--url",
        registry_token.url,
        "--password-env",
        "REGSCOUT_TEST_UNSET_VAR",
        check_code=2,
    )
    assert "REGSCOUT_TEST_UNSET_VAR" in no_password.stderr
    add_reader(cli, registry_token, "dup")
    duplicate = cli.run(
        "registry",
        "add",
        "--name",
        "dup",
        "--type",
        "docker-registry",
        "--url",
        registry_token.url,
        "--no-test",
        check_code=5,
    )
    assert "exists" in duplicate.stderr
    assert cli.run("registry", "test", "nothere", check_code=3).stderr
    listed = json.loads(cli.run("registry", "list", "--json").stdout)
    assert [i["name"] for i in listed] == ["dup"]


def test_password_never_comes_from_argv(cli: CliEnv, registry_token: RunningRegistry) -> None:
    result = cli.run(
        "registry",
        "add",
        "--name",
        "x",
        "--type",
        "docker-registry",
        "--url",
        registry_token.url,
        "--password",
        "inline",
        check_code=2,
    )
    assert "No such option" in result.stderr


def test_tokens_and_key_rotation(cli: CliEnv, registry_token: RunningRegistry, catalogue: dict[str, str]) -> None:
    add_reader(cli, registry_token)
    key_file = cli.home / "secret.key"
    old_key = key_file.read_text()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    cli.run("secrets", "rotate")
    assert key_file.read_text() != old_key and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert json.loads(cli.run("registry", "test", "tok", "--json").stdout)["status"] == "Connected"

    token = cli.run("token", "create", "ci").stdout.strip()
    assert token.startswith("rst_")
    listed = cli.run("token", "list", "--json").stdout
    assert token not in listed and '"ci"' in listed
    cli.run("token", "revoke", "ci")
    assert json.loads(cli.run("token", "list", "--json").stdout)[0]["revoked_at"] is not None
