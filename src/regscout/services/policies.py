"""Stored policies and risk acceptances: create, replace, enable, remove, import and export, each change recorded
in the audit log in the same transaction. Re-evaluating the stored images afterwards is the caller's step (the
CLI runs it at once, the server in the background)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..policy import Acceptance, Policy, default_policies
from ..store.db import Database
from ..store.policy_models import AcceptanceRow, PolicyRow
from .audit import Actor, AuditLog, changed_fields

__all__ = [
    "AcceptanceNotFound",
    "AcceptanceService",
    "AcceptanceView",
    "Applied",
    "PolicyExists",
    "PolicyNotFound",
    "PolicyService",
    "PolicyView",
]


class PolicyNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no policy is named {name!r} (regscout policy list shows them)")


class PolicyExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a policy named {name!r} exists already: edit it, or give the new one another name")


class AcceptanceNotFound(LookupError):
    def __init__(self, ident: int) -> None:
        super().__init__(f"no risk acceptance has id {ident} (regscout accept list shows them)")


@dataclass(frozen=True)
class PolicyView:
    policy: Policy
    position: int
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def name(self) -> str:
        return self.policy.name

    def as_json(self) -> dict[str, Any]:
        return {
            **self.policy.model_dump(mode="json"),
            "position": self.position,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class Applied:
    created: list[str]
    updated: list[str]
    unchanged: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _view(row: PolicyRow) -> PolicyView:
    return PolicyView(Policy.model_validate(row.document), row.position, row.created_at, row.updated_at, row.updated_by)


def _who(actor: Actor) -> str:
    return f"{actor.kind}:{actor.name}"


class PolicyService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def list_all(self) -> list[PolicyView]:
        with self.db.session() as session:
            return [_view(r) for r in session.scalars(select(PolicyRow).order_by(PolicyRow.position, PolicyRow.id))]

    def get(self, name: str) -> PolicyView:
        with self.db.session() as session:
            return _view(self._row(session, name))

    @staticmethod
    def _row(session: Session, name: str) -> PolicyRow:
        row = session.scalar(select(PolicyRow).where(PolicyRow.name == name))
        if row is None:
            raise PolicyNotFound(name)
        return row

    def create(self, policy: Policy, *, actor: Actor) -> PolicyView:
        with self.db.session() as session:
            if session.scalar(select(PolicyRow.id).where(PolicyRow.name == policy.name)) is not None:
                raise PolicyExists(policy.name)
            row = self._insert(session, policy, actor)
            return _view(row)

    def _insert(self, session: Session, policy: Policy, actor: Actor) -> PolicyRow:
        position = (session.scalar(select(func.max(PolicyRow.position))) or 0) + 1
        now = datetime.now(UTC)
        document = policy.model_dump(mode="json")
        row = PolicyRow(
            name=policy.name,
            position=position,
            enabled=policy.enabled,
            document=document,
            created_at=now,
            updated_at=now,
            updated_by=_who(actor),
        )
        session.add(row)
        session.flush()
        self.audit.record(session, actor, "policy.create", policy.name, {"policy": document})
        return row

    def replace(self, name: str, policy: Policy, *, actor: Actor) -> PolicyView:
        """The policy named ``name`` becomes ``policy`` (which may rename it)."""
        with self.db.session() as session:
            row = self._row(session, name)
            if policy.name != name and session.scalar(select(PolicyRow.id).where(PolicyRow.name == policy.name)):
                raise PolicyExists(policy.name)
            self._update(session, row, policy, actor)
            return _view(row)

    def _update(self, session: Session, row: PolicyRow, policy: Policy, actor: Actor) -> bool:
        document = policy.model_dump(mode="json")
        changes = changed_fields(row.document, document)
        if not changes:
            return False
        target = row.name
        row.name, row.enabled, row.document = policy.name, policy.enabled, document
        row.updated_at, row.updated_by = datetime.now(UTC), _who(actor)
        action = "policy.update"
        if set(changes) == {"enabled"}:
            action = "policy.enable" if policy.enabled else "policy.disable"
        self.audit.record(session, actor, action, target, changes)
        return True

    def set_enabled(self, name: str, enabled: bool, *, actor: Actor) -> PolicyView:
        with self.db.session() as session:
            row = self._row(session, name)
            policy = Policy.model_validate(row.document).model_copy(update={"enabled": enabled})
            self._update(session, row, policy, actor)
            return _view(row)

    def delete(self, name: str, *, actor: Actor) -> None:
        with self.db.session() as session:
            row = self._row(session, name)
            session.delete(row)
            self.audit.record(session, actor, "policy.delete", name, {"policy": row.document})

    def apply(self, policies: Sequence[Policy], *, actor: Actor) -> Applied:
        """Create or replace each policy by name (an import); policies not named are left alone."""
        created: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        with self.db.session() as session:
            for policy in policies:
                row = session.scalar(select(PolicyRow).where(PolicyRow.name == policy.name))
                if row is None:
                    self._insert(session, policy, actor)
                    created.append(policy.name)
                elif self._update(session, row, policy, actor):
                    updated.append(policy.name)
                else:
                    unchanged.append(policy.name)
        return Applied(created, updated, unchanged)

    def install_defaults(self, *, actor: Actor) -> list[str]:
        """The shipped policies (disabled) that are not stored yet, by name."""
        with self.db.session() as session:
            existing = set(session.scalars(select(PolicyRow.name)))
            added = []
            for policy in default_policies():
                if policy.name not in existing:
                    self._insert(session, policy, actor)
                    added.append(policy.name)
            return added


@dataclass(frozen=True)
class AcceptanceView:
    id: int
    acceptance: Acceptance
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.acceptance.expired(now) else "active"

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.acceptance.model_dump(mode="json"),
            "state": self.state(now),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }


def _acceptance_view(row: AcceptanceRow) -> AcceptanceView:
    return AcceptanceView(
        row.id, Acceptance.model_validate(row.document), row.created_at, row.created_by, row.revoked_at, row.revoked_by
    )


class AcceptanceService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def list_all(self, *, include_revoked: bool = False, vulnerability: str | None = None) -> list[AcceptanceView]:
        statement = select(AcceptanceRow).order_by(AcceptanceRow.id)
        if not include_revoked:
            statement = statement.where(AcceptanceRow.revoked_at.is_(None))
        if vulnerability:
            statement = statement.where(func.upper(AcceptanceRow.vulnerability) == vulnerability.upper())
        with self.db.session() as session:
            return [_acceptance_view(r) for r in session.scalars(statement)]

    def get(self, ident: int) -> AcceptanceView:
        with self.db.session() as session:
            row = session.get(AcceptanceRow, ident)
            if row is None:
                raise AcceptanceNotFound(ident)
            return _acceptance_view(row)

    def add(self, acceptance: Acceptance, *, actor: Actor) -> AcceptanceView:
        """Stored as given; ``created`` is set to now when the acceptance does not carry one."""
        now = datetime.now(UTC)
        if acceptance.created is None:
            acceptance = acceptance.model_copy(update={"created": now})
        document = acceptance.model_dump(mode="json")
        with self.db.session() as session:
            row = AcceptanceRow(
                vulnerability=acceptance.vulnerability,
                scope=acceptance.scope,
                document=document,
                expires=acceptance.expires,
                created_at=now,
                created_by=_who(actor),
            )
            session.add(row)
            session.flush()
            self.audit.record(session, actor, "acceptance.create", f"{row.id} {acceptance.vulnerability}", document)
            return _acceptance_view(row)

    def revoke(self, ident: int, *, actor: Actor) -> AcceptanceView:
        with self.db.session() as session:
            row = session.get(AcceptanceRow, ident)
            if row is None:
                raise AcceptanceNotFound(ident)
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = datetime.now(UTC), _who(actor)
                self.audit.record(session, actor, "acceptance.revoke", f"{row.id} {row.vulnerability}", {})
            return _acceptance_view(row)
