"""Database tables. Columns that hold secrets hold Fernet ciphertext only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores no offset, so one is attached on load)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    auth: Mapped[str] = mapped_column(String(20), default="anonymous", nullable=False)
    username: Mapped[str | None] = mapped_column(String(200))
    secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    tls_insecure: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    ca_pem: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    pull_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: the PullSettings defaults
    status: Mapped[str | None] = mapped_column(String(40))
    status_reason: Mapped[str | None] = mapped_column(String(60))
    status_message: Mapped[str | None] = mapped_column(Text)
    status_hint: Mapped[str | None] = mapped_column(Text)
    status_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rights: Mapped[str | None] = mapped_column(String(20))
    rights_detail: Mapped[str | None] = mapped_column(Text)
    rights_recommendation: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    def __repr__(self) -> str:
        return f"Integration(name={self.name!r}, type={self.type!r}, url={self.url!r})"


class IntegrationCredential(Base):
    """Registry credentials for the repositories of an integration whose names match `pattern` (the pull-rule
    pattern syntax, repository part only); used for them instead of the integration's own. Ordered by
    `position`: the first matching set wins."""

    __tablename__ = "integration_credentials"
    __table_args__ = (UniqueConstraint("integration_id", "pattern"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    pattern: Mapped[str] = mapped_column(String(300), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    username: Mapped[str | None] = mapped_column(String(200))
    secret_ciphertext: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str | None] = mapped_column(String(40))
    status_message: Mapped[str | None] = mapped_column(Text)
    status_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    def __repr__(self) -> str:
        return f"IntegrationCredential(pattern={self.pattern!r}, username={self.username!r})"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(20), default="admin", nullable=False)
    # A user's own token acts with the user's role and scopes (revision 0017); a token of no user with its own.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"ApiToken(name={self.name!r}, prefix={self.prefix!r})"


class LayerResult(Base):
    """One analyzer's result for one layer, keyed by the layer's diff_id (its uncompressed
    content) and the analyzer's name and version: shared by every image and every worker."""

    __tablename__ = "layer_results"

    diff_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    analyzer: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    result: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # zlib-compressed JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class VulnSource(Base):
    """A source of vulnerability records and the outcome of its last update."""

    __tablename__ = "vuln_sources"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)  # where the records now served came from
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # osv-zip | osv-dir | url
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    record_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_modified_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)  # newest `modified` imported


class VulnExclusiveSource(Base):
    """A source no other source shares a record id with (as of the last write of either): the matcher skips
    the newest-copy check for its records. Kept by every import (vulndb/importer.py); a source without a
    row here is checked."""

    __tablename__ = "vuln_exclusive_sources"

    name: Mapped[str] = mapped_column(
        String(100), ForeignKey("vuln_sources.name", ondelete="CASCADE"), primary_key=True
    )


class VulnRecord(Base):
    """One OSV record as one source publishes it. The key includes the source because an advisory
    affecting several ecosystems (GHSA) is published in each ecosystem's export, and each source
    is replaced on its own."""

    __tablename__ = "vuln_records"

    source: Mapped[str] = mapped_column(
        String(100), ForeignKey("vuln_sources.name", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn: Mapped[datetime | None] = mapped_column(UTCDateTime)
    aliases: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # aliases + upstream, CVE ids first
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    references: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    database_specific: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    cwe_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_vuln_records_id", "id"),)


class VulnAffected(Base):
    """One `affected[]` entry of a record: the package it names and the versions it covers."""

    __tablename__ = "vuln_affected"

    # BIGINT on PostgreSQL: every full update of a source inserts all its rows again
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    record_id: Mapped[str] = mapped_column(String(255), nullable=False)
    ecosystem: Mapped[str] = mapped_column(String(255), nullable=False)  # in full: "Debian:12"
    name: Mapped[str] = mapped_column(String(1000), nullable=False)  # PyPI: PEP 503; else as published
    ranges: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    versions: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # only without ECOSYSTEM/SEMVER ranges
    ecosystem_specific: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    database_specific: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    severity: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    # The versions the entry can cover, as encoded keys (vulndb/bounds.py): the matcher's SQL pre-filter.
    # match_kind NULL (rows written before revision 0006) means: no interval, always evaluated.
    match_kind: Mapped[int | None] = mapped_column(SmallInteger)
    match_low: Mapped[bytes | None] = mapped_column(LargeBinary)
    match_high: Mapped[bytes | None] = mapped_column(LargeBinary)
    # NULL: evaluate the ranges; else the interval is exact and this is the one fix ("": none); see
    # vulndb/template.py. NULL for rows written before revision 0008.
    match_fix: Mapped[str | None] = mapped_column(Text)
    # The finding's fields that do not depend on the installed package (from the record and the entry),
    # as a JSON array (vulndb/template.py); NULL for rows written before revision 0008.
    finding: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        ForeignKeyConstraint(["source", "record_id"], ["vuln_records.source", "vuln_records.id"], ondelete="CASCADE"),
        # covers the matcher's interval filter (vulndb/store.py) without reading the table
        Index("ix_vuln_affected_match", "ecosystem", "name", "match_kind", "match_low", "match_high"),
        Index("ix_vuln_affected_record", "source", "record_id"),
    )
