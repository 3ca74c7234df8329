"""The store on both databases: integrations, credentials at rest, statuses, tokens, key rotation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from regscout.registries.base import ConnectionResult, Rights, RightsReport
from regscout.registries.errors import ConnectionStatus
from regscout.runtime import Runtime
from regscout.secrets import Secret, SecretBox, generate_key
from regscout.services.audit import SYSTEM
from regscout.services.integrations import (
    IntegrationChanges,
    IntegrationExists,
    IntegrationInput,
    IntegrationNotFound,
    InvalidIntegration,
    _record_result,
)
from regscout.store.models import Integration

PASSWORD = "s3cret-Password-for-store"


async def _add(rt: Runtime, name: str = "reg", **kwargs: object) -> None:
    data = IntegrationInput(
        name=name,
        type="docker-registry",
        url="https://reg.example.com:5000/",
        username="svc",
        secret=Secret(PASSWORD),
        **kwargs,
    )  # type: ignore[arg-type]
    await rt.integrations.add(data, test=False, actor=SYSTEM)


@pytest.mark.anyio
async def test_add_list_show_edit_delete(runtime: Runtime) -> None:
    await _add(runtime, description="prod")
    [view] = runtime.integrations.list_all()
    assert (view.name, view.url, view.username, view.has_secret) == ("reg", "https://reg.example.com:5000", "svc", True)
    assert view.connection is None
    with pytest.raises(IntegrationExists):
        await _add(runtime)

    view, _ = await runtime.integrations.edit(
        "reg", IntegrationChanges(description="staging", new_name="reg2"), test=False, actor=SYSTEM
    )
    assert (view.name, view.description) == ("reg2", "staging")
    with runtime.db.session() as session:
        row = session.scalar(select(Integration).where(Integration.name == "reg2"))
        assert row is not None and row.secret_ciphertext is not None
        assert runtime.box.decrypt(row.secret_ciphertext).reveal() == PASSWORD  # kept across the edit
        assert PASSWORD not in row.secret_ciphertext

    await runtime.integrations.edit(
        "reg2", IntegrationChanges(secret=Secret("new-password-1")), test=False, actor=SYSTEM
    )
    adapter = runtime.integrations.adapter("reg2")
    assert adapter.config.credentials is not None and adapter.config.credentials.secret.reveal() == "new-password-1"
    await adapter.aclose()

    runtime.integrations.delete("reg2", actor=SYSTEM)
    assert runtime.integrations.list_all() == []
    with pytest.raises(IntegrationNotFound, match="regscout registry list"):
        runtime.integrations.get("reg2")


@pytest.mark.anyio
async def test_status_is_stored_timezone_aware(runtime: Runtime) -> None:
    await _add(runtime)
    checked = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    result = ConnectionResult(
        ConnectionStatus.AUTHORIZATION_FAILED,
        "bad_credentials",
        "rejected",
        "fix it",
        checked,
        RightsReport(Rights.READ_ONLY, "pull only"),
    )
    with runtime.db.session() as session:
        row = session.scalar(select(Integration).where(Integration.name == "reg"))
        assert row is not None
        _record_result(row, result)
    connection = runtime.integrations.get("reg").connection
    assert connection is not None
    assert (connection.status, connection.reason, connection.rights) == (
        "Authorization failed",
        "bad_credentials",
        "read-only",
    )
    assert connection.checked_at == checked and connection.checked_at.tzinfo is not None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "nope"}, "unknown registry type"),
        ({"url": "ftp://x"}, "not an http"),
        ({"url": "https://u:p@x"}, "not in the URL"),
        ({"auth": "anonymous"}, "anonymous auth"),
        ({"options": {"platform": "linux"}}, "OS/ARCH"),
        ({"options": {"colour": "red"}}, "colour"),
        ({"options": {"repositories": ["Bad Name"]}}, "not a valid repository name"),
        ({"ca_pem": "not a pem"}, "no valid PEM"),
    ],
)
async def test_invalid_input_is_refused_and_nothing_is_stored(
    runtime: Runtime, kwargs: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "name": "x",
        "type": "docker-registry",
        "url": "https://r.example.com",
        "username": "u",
        "secret": Secret(PASSWORD),
    }
    fields.update(kwargs)
    with pytest.raises(InvalidIntegration, match=message):
        await runtime.integrations.add(IntegrationInput(**fields), test=False, actor=SYSTEM)  # type: ignore[arg-type]
    assert runtime.integrations.list_all() == []


def test_tokens_create_verify_revoke(runtime: Runtime) -> None:
    view, secret = runtime.tokens.create("ci", actor=SYSTEM)
    assert runtime.tokens.verify(secret.reveal()) is not None
    assert runtime.tokens.verify(secret.reveal() + "x") is None
    assert runtime.tokens.verify("rst_" + view.prefix + "_guess") is None
    assert all(secret.reveal() not in repr(t) for t in runtime.tokens.list_all())
    runtime.tokens.revoke("ci", actor=SYSTEM)
    assert runtime.tokens.verify(secret.reveal()) is None
    assert runtime.tokens.bootstrap_admin() is None  # a token exists already


@pytest.mark.anyio
async def test_rotation_re_encrypts_every_credential(runtime: Runtime) -> None:
    await _add(runtime, name="a")
    await _add(runtime, name="b")
    new_key = generate_key()
    assert runtime.integrations.rotate_secrets(SecretBox([new_key, *runtime.box.keys]), actor=SYSTEM) == 2
    only_new = SecretBox([new_key])
    with runtime.db.session() as session:
        for row in session.scalars(select(Integration)):
            assert row.secret_ciphertext is not None
            assert only_new.decrypt(row.secret_ciphertext).reveal() == PASSWORD


def test_migrations_are_idempotent(runtime: Runtime) -> None:
    runtime.db.migrate()
    runtime.db.migrate()
    assert runtime.integrations.list_all() == []
