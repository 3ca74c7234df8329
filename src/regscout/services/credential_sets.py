"""Credential sets: extra registry credentials of an integration, each for the repositories matching a pattern
(Rapid7 InsightVM's "repository configurations"). A set is tested when it is saved, and from then on every pull
and every tag listing of a matching repository uses it instead of the integration's own credentials.

Patterns are the pull rules' (`team/*`, `exact/name`, `\\*` for a literal star), repository part only. The first
matching set in the order they were added wins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..registries.auth import Credentials
from ..registries.base import ConnectionResult, RegistryConfig
from ..registries.errors import ConnectionStatus
from ..registries.generic import GenericRegistry
from ..secrets import Secret, SecretBox
from ..selection import Pattern, parse_pattern, pattern_matches
from ..store.models import IntegrationCredential
from .audit import Actor, created_fields, deleted_fields

if TYPE_CHECKING:
    from .integrations import IntegrationService


class InvalidCredentialSet(ValueError):
    pass


@dataclass(frozen=True)
class CredentialSetView:
    pattern: str
    username: str | None
    status: str | None
    status_message: str | None
    checked_at: datetime | None
    has_secret: bool = True


@dataclass(frozen=True)
class CredentialSet:
    pattern: Pattern
    credentials: Credentials


def repository_pattern(text: str) -> Pattern:
    try:
        pattern = parse_pattern(text.strip())
    except ValueError as exc:
        raise InvalidCredentialSet(f"invalid repository pattern: {exc}") from None
    if pattern.tag is not None or pattern.name is None:
        raise InvalidCredentialSet(
            f"{text!r} names a tag; a credential set is for repositories, e.g. 'team/*' or 'team/app'"
        )
    return pattern


def literal_repository(text: str) -> str | None:
    """The one repository a pattern without wildcards names (escapes resolved), else None."""
    out: list[str] = []
    chars = iter(text.strip())
    for ch in chars:
        if ch == "*":
            return None
        out.append(next(chars, "") if ch == "\\" else ch)
    return "".join(out)


def load_sets(session: Session, integration_id: int, box: SecretBox) -> list[CredentialSet]:
    rows = session.scalars(
        select(IntegrationCredential)
        .where(IntegrationCredential.integration_id == integration_id)
        .order_by(IntegrationCredential.position)
    )
    return [
        CredentialSet(parse_pattern(row.pattern), Credentials(row.username or "", box.decrypt(row.secret_ciphertext)))
        for row in rows
    ]


def matching(sets: Sequence[CredentialSet], repository: str) -> CredentialSet | None:
    return next((s for s in sets if pattern_matches(s.pattern, repository, "")), None)


def _audited_fields(row: IntegrationCredential) -> dict[str, Any]:
    return {"pattern": row.pattern, "username": row.username, "secret": row.secret_ciphertext}


def _view(row: IntegrationCredential) -> CredentialSetView:
    return CredentialSetView(row.pattern, row.username, row.status, row.status_message, row.status_checked_at)


class CredentialSets:
    def __init__(self, integrations: IntegrationService) -> None:
        self.integrations = integrations
        self.db = integrations.db
        self.box = integrations.box

    def list(self, name: str) -> list[CredentialSetView]:
        with self.db.session() as session:
            row = self.integrations.find_row(session, name)
            return [
                _view(r)
                for r in session.scalars(
                    select(IntegrationCredential)
                    .where(IntegrationCredential.integration_id == row.id)
                    .order_by(IntegrationCredential.position)
                )
            ]

    async def add(
        self,
        name: str,
        pattern_text: str,
        username: str | None,
        secret: Secret,
        *,
        actor: Actor,
        test: bool = True,
    ) -> tuple[CredentialSetView, ConnectionResult | None]:
        from .integrations import ConnectionTestFailed, IntegrationExists

        pattern = repository_pattern(pattern_text)
        with self.db.session() as session:
            integration = self.integrations.find_row(session, name)
            taken = session.scalar(
                select(IntegrationCredential.id).where(
                    IntegrationCredential.integration_id == integration.id,
                    IntegrationCredential.pattern == pattern.text,
                )
            )
            if taken is not None:
                raise IntegrationExists(f"{name} has a credential set for {pattern.text!r}; remove it first")
        credentials = Credentials(username or "", secret)
        result = await self._test(name, pattern, credentials) if test else None
        if result is not None and result.status is not ConnectionStatus.CONNECTED:
            raise ConnectionTestFailed(result)
        with self.db.session() as session:
            integration = self.integrations.find_row(session, name)
            last = session.scalar(
                select(func.max(IntegrationCredential.position)).where(
                    IntegrationCredential.integration_id == integration.id
                )
            )
            row = IntegrationCredential(
                integration_id=integration.id,
                pattern=pattern.text,
                position=(last or 0) + 1,
                username=username,
                secret_ciphertext=self.box.encrypt(secret),
            )
            if result is not None:
                _record(row, result)
            session.add(row)
            session.flush()
            changes = created_fields(_audited_fields(row))
            self.integrations.audit.record(session, actor, "credential_set.create", name, changes)
            return _view(row), result

    def remove(self, name: str, pattern_text: str, *, actor: Actor) -> None:
        from .integrations import IntegrationNotFound

        with self.db.session() as session:
            row = self._set_row(session, name, pattern_text)
            if row is None:
                raise IntegrationNotFound(f"{name} has no credential set for {pattern_text!r}")
            session.delete(row)
            changes = deleted_fields(_audited_fields(row))
            self.integrations.audit.record(session, actor, "credential_set.delete", name, changes)

    async def test(self, name: str, pattern_text: str) -> ConnectionResult:
        from .integrations import IntegrationNotFound

        with self.db.session() as session:
            row = self._set_row(session, name, pattern_text)
            if row is None:
                raise IntegrationNotFound(f"{name} has no credential set for {pattern_text!r}")
            credentials = Credentials(row.username or "", self.box.decrypt(row.secret_ciphertext))
        result = await self._test(name, parse_pattern(pattern_text), credentials)
        with self.db.session() as session:
            row = self._set_row(session, name, pattern_text)
            if row is not None:
                _record(row, result)
        return result

    def _set_row(self, session: Session, name: str, pattern_text: str) -> IntegrationCredential | None:
        integration = self.integrations.find_row(session, name)
        return session.scalar(
            select(IntegrationCredential).where(
                IntegrationCredential.integration_id == integration.id,
                IntegrationCredential.pattern == pattern_text.strip(),
            )
        )

    async def _test(self, name: str, pattern: Pattern, credentials: Credentials) -> ConnectionResult:
        """Log in with the set and read one repository it is for, as the integration's own test does; a
        pattern with wildcards is tried on the first repository of the integration's listing it matches."""
        repository = literal_repository(pattern.text)
        if repository is None:
            async with self.integrations.adapter(name) as adapter:
                repository = await _first_matching(adapter.list_repositories(), pattern)
            if repository is None:
                return ConnectionResult(
                    ConnectionStatus.NOT_FOUND,
                    "no_matching_repository",
                    f"no repository of {name} matches {pattern.text!r}",
                    "Check the pattern, or name one repository exactly to test against it",
                    datetime.now(UTC),
                )
        config, options = self.integrations.connection(name)
        probe = RegistryConfig(
            GenericRegistry.type_name, config.url, credentials, config.tls, {"repositories": [repository]}
        )
        async with GenericRegistry(probe, options) as adapter:
            result = await adapter.test()
        return replace(result, message=f"with the credential set for {pattern.text!r}: {result.message}")


async def _first_matching(names: AsyncIterator[str], pattern: Pattern) -> str | None:
    async for name in names:
        if pattern_matches(pattern, name, ""):
            return name
    return None


def _record(row: IntegrationCredential, result: ConnectionResult) -> None:
    row.status = result.status.value
    row.status_message = result.message
    row.status_checked_at = result.checked_at
