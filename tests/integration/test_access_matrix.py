"""Every route × every role, generated from the application's own route table: a role allowed by access.ROUTES is
never refused (no 401/403), a role not allowed always gets 403, no credential gets 401 (API) or the sign-in page
(console), and a route missing from the table is a failure here — so a new route cannot be forgotten. Then the
same for a principal limited by scopes: objects outside its scopes answer 404 as if they did not exist."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from regscout.access import HARBOR, PUBLIC, ROLE_PERMISSIONS, ROLES, SIGNED_IN, route_permission
from regscout.analysis.merge import Inventory
from regscout.api.app import application_routes, create_app
from regscout.policy import load_policies
from regscout.runtime import Runtime
from regscout.secrets import Secret
from regscout.services.audit import SYSTEM
from regscout.services.integrations import IntegrationInput

from .conftest import make_runtime
from .test_result_index import DEBIAN, finding

PASSWORD = "matrix-password-1234"
IN_HOST, OUT_HOST = "127.0.0.1:9", "127.0.0.1:7"  # nothing listens there: a scan fails at once, not on a timeout
IN_DIGEST, OUT_DIGEST = "sha256:" + "1" * 64, "sha256:" + "2" * 64
# What each path parameter is filled with: objects that exist (so an allowed request reaches its handler).
VALUES = {
    "digest": IN_DIGEST,
    "job_id": "1",
    "ident": "1",
    "sync_id": "1",
    "pattern": "team",
    "fmt": "json",
    "scan_id": "none",
}
NAMES = {
    "/api/v1/policies": "no critical",
    "/policies": "no critical",
    "/api/v1/tokens": "nobody",
    "/api/v1/harbor": "h",
}


@dataclass(frozen=True)
class Seeded:
    runtime: Runtime
    client: TestClient
    tokens: dict[str, str]  # role → bearer token
    sessions: dict[str, tuple[str, str]]  # role → (session cookie, CSRF token)


def _seed(home: Path, scoped: tuple[str, ...] = ()) -> tuple[Runtime, dict[str, str], dict[str, tuple[str, str]]]:
    runtime = make_runtime(home)
    for name, host in (("inreg", IN_HOST), ("outreg", OUT_HOST)):
        asyncio.run(
            runtime.integrations.add(
                IntegrationInput(name=name, type="docker-registry", url=f"http://{host}"), actor=SYSTEM, test=False
            )
        )
    for digest, host in ((IN_DIGEST, IN_HOST), (OUT_DIGEST, OUT_HOST)):
        runtime.results.save(
            digest=digest,
            registry_host=host,
            repository="team/app",
            reference="1.0",
            platform="linux/amd64",
            inventory=Inventory(DEBIAN, []),
            findings=[finding("CVE-2024-0001", "openssl", "CRITICAL")],
        )
    runtime.policies.apply(
        load_policies("policies:\n  - name: no critical\n    criteria: {severity: CRITICAL}\n"), actor=SYSTEM
    )
    tokens: dict[str, str] = {}
    sessions: dict[str, tuple[str, str]] = {}
    for role in ROLES:
        tokens[role] = runtime.tokens.create(f"t-{role}", role, scopes=scoped, actor=SYSTEM)[1].reveal()
        runtime.users.add(f"u-{role}", Secret(PASSWORD), role, scopes=scoped, actor=SYSTEM)
        signed = runtime.users.sign_in(f"u-{role}", PASSWORD)
        assert signed is not None
        sessions[role] = (signed[0], signed[1].csrf_token)
    return runtime, tokens, sessions


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    monkeypatch.setenv("REGSCOUT_VULN_MIRROR", str(tmp_path / "no-mirror"))  # a data update fails here, at once
    runtime, tokens, sessions = _seed(tmp_path / "home")
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield Seeded(runtime, client, tokens, sessions)
    runtime.db.dispose()


def _fill(path: str, registry: str = "inreg", digest: str = IN_DIGEST) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name == "name":
            return next((v for prefix, v in NAMES.items() if path.startswith(prefix)), registry)
        return digest if name == "digest" else VALUES.get(name, "x")

    return re.sub(r"\{([^}]+)\}", value, path)


def _routes(runtime: Runtime) -> list[tuple[str, str, str]]:
    app = create_app(runtime)
    found = []
    for method, path, _ in application_routes(app):
        permission = route_permission(method, path, runtime.settings.harbor_prefix)
        assert permission is not None, f"{method} {path} is not in access.ROUTES: give it a permission there"
        found.append((method, path, permission))
    return sorted(found, key=lambda route: route[1] == "/logout")  # signing out ends the session: last


def _request(seeded: Seeded, method: str, path: str, role: str | None) -> httpx.Response:
    if role is not None:
        return _request_url(seeded, method, path, _fill(path), role)
    seeded.client.cookies.clear()
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return seeded.client.request(method, _fill(path), json=body, follow_redirects=False)


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/metrics"


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(seeded: Seeded, role: str) -> None:
    wrong: list[str] = []
    for method, path, permission in _routes(seeded.runtime):
        if permission in (PUBLIC, HARBOR):
            continue
        answer = _request(seeded, method, path, role)
        allowed = permission == SIGNED_IN or permission in ROLE_PERMISSIONS[role]
        if allowed and answer.status_code in (401, 403):
            wrong.append(
                f"{method} {path} ({permission}): {answer.status_code} for allowed {role}: {answer.text[:200]}"
            )
        if not allowed and answer.status_code != 403:
            wrong.append(f"{method} {path} ({permission}): {answer.status_code} for {role}, which may not")
    assert wrong == []


def test_every_route_without_credentials(seeded: Seeded) -> None:
    wrong: list[str] = []
    for method, path, permission in _routes(seeded.runtime):
        if permission in (PUBLIC, HARBOR):
            continue
        answer = _request(seeded, method, path, None)
        if _is_api(path):
            if answer.status_code != 401:
                wrong.append(f"{method} {path}: {answer.status_code} without a token")
        elif not (
            answer.status_code in (303, 401)
            and "/login" in (answer.headers.get("location", "") + answer.headers.get("hx-redirect", ""))
        ):
            wrong.append(f"{method} {path}: {answer.status_code} without a session")
    assert wrong == []


def test_the_table_has_no_route_the_application_lacks(seeded: Seeded) -> None:
    from regscout.access import ROUTES

    served = {f"{m} {p}" for m, p, _ in application_routes(create_app(seeded.runtime))}
    assert sorted(set(ROUTES) - served) == []


@pytest.fixture
def scoped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    """Every role's token and user limited to the registry at IN_HOST."""
    monkeypatch.setenv("REGSCOUT_VULN_MIRROR", str(tmp_path / "no-mirror"))
    runtime, tokens, sessions = _seed(tmp_path / "home", scoped=(IN_HOST,))
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield Seeded(runtime, client, tokens, sessions)
    runtime.db.dispose()


def _object_routes(runtime: Runtime) -> list[tuple[str, str, str]]:
    """The routes that name a registry or a stored image in their path."""
    return [
        (m, p, permission)
        for m, p, permission in _routes(runtime)
        if permission not in (PUBLIC, HARBOR, SIGNED_IN)
        and ("{digest}" in p or (p.startswith(("/api/v1/registries/{name}", "/registries/{name")) and "{name" in p))
    ]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "harbor-scanner"])
def test_objects_out_of_scope_do_not_exist(scoped: Seeded, role: str) -> None:
    wrong: list[str] = []
    for method, path, permission in _object_routes(scoped.runtime):
        url = _fill(path, registry="outreg", digest=OUT_DIGEST)
        answer = _request_url(scoped, method, path, url, role)
        expected = 404 if permission in ROLE_PERMISSIONS[role] else 403
        if answer.status_code != expected:
            wrong.append(f"{method} {url}: {answer.status_code}, expected {expected} for {role}")
        inside = _request_url(scoped, method, path, _fill(path), role)
        if permission in ROLE_PERMISSIONS[role] and inside.status_code in (401, 403):
            wrong.append(f"{method} {path} in scope: {inside.status_code} for {role}")
    assert wrong == []


@pytest.mark.parametrize(
    "path", ["/api/v1/registries", "/api/v1/results", "/registries", "/images", "/vulnerabilities?q=CVE-2024-0001"]
)
def test_lists_and_searches_show_only_what_is_in_scope(scoped: Seeded, path: str) -> None:
    answer = _request_url(scoped, "GET", path.split("?")[0], path, "auditor")
    assert answer.status_code == 200, answer.text[:300]
    assert IN_HOST in answer.text and OUT_HOST not in answer.text
    assert OUT_DIGEST not in answer.text


def test_scans_and_checks_out_of_scope_are_refused_before_any_pull(scoped: Seeded) -> None:
    headers = {"Authorization": f"Bearer {scoped.tokens['ci']}"}
    for path, body in (
        ("/api/v1/check", {"image": f"{OUT_HOST}/team/app:1.0"}),
        ("/api/v1/scan", {"ref": f"{OUT_HOST}/team/app:1.0"}),
    ):
        answer = scoped.client.post(path, json=body, headers=headers)
        assert answer.status_code == 404, (path, answer.text)
        inside = scoped.client.post(
            path, json={k: v.replace(OUT_HOST, IN_HOST) for k, v in body.items()}, headers=headers
        )
        assert inside.status_code not in (401, 403, 404), (path, inside.text)  # allowed: it fails at the pull (502)


def _request_url(seeded: Seeded, method: str, path: str, url: str, role: str) -> httpx.Response:
    client = seeded.client
    client.cookies.clear()
    headers: dict[str, str] = {}
    if _is_api(path):
        headers["Authorization"] = f"Bearer {seeded.tokens[role]}"
    else:
        cookie, csrf = seeded.sessions[role]
        client.cookies.set("regscout_session", cookie)
        headers["X-CSRF-Token"] = csrf
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, url, json=body, headers=headers, follow_redirects=False)


def test_a_scoped_principal_adds_only_registries_it_owns(scoped: Seeded) -> None:
    headers = {"Authorization": f"Bearer {scoped.tokens['security-officer']}"}
    body = {"name": "elsewhere", "type": "docker-registry", "url": f"http://{OUT_HOST}"}
    refused = scoped.client.post("/api/v1/registries", params={"test": False}, json=body, headers=headers)
    assert refused.status_code == 403 and "whole registry" in refused.json()["detail"]
    owned = {**body, "name": "mine", "url": f"http://{IN_HOST}"}
    assert (
        scoped.client.post("/api/v1/registries", params={"test": False}, json=owned, headers=headers).status_code == 201
    )
