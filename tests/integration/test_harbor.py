"""harbor: projects, repositories and artifacts from the Harbor API stand-in; rights from Harbor's own answers;
every /v2/ call to a real token-auth docker-registry holding the images."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regscout.registries.auth import Credentials
from regscout.registries.base import RegistryConfig, Rights
from regscout.registries.errors import ConnectionStatus
from regscout.registries.harbor import HarborRegistry
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.harbor_api import READ, HarborAPI, HarborRobot, HarborUser

from .cli_support import CliEnv
from .conftest import FAST

pytestmark = pytest.mark.anyio

PASSWORDS = {
    "limited": "limited-pw",
    "dev": "dev-pw",
    "admin": "admin-pw",
    "robot$team+scanner": "scanner-secret",
    "robot$team+pusher": "pusher-secret",
}
MANY = 120  # artifacts in team/many: two pages of Harbor's maximum 100


@dataclass(frozen=True)
class Pushed:
    app: Image
    multi: Index
    builder: Image
    nginx: Image
    many: tuple[Image, ...]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    accounts = {name: Account(password) for name, password in PASSWORDS.items()}
    accounts["pusher"] = Account("push-pw", frozenset({"*"}))
    running = start_registry("token", tmp_path_factory.mktemp("harbor-registry"), accounts=accounts)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> Pushed:
    arm = build_image([base_layer()], architecture="arm64", variant="v8", labels={"seed": "harbor-arm"})
    images = Pushed(
        small_image("harbor-app", "2024-03-01T10:00:00Z"),
        build_index([small_image("harbor-app-2", "2024-04-01T10:00:00Z"), arm]),
        small_image("harbor-builder"),
        small_image("harbor-nginx"),
        tuple(small_image(f"harbor-many-{n}") for n in range(MANY)),
    )
    with Pusher(registry, auth=("pusher", "push-pw")) as pusher:
        pusher.push("team/app", "1.0", images.app)
        pusher.push("team/app", "2.0", images.multi)
        pusher.push("team/tools/builder", "latest", images.builder)
        pusher.push("library/nginx", "1", images.nginx)
        pusher.push("cache/library/alpine", "3", images.nginx)
        pusher.push("pub/site", "1", images.nginx)
        for n, image in enumerate(images.many):
            pusher.push("team/many", f"v{n}", image)
    return images


@pytest.fixture
def harbor(pushed: Pushed) -> Iterator[HarborAPI]:
    users = {
        "limited": HarborUser(PASSWORDS["limited"], {"team": 5, "library": 5, "cache": 5}),
        "dev": HarborUser(PASSWORDS["dev"], {"team": 2, "library": 5}),
        "admin": HarborUser(PASSWORDS["admin"], sysadmin=True),
    }
    robots = {
        "robot$team+scanner": HarborRobot(PASSWORDS["robot$team+scanner"], {"team": READ}),
        "robot$team+pusher": HarborRobot(PASSWORDS["robot$team+pusher"], {"team": READ | {("repository", "push")}}),
    }
    with HarborAPI(users, robots) as api:
        for name, public, proxy in (("team", False, False), ("library", False, False), ("cache", False, True),
                                    ("pub", True, False)):  # fmt: skip
            api.add_project(name, public=public, proxy_cache=proxy)
        api.add_artifact("team/app", pushed.app, {"1.0": "2024-03-02T08:00:00.123Z"}, "2024-03-02T08:00:00.123Z")
        api.add_artifact("team/app", pushed.multi, {"2.0": "2024-04-02T08:00:00Z", "stable": "2024-04-03T08:00:00Z"},
                         "2024-04-02T08:00:00Z")  # fmt: skip
        api.add_artifact(
            "team/tools/builder", pushed.builder, {"latest": "2024-05-01T00:00:00Z"}, "2024-05-01T00:00:00Z"
        )
        api.add_artifact("library/nginx", pushed.nginx, {"1": "2024-02-01T00:00:00Z"}, "2024-02-01T00:00:00Z")
        api.add_artifact("cache/library/alpine", pushed.nginx, {"3": "2024-02-01T00:00:00Z"}, "2024-02-01T00:00:00Z")
        api.add_artifact("pub/site", pushed.nginx, {"1": "2024-02-01T00:00:00Z"}, "2024-02-01T00:00:00Z")
        for n, image in enumerate(pushed.many):
            api.add_artifact("team/many", image, {f"v{n}": "2024-06-01T00:00:00Z"}, "2024-06-01T00:00:00Z")
        yield api


def make(registry: RunningRegistry, harbor: HarborAPI, user: str | None, password: str | None = None,
         **options: Any) -> HarborRegistry:  # fmt: skip
    credentials = Credentials(user, Secret(password or PASSWORDS[user])) if user else None
    config = RegistryConfig("harbor", registry.url, credentials, options={"api_url": harbor.api_url, **options})
    return HarborRegistry(config, FAST)


def _manifest_gets(registry: RunningRegistry) -> int:
    return sum(1 for line in registry.log_file.read_text(errors="replace").splitlines() if "/manifests/" in line)


async def test_lists_member_projects_with_digests_platforms_and_times(
    registry: RunningRegistry, harbor: HarborAPI, pushed: Pushed
) -> None:
    manifests_before = _manifest_gets(registry)
    async with make(registry, harbor, "limited") as adapter:
        listings = {listing.name: listing for listing in await adapter.browse(with_tags=True)}
    assert set(listings) == {"team/app", "team/many", "team/tools/builder", "library/nginx"}  # no proxy, no public
    app = {tag.tag: tag for tag in listings["team/app"].tags or []}
    assert set(app) == {"1.0", "2.0", "stable"}
    assert app["1.0"].digest == pushed.app.digest and app["1.0"].platforms == ("linux/amd64",)
    assert app["1.0"].created is not None and app["1.0"].created.isoformat() == "2024-03-01T10:00:00+00:00"
    assert app["1.0"].created_source == "build"
    assert app["1.0"].pushed is not None and app["1.0"].pushed.isoformat() == "2024-03-02T08:00:00.123000+00:00"
    assert app["2.0"].digest == pushed.multi.digest == app["stable"].digest
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64/v8")
    assert [t.digest for t in listings["team/tools/builder"].tags or []] == [pushed.builder.digest]
    assert len(listings["team/many"].tags or []) == MANY
    # one request per page of 100 artifacts, the nested name encoded twice, and no manifest read from /v2/
    assert harbor.count("/repositories/many/artifacts") == 2
    assert harbor.count("/repositories/tools%252Fbuilder/artifacts") == 1
    assert _manifest_gets(registry) == manifests_before


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"include_proxy_cache": True}, {"cache/library/alpine"}),
        ({"include_public": True}, {"pub/site"}),
        ({"projects": ["library"]}, None),
    ],
)
async def test_project_choice(
    registry: RunningRegistry, harbor: HarborAPI, options: dict[str, Any], expected: set[str] | None
) -> None:
    async with make(registry, harbor, "limited", **options) as adapter:
        names = {name async for name in adapter.list_repositories()}
    if expected is None:
        assert names == {"library/nginx"}
    else:
        assert expected <= names and "team/app" in names


@pytest.mark.parametrize(
    ("user", "verdict", "detail"),
    [
        ("limited", Rights.READ_ONLY, "read-only roles on team, library"),
        ("dev", Rights.CAN_WRITE, "role Developer on project team"),
        ("admin", Rights.CAN_WRITE, "is a Harbor system administrator"),
        ("robot$team+scanner", Rights.READ_ONLY, "only read permissions on team"),
        ("robot$team+pusher", Rights.CAN_WRITE, "repository:push on project team"),
    ],
)
async def test_rights(registry: RunningRegistry, harbor: HarborAPI, user: str, verdict: Rights, detail: str) -> None:
    async with make(registry, harbor, user) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is verdict
    assert detail in result.rights.detail, result.rights
    if verdict is Rights.CAN_WRITE:
        assert "Limited Guest" in result.rights.recommendation or "only pull repository" in result.rights.recommendation


async def test_robot_sees_its_project(registry: RunningRegistry, harbor: HarborAPI) -> None:
    async with make(registry, harbor, "robot$team+scanner") as adapter:
        names = {name async for name in adapter.list_repositories()}
        result = await adapter.test()
    assert names == {"team/app", "team/many", "team/tools/builder"}
    assert "1 project(s) visible" in result.message


@pytest.mark.parametrize(
    ("user", "password", "options", "status", "reason"),
    [
        ("limited", "wrong", {}, ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials"),
        ("robot$team+scanner", "wrong", {}, ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials"),
        ("limited", None, {"projects": ["nosuch"]}, ConnectionStatus.NOT_FOUND, "project_not_found"),
    ],
)
async def test_failures(
    registry: RunningRegistry,
    harbor: HarborAPI,
    user: str,
    password: str | None,
    options: dict[str, Any],
    status: ConnectionStatus,
    reason: str,
) -> None:
    async with make(registry, harbor, user, password, **options) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (status, reason), result
    assert "limited-pw" not in f"{result}" and "wrong" not in result.message


async def test_not_harbor(registry: RunningRegistry) -> None:
    config = RegistryConfig("harbor", registry.url, Credentials("limited", Secret("limited-pw")))
    async with HarborRegistry(config, FAST) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.NOT_FOUND, "not_harbor")
    assert "not a Harbor v2 API" in result.message


async def test_a_project_the_account_may_not_read(registry: RunningRegistry, harbor: HarborAPI) -> None:
    async with make(registry, harbor, "robot$team+scanner") as adapter:
        listings = await adapter.browse(["library/nginx"], with_tags=True)
    assert listings[0].error is not None and "not a member" in listings[0].error


def test_cli(tmp_path: Path, registry: RunningRegistry, harbor: HarborAPI, pushed: Pushed) -> None:
    cli = CliEnv(tmp_path / "home")
    cli.run(
        "registry", "add", "--name", "harbor", "--type", "harbor", "--url", registry.url,
        "--username", "robot$team+scanner", "--password-stdin", "-o", f"api_url={harbor.api_url}",
        stdin=PASSWORDS["robot$team+scanner"] + "\n",
    )  # fmt: skip
    shown = json.loads(cli.run("registry", "show", "harbor", "--json").stdout)
    assert shown["connection"]["status"] == "Connected" and shown["connection"]["rights"] == "read-only"
    repos = json.loads(cli.run("registry", "repos", "harbor", "--tags", "--json", "--repository", "team/app").stdout)
    assert {t["tag"]: t["digest"] for t in repos[0]["tags"]} == {
        "1.0": pushed.app.digest,
        "2.0": pushed.multi.digest,
        "stable": pushed.multi.digest,
    }
    types = json.loads(cli.run("registry", "types", "--json").stdout)
    harbor_type = next(t for t in types if t["type"] == "harbor")
    assert "Limited Guest" in harbor_type["least_rights"]
    assert PASSWORDS["robot$team+scanner"] not in "\n".join(cli.transcript)
