"""The audit log: who changed what, when and from where. Every mutating service records its event in the
transaction of the change itself, so the two commit or roll back together; the table refuses UPDATE and DELETE
(revision 0015). Secret values are never stored: a changed secret is recorded as {"changed": true}."""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any, Literal, TypedDict, Unpack

from pydantic import BaseModel
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ..jsonable import plain
from ..secrets import REDACTED, Secret, redact
from ..store.audit_models import AuditEvent
from ..store.db import Database
from ..store.models import utcnow

ActorKind = Literal["user", "token", "cli", "system", "harbor"]
SECRET_CHANGED: dict[str, Any] = {"changed": True}
# Field names that hold a secret; any name containing one of SECRET_WORDS counts as well.
SECRET_KEYS = frozenset({"password", "secret", "token", "key", "api_key", "authorization", "ca_key"})
SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization", "apikey", "api_key", "private", "ciphertext")
# Every action recorded (docs/audit.md describes each): what the console offers to filter on.
ACTIONS = (
    "integration.create",
    "integration.update",
    "integration.delete",
    "credentials.update",
    "credential_set.create",
    "credential_set.delete",
    "rules.update",
    "token.create",
    "token.revoke",
    "user.create",
    "user.password",
    "user.delete",
    "harbor_registration.create",
    "harbor_registration.rotate",
    "harbor_registration.update",
    "harbor_registration.delete",
    "vulndb.import",
    "secrets.rotate",
    "policy.create",
    "policy.update",
    "policy.delete",
    "policy.enable",
    "policy.disable",
    "acceptance.create",
    "acceptance.revoke",
)
EMPTY: tuple[Any, ...] = (None, "", [], {})
EXPORT_BATCH = 500
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Actor:
    """Who made a change: a console user, an API token, a CLI user, regscout itself, or a Harbor registration."""

    kind: ActorKind
    name: str  # console user name, API token name, OS user for the CLI, "scheduler"/"regscout" for system
    source: str  # client IP address, "local" for the CLI, "" for system

    @classmethod
    def cli(cls) -> Actor:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no login name and no passwd entry (e.g. a container's arbitrary uid)
            name = ""
        return cls("cli", name or "unknown", "local")


SYSTEM = Actor("system", "regscout", "")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor: str
    source: str
    action: str
    target: str
    changes: dict[str, Any]

    def change_lines(self) -> list[str]:
        """What changed, a line a field: `url: a → b`, `secret: changed`, `records: 120`."""
        lines: list[str] = []
        for field, change in self.changes.items():
            if change == SECRET_CHANGED:
                lines.append(f"{field}: changed")
            elif isinstance(change, dict) and set(change) == {"from", "to"}:
                lines.append(f"{field}: {_shown(change['from'])} → {_shown(change['to'])}")
            else:
                lines.append(f"{field}: {_shown(change)}")
        return lines

    def changes_text(self) -> str:
        return "; ".join(self.change_lines())


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class AuditFilters(TypedDict, total=False):
    actor: str | None
    action: str | None  # an action, or a prefix of dotted ones: "policy" or "policy." match "policy.create"
    target: str | None
    since: datetime | None  # inclusive
    until: datetime | None  # exclusive


def is_secret_key(key: str, secret_keys: Collection[str] = SECRET_KEYS) -> bool:
    lowered = key.lower()
    return lowered in secret_keys or any(word in lowered for word in SECRET_WORDS)


def scrub(value: Any, secret_keys: Collection[str] = SECRET_KEYS) -> Any:
    """A JSON-ready copy of ``value`` with every secret-named field's value replaced and every known secret
    redacted from text: the last line of defence before anything is stored."""
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(key): _scrub_field(str(key), item, secret_keys) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item, secret_keys) for item in value]
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    json_ready = plain(value)
    return scrub(json_ready, secret_keys) if json_ready is not value else redact(str(value))


def _scrub_field(key: str, value: Any, secret_keys: Collection[str]) -> Any:
    if not is_secret_key(key, secret_keys):
        return scrub(value, secret_keys)
    return value if value is None or value == SECRET_CHANGED else REDACTED


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any], secret_keys: Collection[str] = SECRET_KEYS
) -> dict[str, Any]:
    """{"field": {"from": old, "to": new}} for each field that differs (a missing field is None); a secret field
    is {"changed": True}, without either value."""
    changes: dict[str, Any] = {}
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if is_secret_key(key, secret_keys):
            changes[key] = dict(SECRET_CHANGED)
        else:
            changes[key] = {"from": scrub(old, secret_keys), "to": scrub(new, secret_keys)}
    return changes


def created_fields(after: Mapping[str, Any], secret_keys: Collection[str] = SECRET_KEYS) -> dict[str, Any]:
    """What something new holds, as changes from nothing: the fields with a value (an empty one says nothing)."""
    return changed_fields({}, _with_values(after), secret_keys)


def deleted_fields(before: Mapping[str, Any], secret_keys: Collection[str] = SECRET_KEYS) -> dict[str, Any]:
    """What something deleted held, as changes to nothing: the fields that had a value."""
    return changed_fields(_with_values(before), {}, secret_keys)


def _with_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in EMPTY}


def fingerprint(text: str | None) -> str | None:
    """A short SHA-256 of a long value (a CA certificate): enough to see that it changed, without the value."""
    return None if text is None else "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_moment(text: str | None, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time (UTC unless it names an offset); a date alone is its midnight, or with
    ``end_of_day`` (an exclusive ``until``) the next midnight, so that `--until 2026-05-01` includes that day."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        if len(value) == 10:  # YYYY-MM-DD
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1 if end_of_day else 0), time(), UTC)
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date or date-time (2026-05-01, 2026-05-01T12:00Z)") from None


def filters_from_text(
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> AuditFilters:
    """The filters as the CLI, the API and the console take them: blank is no filter, times as `parse_moment` reads
    them (ValueError says what is wrong)."""
    return AuditFilters(
        actor=(actor or "").strip() or None,
        action=(action or "").strip() or None,
        target=(target or "").strip() or None,
        since=parse_moment(since),
        until=parse_moment(until, end_of_day=True),
    )


def _conditions(filters: AuditFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if actor := filters.get("actor"):
        conditions.append(AuditEvent.actor == actor)
    if action := filters.get("action"):
        prefix = action.rstrip(".")
        conditions.append(or_(AuditEvent.action == action, AuditEvent.action.startswith(prefix + ".", autoescape=True)))
    if target := filters.get("target"):
        conditions.append(AuditEvent.target == target)
    if since := filters.get("since"):
        conditions.append(AuditEvent.at >= _utc(since))
    if until := filters.get("until"):
        conditions.append(AuditEvent.at < _utc(until))
    return conditions


def _entry(row: AuditEvent) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor_kind=row.actor_kind,
        actor=row.actor,
        source=row.source,
        action=row.action,
        target=row.target,
        changes=dict(row.changes or {}),
    )


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, session: Session, actor: Actor, action: str, target: str, changes: Mapping[str, Any] | None = None
    ) -> None:
        """Adds the event in the caller's transaction (it commits or rolls back with the change itself)."""
        session.add(
            AuditEvent(
                at=utcnow(),
                actor_kind=actor.kind,
                actor=actor.name[:200],
                source=actor.source[:100],
                action=action,
                target=redact(target)[:500],
                changes=scrub(dict(changes or {})),
            )
        )

    def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """The matching events, newest first: at most ``limit`` (1 to 1000), those older than ``before_id``."""
        filters = AuditFilters(actor=actor, action=action, target=target, since=since, until=until)
        statement = select(AuditEvent).where(*_conditions(filters))
        if before_id is not None:
            statement = statement.where(AuditEvent.id < before_id)
        statement = statement.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, MAX_LIMIT)))
        with self.db.session() as session:
            return [_entry(row) for row in session.scalars(statement)]

    def iter_jsonl(self, **filters: Unpack[AuditFilters]) -> Iterator[str]:
        """Every matching event as one JSON line, oldest first, read in batches (each its own short read)."""
        conditions = _conditions(filters)
        after_id = 0
        while True:
            statement = (
                select(AuditEvent)
                .where(*conditions, AuditEvent.id > after_id)
                .order_by(AuditEvent.id)
                .limit(EXPORT_BATCH)
            )
            with self.db.session() as session:
                entries = [_entry(row) for row in session.scalars(statement)]
            for entry in entries:
                yield entry.model_dump_json() + "\n"
            if len(entries) < EXPORT_BATCH:
                return
            after_id = entries[-1].id

    def export_jsonl(self, out: IO[str], **filters: Unpack[AuditFilters]) -> int:
        """Write every matching event to ``out`` as JSON lines, oldest first; how many."""
        count = 0
        for line in self.iter_jsonl(**filters):
            out.write(line)
            count += 1
        return count
