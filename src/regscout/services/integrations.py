"""Registry integrations: add, list, show, edit, test, delete, browse. The CLI and the API both
call this; it owns validation, encryption of credentials and the stored connection status."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..registries.auth import Credentials, TlsSettings
from ..registries.base import ConnectionResult, RegistryAdapter, RegistryConfig, RepositoryListing
from ..registries.distribution import ClientOptions
from ..registries.generic import GenericRegistry
from ..registries.types import REGISTRY_TYPES, UnknownRegistryType, adapter_class
from ..secrets import Secret, SecretBox
from ..selection import PullSettings
from ..store.db import Database
from ..store.harbor_models import HarborScan
from ..store.models import Integration, IntegrationCredential
from .audit import Actor, AuditLog, changed_fields, created_fields, deleted_fields, fingerprint
from .credential_sets import literal_repository, load_sets, matching

AuthKind = Literal["anonymous", "password", "token"]
CREDENTIAL_FIELDS = ("auth", "username", "secret")  # an edit of these is the audit log's credentials.update


class IntegrationError(Exception):
    """A user error with a message that says what to do."""


class IntegrationNotFound(IntegrationError):
    pass


class IntegrationExists(IntegrationError):
    pass


class InvalidIntegration(IntegrationError):
    pass


class ConnectionTestFailed(IntegrationError):
    def __init__(self, result: ConnectionResult) -> None:
        self.result = result
        text = f"connection test failed: {result.status.value}: {result.message}"
        if result.url:
            text += f" ({result.url})"
        if result.hint:
            text += f". {result.hint}"
        super().__init__(text + ". Nothing was saved (use --no-test to save anyway)")


class StatusView(BaseModel):
    status: str
    reason: str | None = None
    message: str | None = None
    hint: str | None = None
    checked_at: datetime | None = None
    rights: str | None = None
    rights_detail: str | None = None
    rights_recommendation: str | None = None


class IntegrationView(BaseModel):
    """What may be shown of an integration: never the secret, only whether one is stored."""

    name: str
    description: str
    type: str
    url: str
    auth: str
    username: str | None
    has_secret: bool
    tls_insecure: bool
    has_ca: bool
    options: dict[str, Any]
    pull: dict[str, Any]
    connection: StatusView | None
    created_at: datetime
    updated_at: datetime


@dataclass
class IntegrationInput:
    name: str
    type: str
    url: str
    description: str = ""
    username: str | None = None
    secret: Secret | None = None
    auth: AuthKind | None = None
    insecure: bool = False
    ca_pem: str | None = None
    options: dict[str, Any] | None = None


@dataclass
class IntegrationChanges:
    """Fields left None stay as they are; credentials are replaced only when a new secret is given."""

    description: str | None = None
    url: str | None = None
    username: str | None = None
    secret: Secret | None = None
    auth: AuthKind | None = None
    insecure: bool | None = None
    ca_pem: str | None = None
    clear_ca: bool = False
    options: dict[str, Any] | None = None
    new_name: str | None = None
    pull: dict[str, Any] | None = None  # PullSettings fields merged over the stored ones

    def touches_connection(self) -> bool:
        """Whether anything but the pull settings changes (only then is the connection tested)."""
        return any(
            value not in (None, False)
            for value in (
                self.description,
                self.url,
                self.username,
                self.secret,
                self.auth,
                self.insecure,
                self.ca_pem,
                self.clear_ca,
                self.options,
                self.new_name,
            )
        )


def normalise_url(url: str, default: str | None = None) -> str:
    url = (url or default or "").strip()
    if not url:
        raise InvalidIntegration("a registry URL is required, e.g. https://registry.example.com")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidIntegration(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise InvalidIntegration("put credentials in --username and --password-stdin, not in the URL")
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[: -len("/v2")]
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def check_ca(pem: str) -> str:
    try:
        ssl.create_default_context().load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidIntegration("the CA file holds no valid PEM certificate") from exc
    return pem


def pull_settings_of(row: Integration) -> PullSettings:
    return PullSettings.model_validate(row.pull_settings or {})


def merge_pull(stored: PullSettings, changes: dict[str, Any]) -> PullSettings:
    """The stored settings with ``changes`` over them, validated; InvalidIntegration says what is wrong."""
    try:
        return PullSettings.model_validate({**stored.model_dump(mode="json"), **changes})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidIntegration(f"invalid pull settings: {problems}. Nothing was saved") from None


def _view(row: Integration) -> IntegrationView:
    connection = None
    if row.status:
        connection = StatusView(
            status=row.status,
            reason=row.status_reason,
            message=row.status_message,
            hint=row.status_hint,
            checked_at=row.status_checked_at,
            rights=row.rights,
            rights_detail=row.rights_detail,
            rights_recommendation=row.rights_recommendation,
        )
    return IntegrationView(
        name=row.name,
        description=row.description,
        type=row.type,
        url=row.url,
        auth=row.auth,
        username=row.username,
        has_secret=row.secret_ciphertext is not None,
        tls_insecure=row.tls_insecure,
        has_ca=row.ca_pem is not None,
        options=dict(row.options or {}),
        pull=pull_settings_of(row).model_dump(mode="json"),
        connection=connection,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def audited_fields(row: Integration) -> dict[str, Any]:
    """What the audit log compares of an integration; of the secret only whether it changed is recorded."""
    return {
        "name": row.name,
        "description": row.description,
        "type": row.type,
        "url": row.url,
        "auth": row.auth,
        "username": row.username,
        "secret": row.secret_ciphertext,
        "tls_insecure": row.tls_insecure,
        "ca": fingerprint(row.ca_pem),
        "options": dict(row.options or {}),
    }


def _record_result(row: Integration, result: ConnectionResult) -> None:
    row.status = result.status.value
    row.status_reason = result.reason
    row.status_message = result.message
    row.status_hint = result.hint or None
    row.status_checked_at = result.checked_at
    row.rights = result.rights.verdict.value if result.rights else None
    row.rights_detail = result.rights.detail if result.rights else None
    row.rights_recommendation = (result.rights.recommendation or None) if result.rights else None


class IntegrationService:
    def __init__(self, db: Database, box: SecretBox, client_options: ClientOptions | None = None) -> None:
        self.db = db
        self.box = box
        self.client_options = client_options
        self.audit = AuditLog(db)
        self.on_delete: list[Callable[[Session, int, str], None]] = []

    # ---- reads ------------------------------------------------------------------------------

    def list_all(self) -> list[IntegrationView]:
        with self.db.session() as session:
            return [_view(row) for row in session.scalars(select(Integration).order_by(Integration.name))]

    def get(self, name: str) -> IntegrationView:
        with self.db.session() as session:
            return _view(self.find_row(session, name))

    def by_id(self, integration_id: int) -> IntegrationView:
        """The integration with this database id (jobs keep the id: a rename does not orphan them)."""
        with self.db.session() as session:
            row = session.get(Integration, integration_id)
            if row is None:
                raise IntegrationNotFound(f"the integration with id {integration_id} was deleted")
            return _view(row)

    def identify(self, name: str) -> tuple[int, IntegrationView]:
        """The integration's database id with its view (jobs refer to integrations by id)."""
        with self.db.session() as session:
            row = self.find_row(session, name)
            return row.id, _view(row)

    def pull_settings(self, name: str) -> PullSettings:
        with self.db.session() as session:
            return pull_settings_of(self.find_row(session, name))

    @staticmethod
    def find_row(session: Session, name: str) -> Integration:
        row = session.scalar(select(Integration).where(Integration.name == name))
        if row is None:
            raise IntegrationNotFound(f"no registry integration named {name!r}; `regscout registry list` shows them")
        return row

    # ---- adapters ---------------------------------------------------------------------------

    def _config(
        self,
        type_name: str,
        url: str,
        username: str | None,
        secret: Secret | None,
        insecure: bool,
        ca_pem: str | None,
        options: dict[str, Any],
    ) -> RegistryConfig:
        credentials = Credentials(username or "", secret) if secret is not None else None
        return RegistryConfig(type_name, url, credentials, TlsSettings(not insecure, ca_pem), options)

    def connection(self, name: str, repository: str | None = None) -> tuple[RegistryConfig, ClientOptions | None]:
        """How to reach the integration's registry: URL, credentials, TLS, type options, client options. For a
        repository that a credential set's pattern matches, that set's credentials."""
        with self.db.session() as session:
            row = self.find_row(session, name)
            secret = self.box.decrypt(row.secret_ciphertext) if row.secret_ciphertext else None
            config = self._config(
                row.type, row.url, row.username, secret, row.tls_insecure, row.ca_pem, dict(row.options or {})
            )
            if repository is not None:
                chosen = matching(load_sets(session, row.id, self.box), repository)
                if chosen is not None:
                    config = replace(config, credentials=chosen.credentials)
            return config, self.client_options_for(pull_settings_of(row))

    def adapter(self, name: str) -> RegistryAdapter:
        config, options = self.connection(name)
        return adapter_class(config.type)(config, options)

    def client_options_for(self, settings: PullSettings) -> ClientOptions | None:
        """The HTTP client options with the integration's request-rate limit, if it has one."""
        if settings.requests_per_second is None:
            return self.client_options
        return replace(self.client_options or ClientOptions(), requests_per_second=settings.requests_per_second)

    # ---- writes -----------------------------------------------------------------------------

    def _validated(self, data: IntegrationInput) -> tuple[type[RegistryAdapter], RegistryConfig, AuthKind]:
        try:
            cls = adapter_class(data.type)
        except UnknownRegistryType as exc:
            raise InvalidIntegration(str(exc)) from None
        if not data.name or len(data.name) > 100 or data.name != data.name.strip():
            raise InvalidIntegration("a name of 1 to 100 characters without surrounding spaces is required")
        url = normalise_url(data.url, cls.default_url)
        auth: AuthKind = data.auth or ("anonymous" if data.secret is None else "password")
        if auth not in cls.auth_kinds:
            raise InvalidIntegration(f"type {data.type} accepts auth {', '.join(cls.auth_kinds)}, not {auth}")
        if auth != "anonymous" and data.secret is None:
            raise InvalidIntegration(f"auth {auth} needs a password or token (--password-stdin or --password-env)")
        if auth == "anonymous" and data.secret is not None:
            raise InvalidIntegration("a password or token was given with anonymous auth")
        try:
            options = cls.validate_options(dict(data.options or {}), data.username if auth != "anonymous" else None)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidIntegration(f"invalid options for type {data.type}: {problems}") from None
        ca_pem = check_ca(data.ca_pem) if data.ca_pem else None
        config = self._config(data.type, url, data.username, data.secret, data.insecure, ca_pem, options)
        return cls, config, auth

    async def _run_test(self, cls: type[RegistryAdapter], config: RegistryConfig) -> ConnectionResult:
        async with cls(config, self.client_options) as adapter:
            return await adapter.test()

    async def add(
        self, data: IntegrationInput, *, actor: Actor, test: bool = True
    ) -> tuple[IntegrationView, ConnectionResult | None]:
        cls, config, auth = self._validated(data)
        with self.db.session() as session:
            if session.scalar(select(Integration.id).where(Integration.name == data.name)) is not None:
                raise IntegrationExists(f"an integration named {data.name!r} exists; choose another name or edit it")
        result = await self._run_test(cls, config) if test else None
        if result is not None and result.status.value != "Connected":
            raise ConnectionTestFailed(result)
        row = Integration(
            name=data.name,
            description=data.description,
            type=data.type,
            url=config.url,
            auth=auth,
            username=data.username if auth != "anonymous" else None,
            secret_ciphertext=self.box.encrypt(data.secret) if data.secret is not None else None,
            tls_insecure=data.insecure,
            ca_pem=config.tls.ca_pem,
            options=config.options,
        )
        if result is not None:
            _record_result(row, result)
        with self.db.session() as session:
            session.add(row)
            self.audit.record(session, actor, "integration.create", row.name, created_fields(audited_fields(row)))
        return self.get(data.name), result

    async def edit(
        self, name: str, changes: IntegrationChanges, *, actor: Actor, test: bool = True
    ) -> tuple[IntegrationView, ConnectionResult | None]:
        """Change an integration. The connection is tested (if ``test``) only when more than the pull
        settings change; every change is validated before anything is saved."""
        with self.db.session() as session:
            row = self.find_row(session, name)
            pull = merge_pull(pull_settings_of(row), changes.pull) if changes.pull is not None else None
            secret = changes.secret
            if secret is None and row.secret_ciphertext:
                secret = self.box.decrypt(row.secret_ciphertext)  # stored credentials are kept
            options = dict(row.options or {})
            if changes.options is not None:
                options.update(changes.options)
            auth = changes.auth or row.auth
            if changes.auth == "anonymous":
                secret = None
            candidate = IntegrationInput(
                name=changes.new_name or row.name,
                type=row.type,
                url=changes.url or row.url,
                description=row.description if changes.description is None else changes.description,
                username=changes.username if changes.username is not None else row.username,
                secret=secret,
                auth=auth,  # type: ignore[arg-type]
                insecure=row.tls_insecure if changes.insecure is None else changes.insecure,
                ca_pem=None if changes.clear_ca else (changes.ca_pem or row.ca_pem),
                options=options,
            )
        cls, config, auth = self._validated(candidate)
        if candidate.name != name:
            with self.db.session() as session:
                if session.scalar(select(Integration.id).where(Integration.name == candidate.name)) is not None:
                    raise IntegrationExists(f"an integration named {candidate.name!r} exists")
        result = await self._run_test(cls, config) if test and changes.touches_connection() else None
        if result is not None and result.status.value != "Connected":
            raise ConnectionTestFailed(result)
        with self.db.session() as session:
            row = self.find_row(session, name)
            before, rules_before = audited_fields(row), pull_settings_of(row).model_dump(mode="json")
            if pull is not None:
                row.pull_settings = pull.model_dump(mode="json")
            row.name = candidate.name
            row.description = candidate.description
            row.url = config.url
            row.auth = auth
            row.username = candidate.username if auth != "anonymous" else None
            if changes.secret is not None:
                row.secret_ciphertext = self.box.encrypt(changes.secret)
            elif auth == "anonymous":
                row.secret_ciphertext = None
            row.tls_insecure = candidate.insecure
            row.ca_pem = config.tls.ca_pem
            row.options = config.options
            if result is not None:
                _record_result(row, result)
            self._record_edit(session, actor, row, before, rules_before)
        return self.get(candidate.name), result

    def _record_edit(
        self, session: Session, actor: Actor, row: Integration, before: dict[str, Any], rules_before: dict[str, Any]
    ) -> None:
        """An edit as up to three events: the integration's settings, its credentials, its pull rules."""
        changes = changed_fields(before, audited_fields(row))
        credentials = {field: changes.pop(field) for field in CREDENTIAL_FIELDS if field in changes}
        rules = changed_fields(rules_before, pull_settings_of(row).model_dump(mode="json"))
        for action, changed in (
            ("integration.update", changes),
            ("credentials.update", credentials),
            ("rules.update", rules),
        ):
            if changed:
                self.audit.record(session, actor, action, row.name, changed)

    def delete(self, name: str, *, actor: Actor) -> None:
        """Delete the integration; listeners (its jobs and schedule) act within the same transaction."""
        with self.db.session() as session:
            row = self.find_row(session, name)
            self.audit.record(session, actor, "integration.delete", row.name, deleted_fields(audited_fields(row)))
            for listener in self.on_delete:
                listener(session, row.id, row.name)
            session.delete(row)

    async def test(self, name: str) -> ConnectionResult:
        async with self.adapter(name) as adapter:
            result = await adapter.test()
        with self.db.session() as session:
            _record_result(self.find_row(session, name), result)
        return result

    async def browse(
        self, name: str, *, with_tags: bool = False, repositories: list[str] | None = None
    ) -> list[RepositoryListing]:
        """The integration's repositories (and tags). Repositories that a credential set is for are listed with
        that set's credentials through the registry's own API; a set for one exact repository adds it."""
        config, options = self.connection(name)
        with self.db.session() as session:
            sets = load_sets(session, self.find_row(session, name).id, self.box)
        async with adapter_class(config.type)(config, options) as adapter:
            if not sets:
                return await adapter.browse(repositories, with_tags=with_tags)
            names = repositories if repositories is not None else [r async for r in adapter.list_repositories()]
            if repositories is None:
                names += [r for s in sets if (r := literal_repository(s.pattern.text)) and r not in names]
            groups: dict[int, list[str]] = {}
            for repository in names:
                chosen = matching(sets, repository)
                groups.setdefault(-1 if chosen is None else sets.index(chosen), []).append(repository)
            listings = await adapter.browse(groups.pop(-1, []), with_tags=with_tags)
        for index, members in groups.items():
            own = RegistryConfig(
                GenericRegistry.type_name, config.url, sets[index].credentials, config.tls, {"repositories": members}
            )
            async with GenericRegistry(own, options) as generic:
                listings += await generic.browse(members, with_tags=with_tags)
        order = {repository: position for position, repository in enumerate(names)}
        return sorted(listings, key=lambda listing: order.get(listing.name, len(order)))

    def rotate_secrets(self, new_box: SecretBox, *, actor: Actor) -> int:
        """Re-encrypt every stored credential under new_box's first key, in one transaction."""
        count = 0
        with self.db.session() as session:
            for row in session.scalars(select(Integration).where(Integration.secret_ciphertext.is_not(None))):
                assert row.secret_ciphertext is not None
                row.secret_ciphertext = new_box.rotate(row.secret_ciphertext)
                count += 1
            for extra in session.scalars(select(IntegrationCredential)):
                extra.secret_ciphertext = new_box.rotate(extra.secret_ciphertext)
                count += 1
            # the robot credentials of Harbor scans still running
            for scan in session.scalars(select(HarborScan).where(HarborScan.authorization_ciphertext.is_not(None))):
                assert scan.authorization_ciphertext is not None
                scan.authorization_ciphertext = new_box.rotate(scan.authorization_ciphertext)
                count += 1
            self.audit.record(session, actor, "secrets.rotate", "stored credentials", {"re_encrypted": count})
        return count


def registry_types() -> list[dict[str, Any]]:
    return [
        {
            "type": name,
            "label": cls.label,
            "default_url": cls.default_url,
            "auth": list(cls.auth_kinds),
            "least_rights": cls.least_rights,
            "options": cls.options_model.model_json_schema(),
        }
        for name, cls in sorted(REGISTRY_TYPES.items())
    ]
