"""Console users and sessions in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from regscout.runtime import Runtime
from regscout.scanning.jobs import now_utc
from regscout.secrets import Secret
from regscout.services.audit import SYSTEM
from regscout.services.users import UserError
from regscout.store.console_models import ConsoleSession, ConsoleUser

PASSWORD = Secret("a long enough password")


def test_sign_in_with_the_right_password_only(runtime: Runtime) -> None:
    runtime.users.add("ana", PASSWORD, actor=SYSTEM)
    assert runtime.users.sign_in("ana", "wrong password!!") is None
    assert runtime.users.sign_in("nobody", PASSWORD.reveal()) is None
    signed = runtime.users.sign_in("ana", PASSWORD.reveal())
    assert signed is not None
    session_id, user = signed
    assert user.username == "ana" and user.role == "admin" and len(user.csrf_token) >= 40
    assert runtime.users.session_user(session_id) == user
    with runtime.db.session() as session:
        stored = session.scalars(select(ConsoleSession.id_hash)).one()
        hashed = session.scalars(select(ConsoleUser.password_hash)).one()
    assert session_id not in stored and hashed.startswith("$argon2id$") and PASSWORD.reveal() not in hashed
    runtime.users.sign_out(session_id)
    assert runtime.users.session_user(session_id) is None


def test_an_idle_session_ends_and_a_new_password_ends_them_all(runtime: Runtime) -> None:
    runtime.users.add("ben", PASSWORD, actor=SYSTEM)
    idle = runtime.users.sign_in("ben", PASSWORD.reveal())
    fresh = runtime.users.sign_in("ben", PASSWORD.reveal())
    assert idle is not None and fresh is not None
    with runtime.db.session() as session:
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.csrf_token == idle[1].csrf_token)
            .values(last_seen_at=now_utc() - runtime.users.idle_timeout - timedelta(seconds=1))
        )
    assert runtime.users.session_user(idle[0]) is None
    assert runtime.users.session_user(fresh[0]) is not None
    runtime.users.set_password("ben", Secret("another long password"), actor=SYSTEM)
    assert runtime.users.session_user(fresh[0]) is None
    assert runtime.users.sign_in("ben", PASSWORD.reveal()) is None


def test_a_disabled_user_cannot_sign_in_or_keep_a_session(runtime: Runtime) -> None:
    runtime.users.add("cat", PASSWORD, actor=SYSTEM)
    signed = runtime.users.sign_in("cat", PASSWORD.reveal())
    assert signed is not None
    with runtime.db.session() as session:
        session.execute(update(ConsoleUser).where(ConsoleUser.username == "cat").values(disabled=True))
    assert runtime.users.session_user(signed[0]) is None
    assert runtime.users.sign_in("cat", PASSWORD.reveal()) is None


def test_the_first_admin_is_made_once(runtime: Runtime) -> None:
    first = runtime.users.bootstrap_admin()
    assert first is not None and runtime.users.sign_in("admin", first.reveal()) is not None
    assert runtime.users.bootstrap_admin() is None


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("", PASSWORD, "admin", "user name"),
        ("two words", PASSWORD, "admin", "without spaces"),
        ("dan", Secret("short"), "admin", "at least 12"),
        ("dan", PASSWORD, "root", "role 'root'"),
    ],
)
def test_invalid_users_are_refused(runtime: Runtime, name: str, password: Secret, role: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        runtime.users.add(name, password, role, actor=SYSTEM)


def test_a_user_name_is_unique(runtime: Runtime) -> None:
    runtime.users.add("eve", PASSWORD, actor=SYSTEM)
    with pytest.raises(UserError, match="exists"):
        runtime.users.add("eve", PASSWORD, actor=SYSTEM)
