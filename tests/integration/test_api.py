"""The REST API on a real `regscout serve`, and the promise that a password never leaks."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry

from .cli_support import CliEnv, Server, wait_until
from .test_matching import RECORDS

PASSWORD_WRONG = "Wrong-Password-That-Must-Not-Leak-7"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[CliEnv, Server]]:
    cli = CliEnv(tmp_path / "home")
    server = Server(cli)
    yield cli, server
    if server.process.poll() is None:
        server.stop()


def api(server: Server, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token or server.admin_token}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def test_every_route_needs_a_token(served: tuple[CliEnv, Server]) -> None:
    _, server = served
    assert server.admin_token and server.admin_token.startswith("rst_")
    assert httpx.get(server.url + "/api/v1/registries").status_code == 401
    assert api(server, "rst_0000_forged").get("/api/v1/registries").status_code == 401
    assert api(server).get("/api/v1/registries").json() == []
    assert httpx.get(server.url + "/docs").status_code == 200
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/api/v1/registries/{name}/test" in paths and "/api/v1/registries/{name}/repositories" in paths


def test_api_round_trip_and_no_secret_leaves(
    served: tuple[CliEnv, Server], registry_htpasswd: RunningRegistry, tmp_path: Path
) -> None:
    cli, server = served
    password = registry_htpasswd.accounts["alice"].password
    with Pusher(registry_htpasswd) as pusher:
        digest = pusher.push("api/app", "2", small_image("api"))
    bodies: list[str] = []
    with api(server) as client:

        def call(method: str, path: str, expect: int, **kwargs: object) -> httpx.Response:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            bodies.append(response.text)
            assert response.status_code == expect, response.text
            return response

        bad = call(
            "POST",
            "/api/v1/registries",
            422,
            json={
                "name": "h",
                "type": "docker-registry",
                "url": registry_htpasswd.url,
                "username": "alice",
                "password": PASSWORD_WRONG,
            },
        )
        assert bad.json()["status"] == "Authorization failed" and bad.json()["reason"] == "bad_credentials"
        created = call(
            "POST",
            "/api/v1/registries",
            201,
            json={
                "name": "h",
                "type": "docker-registry",
                "url": registry_htpasswd.url,
                "username": "alice",
                "password": password,
                "description": "lab",
            },
        ).json()
        assert created["test"]["status"] == "Connected"
        assert created["test"]["rights"]["verdict"] == "can write"
        call("POST", "/api/v1/registries", 409, json={"name": "h", "type": "docker-registry", "url": "x"})
        call("GET", "/api/v1/registries/nope", 404)
        assert call("GET", "/api/v1/registries/h", 200).json()["has_secret"] is True
        assert call("POST", "/api/v1/registries/h/test", 200).json()["status"] == "Connected"
        listing = call(
            "GET", "/api/v1/registries/h/repositories", 200, params={"tags": "true", "repository": "api/app"}
        ).json()
        assert listing[0]["tags"][0]["digest"] == digest
        # an edit with a wrong password is refused; the stored one keeps working
        call("PATCH", "/api/v1/registries/h", 422, json={"password": PASSWORD_WRONG})
        call("PATCH", "/api/v1/registries/h", 200, json={"description": "prod"})
        assert call("POST", "/api/v1/registries/h/test", 200).json()["status"] == "Connected"
        types = call("GET", "/api/v1/registry-types", 200).json()
        assert "docker-registry" in {t["type"] for t in types}
        new_token = call("POST", "/api/v1/tokens", 201, json={"name": "ci"}).json()["secret"]
        assert api(server, new_token).get("/api/v1/registries").status_code == 200
        call("DELETE", "/api/v1/tokens/ci", 200)
        assert api(server, new_token).get("/api/v1/registries").status_code == 401

    cli.run("registry", "list")
    cli.run("registry", "show", "h", "--json")
    cli.run("registry", "test", "h")
    cli.run("registry", "repos", "h", "--tags")
    log = server.stop()

    haystacks = {"api responses": "\n".join(bodies), "server log": log, "cli output": "\n".join(cli.transcript)}
    for path in cli.home.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            haystacks[str(path)] = path.read_bytes().decode("latin-1")
    for where, text in haystacks.items():
        for secret in (password, PASSWORD_WRONG):
            assert secret not in text, f"a password leaked into {where}"
    assert any(name.endswith("regscout.db") for name in haystacks)


def test_serve_runs_the_scheduled_data_update(tmp_path: Path, registry_anonymous: RunningRegistry) -> None:
    """`regscout serve` updates the vulnerability data on its schedule (from a local mirror here)."""
    mirror = tmp_path / "mirror" / "Debian"
    mirror.mkdir(parents=True)
    with zipfile.ZipFile(mirror / "all.zip", "w") as archive:
        for rec in RECORDS:
            archive.writestr(f"{rec['id'].replace(':', '_')}.json", json.dumps(rec))
    cli = CliEnv(
        tmp_path / "home",
        extra={
            "REGSCOUT_VULN_MIRROR": str(tmp_path / "mirror"),
            "REGSCOUT_VULN_SOURCES": '["Debian"]',
            "REGSCOUT_VULN_UPDATE_INTERVAL": "1",
        },
    )
    server = Server(cli)
    try:
        with api(server) as client:

            def updated() -> bool:
                sources = client.get("/api/v1/db/status").json()["sources"]
                return any(s["name"] == "debian" and s.get("last_success_at") for s in sources)

            wait_until(updated, 60, lambda: f"no scheduled update: {server.log.read_text()[-2000:]}")
            status = client.get("/api/v1/db/status").json()
            debian = next(s for s in status["sources"] if s["name"] == "debian")
            assert debian["record_count"] == len([r for r in RECORDS if "withdrawn" not in r])
    finally:
        server.stop()
