"""The audit log: append-only in the database itself (SQLite and PostgreSQL); one event per change made through the
CLI, the API, the console and Harbor's scanner API, with who made it and from where; filters, paging and the JSON
lines export; and never a secret, neither the old one nor the new one."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from regscout.api.app import create_app
from regscout.runtime import Runtime
from regscout.secrets import Secret
from regscout.services import audit as audit_module
from regscout.services.audit import SYSTEM, Actor, AuditEntry
from regscout.services.integrations import IntegrationChanges, IntegrationInput, InvalidIntegration
from regscout.services.users import UserError
from regscout.web.pages import audit as audit_page

from .cli_support import CliEnv
from .test_matching import record

NOWHERE = "http://127.0.0.1:9"  # nothing listens: every change here is saved untested
PASSWORD_1 = "First-Registry-Password-0451"
PASSWORD_2 = "Second-Registry-Password-0452"
SET_PASSWORD = "Credential-Set-Password-0453"
USER_PASSWORD_1 = "console password one 0454"
USER_PASSWORD_2 = "console password two 0455"
SECRETS = (PASSWORD_1, PASSWORD_2, SET_PASSWORD, USER_PASSWORD_1, USER_PASSWORD_2)


def stored_rows(runtime: Runtime) -> str:
    """Every column of every audit row, as text."""
    with runtime.db.session() as session:
        return json.dumps([list(map(str, row)) for row in session.execute(text("SELECT * FROM audit_events"))])


def oldest_first(runtime: Runtime) -> list[AuditEntry]:
    return list(reversed(runtime.audit.list(limit=1000)))


def assert_no_secret(*texts: str, secrets: tuple[str, ...] = SECRETS) -> None:
    for found in texts:
        for secret in secrets:
            assert secret not in found


# ---- the table ---------------------------------------------------------------------------------------------


def test_the_database_refuses_to_change_or_delete_an_event(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        runtime.audit.record(session, SYSTEM, "token.create", "ci", {"role": {"from": None, "to": "admin"}})
    refused = ["UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"]
    if runtime.db.engine.dialect.name == "postgresql":
        refused.append("TRUNCATE audit_events")  # no row trigger sees it; a statement trigger does
    for statement in refused:
        with pytest.raises(DBAPIError, match="audit_events is append-only"), runtime.db.session() as session:
            session.execute(text(statement))
    [entry] = runtime.audit.list()
    assert (entry.actor_kind, entry.actor, entry.source, entry.action, entry.target) == (
        "system",
        "regscout",
        "",
        "token.create",
        "ci",
    )


def test_an_event_commits_and_rolls_back_with_its_change(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), runtime.db.session() as session:
        runtime.audit.record(session, SYSTEM, "token.create", "never", {})
        raise RuntimeError("the change failed after its event was added")
    with pytest.raises(UserError):
        runtime.users.add("ana", Secret("short"), actor=SYSTEM)  # refused: nothing changed, nothing recorded
    with pytest.raises(InvalidIntegration):
        asyncio.run(runtime.integrations.add(IntegrationInput("bad", "no-such-type", NOWHERE), actor=SYSTEM))
    assert runtime.audit.list() == []


# ---- what the services record ------------------------------------------------------------------------------


def test_integration_changes_are_recorded_field_by_field_without_secrets(runtime: Runtime) -> None:
    ana = Actor("user", "ana", "192.0.2.7")
    data = IntegrationInput("lab", "docker-registry", NOWHERE, username="bob", secret=Secret(PASSWORD_1))
    asyncio.run(runtime.integrations.add(data, actor=ana, test=False))
    new_password = IntegrationChanges(secret=Secret(PASSWORD_2), url="http://127.0.0.1:10")
    asyncio.run(runtime.integrations.edit("lab", new_password, actor=ana, test=False))
    rules = IntegrationChanges(pull={"include": ["team/*"]})
    asyncio.run(runtime.integrations.edit("lab", rules, actor=ana, test=False))
    asyncio.run(runtime.integrations.edit("lab", IntegrationChanges(description=""), actor=ana, test=False))  # same
    asyncio.run(runtime.credential_sets.add("lab", "team/*", "robot", Secret(SET_PASSWORD), actor=ana, test=False))
    runtime.credential_sets.remove("lab", "team/*", actor=ana)
    runtime.integrations.delete("lab", actor=ana)

    events = oldest_first(runtime)
    assert [(e.action, e.target) for e in events] == [
        ("integration.create", "lab"),
        ("integration.update", "lab"),
        ("credentials.update", "lab"),
        ("rules.update", "lab"),
        ("credential_set.create", "lab"),
        ("credential_set.delete", "lab"),
        ("integration.delete", "lab"),
    ]
    assert {(e.actor_kind, e.actor, e.source) for e in events} == {("user", "ana", "192.0.2.7")}
    create, update, credentials, rules_update, set_create, set_delete, delete = (e.changes for e in events)
    assert create["secret"] == {"changed": True} and create["username"] == {"from": None, "to": "bob"}
    assert create["url"] == {"from": None, "to": NOWHERE} and create["auth"] == {"from": None, "to": "password"}
    assert update == {"url": {"from": NOWHERE, "to": "http://127.0.0.1:10"}}
    assert credentials == {"secret": {"changed": True}}
    assert rules_update == {"include": {"from": [], "to": ["team/*"]}}
    assert set_create == {
        "pattern": {"from": None, "to": "team/*"},
        "username": {"from": None, "to": "robot"},
        "secret": {"changed": True},
    }
    assert set_delete["pattern"] == {"from": "team/*", "to": None} and set_delete["secret"] == {"changed": True}
    assert delete["url"] == {"from": "http://127.0.0.1:10", "to": None}
    exported = "".join(runtime.audit.iter_jsonl())
    assert_no_secret(exported, stored_rows(runtime))


def test_tokens_users_harbor_registrations_and_key_rotation_are_recorded(runtime: Runtime) -> None:
    cli = Actor("cli", "ops", "local")
    _, token = runtime.tokens.create("ci", actor=cli)
    runtime.tokens.revoke("ci", actor=cli)
    runtime.tokens.revoke("ci", actor=cli)  # revoked already: no change, no event
    runtime.users.add("ana", Secret(USER_PASSWORD_1), actor=cli)
    runtime.users.set_password("ana", Secret(USER_PASSWORD_2), actor=cli)
    runtime.users.remove("ana", actor=cli)
    _, first_key = runtime.harbor_registrations.add("h1", actor=cli)
    _, second_key = runtime.harbor_registrations.rotate("h1", actor=cli)
    runtime.harbor_registrations.edit("h1", scan_timeout_seconds=3600, registry_hosts=["harbor.example"], actor=cli)
    runtime.harbor_registrations.edit("h1", scan_timeout_seconds=3600, actor=cli)  # nothing differs: no event
    runtime.harbor_registrations.remove("h1", actor=cli)
    assert runtime.integrations.rotate_secrets(runtime.box, actor=cli) == 0

    events = {e.action: e for e in oldest_first(runtime)}
    assert list(events) == [
        "token.create",
        "token.revoke",
        "user.create",
        "user.password",
        "user.delete",
        "harbor_registration.create",
        "harbor_registration.rotate",
        "harbor_registration.update",
        "harbor_registration.delete",
        "secrets.rotate",
    ]
    assert events["token.create"].changes["role"] == {"from": None, "to": "admin"}
    assert events["user.create"].changes == {"role": {"from": None, "to": "admin"}, "password": {"changed": True}}
    assert events["user.password"].changes == {"password": {"changed": True}}
    rotated = events["harbor_registration.rotate"].changes
    assert rotated["key"] == {"changed": True} and rotated["key_prefix"]["from"] != rotated["key_prefix"]["to"]
    assert events["harbor_registration.update"].changes == {
        "scan_timeout_seconds": {"from": 1800.0, "to": 3600.0},
        "registry_hosts": {"from": [], "to": ["harbor.example"]},
    }
    assert events["secrets.rotate"].changes == {"re_encrypted": 0}
    keys = (token.reveal(), first_key.reveal(), second_key.reveal())
    assert_no_secret("".join(runtime.audit.iter_jsonl()), stored_rows(runtime), secrets=SECRETS + keys)


def test_the_first_start_is_recorded_as_regscout_itself(runtime: Runtime) -> None:
    assert runtime.tokens.bootstrap_admin() is not None and runtime.users.bootstrap_admin() is not None
    assert [(e.actor_kind, e.actor, e.action, e.target) for e in oldest_first(runtime)] == [
        ("system", "regscout", "token.create", "admin"),
        ("system", "regscout", "user.create", "admin"),
    ]


# ---- reading it back ---------------------------------------------------------------------------------------


def test_filters_paging_and_the_export_order(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    made = [
        (Actor("user", "ana", "10.0.0.1"), "integration.create", "lab"),
        (Actor("token", "ci", "10.0.0.2"), "integration.update", "lab"),
        (Actor("user", "ana", "10.0.0.1"), "token.create", "deploy"),
        (Actor("cli", "ops", "local"), "integration.delete", "lab"),
        (Actor("token", "ci", "10.0.0.2"), "integration_x.create", "other"),
        (SYSTEM, "policy.create", "baseline"),
    ]
    for actor, action, target in made:
        with runtime.db.session() as session:
            runtime.audit.record(session, actor, action, target, {"n": {"from": None, "to": action}})
    everything = runtime.audit.list()
    assert [e.action for e in everything] == [action for _, action, _ in reversed(made)]  # newest first
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)

    def actions(**filters: Any) -> list[str]:
        return [e.action for e in runtime.audit.list(**filters)]

    assert actions(actor="ana") == ["token.create", "integration.create"]
    assert actions(action="integration.") == ["integration.delete", "integration.update", "integration.create"]
    assert actions(action="integration") == actions(action="integration.")  # not integration_x
    assert actions(action="integration.update") == ["integration.update"]
    assert actions(action="%") == [] and actions(action="integration_") == []  # LIKE wildcards are text here
    assert actions(target="lab", actor="ci") == ["integration.update"]
    third = everything[-3]
    assert actions(since=third.at) == ["policy.create", "integration_x.create", "integration.delete", "token.create"]
    assert actions(until=third.at) == ["integration.update", "integration.create"]
    assert actions(since=everything[-2].at, until=third.at) == ["integration.update"]

    pages, before = [], None
    while page := runtime.audit.list(limit=4, before_id=before):
        pages.append([e.id for e in page])
        before = page[-1].id
    assert [len(p) for p in pages] == [4, 2] and [i for p in pages for i in p] == [e.id for e in everything]

    monkeypatch.setattr(audit_module, "EXPORT_BATCH", 2)  # several batches, one ending exactly at the end
    for filters, expected in (({}, 6), ({"actor": "ci"}, 2), ({"action": "integration."}, 3)):
        lines = list(runtime.audit.iter_jsonl(**filters))  # type: ignore[arg-type]
        exported = [json.loads(line) for line in lines]
        assert len(exported) == expected and all(line.endswith("\n") for line in lines)
        assert [e["id"] for e in exported] == sorted(e["id"] for e in exported)  # oldest first
    out_lines = [json.loads(line) for line in "".join(runtime.audit.iter_jsonl()).splitlines()]
    assert out_lines == [e.model_dump(mode="json") for e in reversed(everything)]
    assert set(out_lines[0]) == {"id", "at", "actor_kind", "actor", "source", "action", "target", "changes"}


# ---- who made it: the CLI, the API, the console, Harbor --------------------------------------------------------


def test_cli_changes_are_recorded_as_the_os_user_from_local(tmp_path: Path) -> None:
    cli = CliEnv(tmp_path / "home")
    records = tmp_path / "osv"
    records.mkdir()
    (records / "TEST-1.json").write_text(json.dumps(record("TEST-1", "Debian:12", "zlib1g", versions=["1"])))
    cli.run(
        "registry", "add", "--name", "lab", "--type", "docker-registry", "--url", NOWHERE, "--username", "bob",
        "--password-stdin", "--no-test", stdin=PASSWORD_1 + "\n",
    )  # fmt: skip
    cli.run("registry", "edit", "lab", "--password-stdin", "--no-test", stdin=PASSWORD_2 + "\n")
    cli.run("registry", "edit", "lab", "--include", "team/*")
    cli.run(
        "registry", "credentials", "add", "lab", "team/*", "--username", "robot", "--password-stdin", "--no-test",
        stdin=SET_PASSWORD + "\n",
    )  # fmt: skip
    cli.run("registry", "credentials", "remove", "lab", "team/*")
    token = cli.run("token", "create", "ci").stdout.strip().splitlines()[-1]
    cli.run("token", "revoke", "ci")
    cli.run("users", "add", "ana", "--password-stdin", stdin=USER_PASSWORD_1 + "\n")
    cli.run("users", "passwd", "ana", "--password-stdin", stdin=USER_PASSWORD_2 + "\n")
    cli.run("users", "remove", "ana")
    key = json.loads(cli.run("harbor", "add", "h1", "--json").stdout)["key"]
    rotated = json.loads(cli.run("harbor", "rotate", "h1", "--json").stdout)["key"]
    cli.run("harbor", "edit", "h1", "--scan-timeout", "1h")
    cli.run("harbor", "remove", "h1")
    cli.run("db", "import", str(records), "--source", "fixtures")
    cli.run("secrets", "rotate")
    cli.run("registry", "delete", "lab", "--yes")

    events = list(reversed(json.loads(cli.run("audit", "list", "--format", "json", "--limit", "100").stdout)))
    assert [(e["action"], e["target"]) for e in events] == [
        ("integration.create", "lab"),
        ("credentials.update", "lab"),
        ("rules.update", "lab"),
        ("credential_set.create", "lab"),
        ("credential_set.delete", "lab"),
        ("token.create", "ci"),
        ("token.revoke", "ci"),
        ("user.create", "ana"),
        ("user.password", "ana"),
        ("user.delete", "ana"),
        ("harbor_registration.create", "h1"),
        ("harbor_registration.rotate", "h1"),
        ("harbor_registration.update", "h1"),
        ("harbor_registration.delete", "h1"),
        ("vulndb.import", "fixtures"),
        ("secrets.rotate", "stored credentials"),
        ("integration.delete", "lab"),
    ]
    assert {(e["actor_kind"], e["actor"], e["source"]) for e in events} == {("cli", getpass.getuser(), "local")}
    imported = events[14]["changes"]
    assert imported == {"location": str(records.resolve()), "kind": "osv-dir", "records": 1, "removed": 0}
    assert events[15]["changes"] == {"re_encrypted": 1}

    exported = cli.run("audit", "list", "--format", "jsonl").stdout
    assert [json.loads(line)["id"] for line in exported.splitlines()] == [e["id"] for e in events]
    assert_no_secret(exported, secrets=(*SECRETS, token, key, rotated))
    assert token.startswith("rst_") and key.startswith("rsh_")

    table = cli.run("audit", "list", "--action", "user.", "--actor", getpass.getuser()).stdout
    assert "user.password" in table and "password: changed" in table and "token.create" not in table
    refused = cli.run("audit", "list", "--since", "last tuesday", check_code=2)
    assert "not an ISO 8601 date" in refused.stderr
    assert cli.run("audit", "list", "--until", "2000-01-01", "--format", "jsonl").stdout == ""


@pytest.fixture
def api(runtime: Runtime) -> tuple[TestClient, dict[str, str]]:
    _, token = runtime.tokens.create("ci", actor=SYSTEM)
    return TestClient(create_app(runtime)), {"Authorization": f"Bearer {token.reveal()}"}


def test_api_changes_are_recorded_as_the_token_from_the_client_address(
    runtime: Runtime, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = api
    bodies: list[str] = []

    def call(method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = client.request(method, path, headers=headers, **kwargs)
        bodies.append(response.text)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    registry = {"name": "lab", "type": "docker-registry", "url": NOWHERE, "username": "bob", "password": PASSWORD_1}
    call("POST", "/api/v1/registries?test=false", 201, json=registry)
    call("PATCH", "/api/v1/registries/lab?test=false", 200, json={"password": PASSWORD_2})
    call("PATCH", "/api/v1/registries/lab", 200, json={"pull": {"never": ["*:dev"]}})
    credential_set = {"pattern": "team/app", "username": "robot", "password": SET_PASSWORD}
    call("POST", "/api/v1/registries/lab/credentials?test=false", 201, json=credential_set)
    call("DELETE", "/api/v1/registries/lab/credentials", 204, params={"pattern": "team/app"})
    deploy = call("POST", "/api/v1/tokens", 201, json={"name": "deploy"})["secret"]
    call("DELETE", "/api/v1/tokens/deploy", 200)
    key = call("POST", "/api/v1/harbor/registrations", 201, json={"name": "h1"})["key"]
    call("PATCH", "/api/v1/harbor/registrations/h1", 200, json={"insecure": True})
    rotated = call("POST", "/api/v1/harbor/registrations/h1/rotate", 200)["key"]
    call("DELETE", "/api/v1/harbor/registrations/h1", 204)
    call("DELETE", "/api/v1/registries/lab", 204)

    made = call("GET", "/api/v1/audit", 200, params={"actor": "ci"})
    assert [(e["action"], e["target"]) for e in reversed(made)] == [
        ("integration.create", "lab"),
        ("credentials.update", "lab"),
        ("rules.update", "lab"),
        ("credential_set.create", "lab"),
        ("credential_set.delete", "lab"),
        ("token.create", "deploy"),
        ("token.revoke", "deploy"),
        ("harbor_registration.create", "h1"),
        ("harbor_registration.update", "h1"),
        ("harbor_registration.rotate", "h1"),
        ("harbor_registration.delete", "h1"),
        ("integration.delete", "lab"),
    ]
    assert {(e["actor_kind"], e["actor"], e["source"]) for e in made} == {("token", "ci", "testclient")}
    assert made[-3]["changes"] == {"never": {"from": [], "to": ["*:dev"]}}  # rules.update, third oldest
    assert made[3]["changes"] == {"tls_insecure": {"from": False, "to": True}}  # harbor_registration.update

    newest = call("GET", "/api/v1/audit", 200, params={"limit": 5})
    older = call("GET", "/api/v1/audit", 200, params={"limit": 5, "before_id": newest[-1]["id"]})
    assert [e["id"] for e in newest + older] == [e["id"] for e in made[:10]]
    assert call("GET", "/api/v1/audit", 200, params={"action": "token."})[0]["action"] == "token.revoke"
    bad = client.get("/api/v1/audit", params={"since": "soon"}, headers=headers)
    assert bad.status_code == 422 and "not an ISO 8601 date" in bad.text
    assert client.get("/api/v1/audit").status_code == 401 and client.get("/api/v1/audit/export").status_code == 401

    export = client.get("/api/v1/audit/export", params={"actor": "ci"}, headers=headers)
    assert export.status_code == 200 and export.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in export.headers["content-disposition"]
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert lines == list(reversed(made))
    assert_no_secret(export.text, stored_rows(runtime), secrets=(*SECRETS, deploy, key, rotated))


def test_console_and_harbor_changes_are_recorded_as_their_user_and_registration(
    runtime: Runtime, api: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, headers = api
    asyncio.run(runtime.integrations.add(IntegrationInput("lab", "docker-registry", NOWHERE), actor=SYSTEM, test=False))
    runtime.users.add("ana", Secret(USER_PASSWORD_1), actor=SYSTEM)
    signed = runtime.users.sign_in("ana", USER_PASSWORD_1)
    assert signed is not None
    session_id, user = signed
    client.cookies.set("regscout_session", session_id)
    deleted = client.post("/registries/lab/delete", data={"csrf_token": user.csrf_token}, follow_redirects=False)
    assert deleted.status_code == 303
    [event] = runtime.audit.list(action="integration.delete")
    assert (event.actor_kind, event.actor, event.source, event.target) == ("user", "ana", "testclient", "lab")

    page = client.get("/audit", params={"action": "integration.delete"})
    assert page.status_code == 200 and 'data-action="integration.delete"' in page.text
    assert 'data-action="user.create"' not in page.text
    assert client.get("/audit", params={"until": "someday"}).status_code == 422
    download = client.get("/audit/export", params={"actor": "ana"})
    assert [json.loads(line)["action"] for line in download.text.splitlines()] == ["integration.delete"]
    monkeypatch.setattr(audit_page, "PER_PAGE", 2)  # four events: ci's token, lab, ana, lab's deletion
    first = client.get("/audit").text
    assert first.count("<tr data-event") == 2 and 'rel="next"' in first
    older = re.search(r'href="(/audit\?before=\d+)" rel="next"', first)
    assert older is not None
    second = client.get(older.group(1)).text
    assert 'data-action="integration.create"' in second and 'data-action="token.create"' in second
    assert 'rel="next"' not in second and ">Newest</a>" in second

    key = client.post("/api/v1/harbor/registrations", json={"name": "h1"}, headers=headers).json()["key"]
    scan = {
        "registry": {"url": NOWHERE, "authorization": ""},
        "artifact": {"repository": "library/tiny", "digest": "sha256:" + "1" * 64, "tag": "1"},
    }
    accepted = client.post(
        f"{runtime.settings.harbor_prefix}/api/v1/scan",
        json=scan,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/vnd.scanner.adapter.scan.request+json"},
    )
    assert accepted.status_code == 202, accepted.text
    [created] = runtime.audit.list(action="integration.create", actor="h1")
    assert (created.actor_kind, created.source, created.target) == (
        "harbor",
        "testclient",
        "Harbor External Integration (h1)",
    )
    assert created.changes == {"type": {"from": None, "to": "docker-registry"}, "url": {"from": None, "to": NOWHERE}}
    assert_no_secret(stored_rows(runtime), secrets=(*SECRETS, key))
