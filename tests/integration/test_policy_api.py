"""/api/v1/policies and /api/v1/acceptances: the answers and errors a client sees, the background re-evaluation
each change starts, and who the audit log says made the change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from regscout.api.app import create_app
from regscout.runtime import Runtime
from regscout.services.audit import SYSTEM

from .test_result_index import finding
from .test_verdicts import overall, save


@pytest.fixture
def client(sqlite_runtime: Runtime) -> Iterator[TestClient]:
    _, secret = sqlite_runtime.tokens.create("security", actor=SYSTEM)
    with TestClient(create_app(sqlite_runtime), headers={"Authorization": f"Bearer {secret.reveal()}"}) as c:
        yield c


def test_policy_crud_errors_and_reevaluation(client: TestClient, sqlite_runtime: Runtime) -> None:
    save(sqlite_runtime, "sha256:" + "e" * 64, "team/app", [finding("CVE-2024-0001", "openssl", "CRITICAL")])
    policy = {"name": "no critical", "action": "block", "criteria": {"severity": "CRITICAL"}}
    created = client.post("/api/v1/policies", json=policy)
    assert created.status_code == 201 and created.json()["updated_by"] == "token:security"
    assert sqlite_runtime.reevaluation.wait(30)
    assert overall(sqlite_runtime) == {"team/app": ("fail", 0)}
    assert client.get("/api/v1/policies").json()[0]["images"] == {"fail": 1}

    assert client.post("/api/v1/policies", json=policy).status_code == 409
    invalid = client.post("/api/v1/policies", json={"name": "x", "criteria": {"cvss": 12}})
    assert invalid.status_code == 422 and "cvss" in invalid.json()["detail"]
    assert client.get("/api/v1/policies/nothing").status_code == 404
    assert client.post("/api/v1/policies/nothing/enable").status_code == 404

    renamed = client.put("/api/v1/policies/no critical", json={**policy, "name": "no criticals", "action": "warn"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "no criticals"
    assert sqlite_runtime.reevaluation.wait(30)
    assert overall(sqlite_runtime) == {"team/app": ("warn", 0)}
    assert client.post("/api/v1/policies/no criticals/disable").json()["enabled"] is False
    assert sqlite_runtime.reevaluation.wait(30)
    assert overall(sqlite_runtime) == {"team/app": ("", 0)}
    assert client.delete("/api/v1/policies/no criticals").status_code == 204
    assert client.get("/api/v1/policies").json() == []
    actions = [(e.action, e.actor, e.actor_kind) for e in sqlite_runtime.audit.list(action="policy.")]
    assert actions[0] == ("policy.delete", "security", "token") and len(actions) == 4


def test_acceptances_through_the_api(client: TestClient, sqlite_runtime: Runtime) -> None:
    save(sqlite_runtime, "sha256:" + "f" * 64, "team/app", [finding("CVE-2024-0001", "openssl", "CRITICAL")])
    client.post(
        "/api/v1/policies", json={"name": "no critical", "action": "block", "criteria": {"severity": "CRITICAL"}}
    )
    body = {"vulnerability": "CVE-2024-0001", "scope": "everywhere", "reason": "mitigated", "expires": "2999-01-01"}
    accepted = client.post("/api/v1/acceptances", json=body)
    assert accepted.status_code == 201 and accepted.json()["by"] == "security" and accepted.json()["state"] == "active"
    assert sqlite_runtime.reevaluation.wait(30)
    assert overall(sqlite_runtime) == {"team/app": ("pass", 1)}
    wrong = client.post("/api/v1/acceptances", json={**body, "scope": "image"})
    assert wrong.status_code == 422 and "digest" in wrong.json()["detail"]
    ident = accepted.json()["id"]
    assert client.delete(f"/api/v1/acceptances/{ident}").json()["state"] == "revoked"
    assert sqlite_runtime.reevaluation.wait(30)
    assert overall(sqlite_runtime) == {"team/app": ("fail", 0)}
    assert client.get("/api/v1/acceptances").json() == []
    assert [a["state"] for a in client.get("/api/v1/acceptances", params={"include_revoked": True}).json()] == [
        "revoked"
    ]
    assert client.delete("/api/v1/acceptances/999").status_code == 404
