"""Reading the vulnerability records: batched lookups for the matcher, and counts for the status."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, cast, func, select

from ..store.db import Database
from ..store.models import VulnAffected, VulnRecord, VulnSource
from .ecosystems import normalise_name
from .reports import EcosystemCount

# Well under SQLite's 32766 and PostgreSQL's 65535 bound parameters per statement
NAME_CHUNK = 5000

_JSON_COLUMNS = (
    VulnAffected.ranges,
    VulnAffected.versions,
    VulnAffected.ecosystem_specific,
    VulnAffected.database_specific,
    VulnAffected.severity,
    VulnRecord.aliases,
    VulnRecord.severity,
    VulnRecord.references,
    VulnRecord.database_specific,
    VulnRecord.cwe_ids,
)
_COLUMNS = (
    VulnAffected.name,
    VulnRecord.source,
    VulnRecord.id,
    VulnRecord.modified,
    VulnRecord.published,
    VulnRecord.summary,
    VulnRecord.details,
    # as text, decoded below: most values are short and repeat (`[]`, `{"urgency": "low"}`), so each
    # distinct one is decoded once per call, three times faster than the column type's decoding
    *(cast(column, Text) for column in _JSON_COLUMNS),
)
MEMO_BELOW = 100


def _decoder() -> Callable[[str], Any]:
    memo: dict[str, Any] = {}

    def decode(text: str) -> Any:
        if len(text) > MEMO_BELOW:
            return json.loads(text)
        value = memo.get(text)
        if value is None:
            value = memo[text] = json.loads(text)
        return value

    return decode


class LazyJSON(Mapping[str, Any]):
    """A record or affected entry whose JSON fields are decoded on first access: most candidate rows
    turn out not to affect the installed version, and their references, severity and so on are then
    never read (the decoding was most of the matching time)."""

    __slots__ = ("_decode", "_raw", "_values")

    def __init__(self, values: dict[str, Any], raw: dict[str, str | None], decode: Callable[[str], Any]) -> None:
        self._values = values
        self._raw = raw
        self._decode = decode

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            text = self._raw.pop(key)
            self._values[key] = self._decode(text) if text is not None else None
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._values, *self._raw])

    def __len__(self) -> int:
        return len(self._values) + len(self._raw)


class VulnStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def records_for(self, ecosystem: str, names: Iterable[str]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """(record, affected) pairs, OSV-shaped, for every affected entry in `ecosystem` (the full string,
        `Debian:12`) whose package is one of `names`: one SQL statement per 5,000 names.

        The record dict has `id`, `source`, `modified`, `published` (RFC 3339 strings), `aliases` (with
        upstream ids, CVE ids first), `summary`, `details`, `severity`, `references`, `database_specific`
        and `cwe_ids`; it is shared by all pairs of that record, and equal short JSON values are shared
        between pairs: treat everything returned as read-only. The affected dict has
        `package` ({`ecosystem`, `name`}, the name as it was asked for), `ranges`, `versions` (empty when
        ECOSYSTEM/SEMVER ranges exist), `ecosystem_specific`, `database_specific` and `severity`.
        Withdrawn records are never stored. When several sources publish one record id, the pairs of
        the newest copy are returned."""
        asked: dict[str, list[str]] = defaultdict(list)
        for name in dict.fromkeys(names):
            asked[normalise_name(ecosystem, name)].append(name)
        if not asked:
            return []
        stored = list(asked)
        join = and_(VulnRecord.source == VulnAffected.source, VulnRecord.id == VulnAffected.record_id)
        rows: list[Any] = []
        with self.db.session() as session:
            for start in range(0, len(stored), NAME_CHUNK):
                statement = (
                    select(*_COLUMNS)
                    .join(VulnRecord, join)
                    .where(
                        VulnAffected.ecosystem == ecosystem, VulnAffected.name.in_(stored[start : start + NAME_CHUNK])
                    )
                    .order_by(VulnAffected.id)
                )
                rows.extend(session.connection().execute(statement).all())
        newest: dict[str, tuple[datetime, str]] = {}
        for _, source, record_id, modified, *_rest in rows:
            best = newest.get(record_id)
            if best is None or modified > best[0] or (modified == best[0] and source < best[1]):
                newest[record_id] = (modified, source)
        decode = _decoder()
        records: dict[tuple[str, str], LazyJSON] = {}
        pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
        for row in rows:
            name, source, record_id, modified, published, summary, details, *raw = row
            if newest[record_id][1] != source:
                continue
            ranges_text, versions_text, eco_specific, db_specific, severity, *record_json = raw
            ranges, versions = decode(ranges_text), decode(versions_text)
            record = records.get((source, record_id))
            if record is None:
                aliases, record_severity, references, record_specific, cwe_ids = record_json
                record = records[(source, record_id)] = LazyJSON(
                    {
                        "id": record_id,
                        "source": source,
                        "modified": modified.isoformat(),
                        "published": published.isoformat() if published is not None else None,
                        "summary": summary,
                        "details": details,
                    },
                    {
                        "aliases": aliases,
                        "severity": record_severity,
                        "references": references,
                        "database_specific": record_specific,
                        "cwe_ids": cwe_ids,
                    },
                    decode,
                )
            for asked_name in asked[name]:
                affected = LazyJSON(
                    {"package": {"ecosystem": ecosystem, "name": asked_name}, "ranges": ranges, "versions": versions},
                    {"ecosystem_specific": eco_specific, "database_specific": db_specific, "severity": severity},
                    decode,
                )
                pairs.append((record, affected))
        return pairs

    def is_empty(self) -> bool:
        """True until some source has records."""
        with self.db.session() as session:
            return session.scalar(select(VulnRecord.id).limit(1)) is None

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these record ids any source still serves (withdrawn ones are gone)."""
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        with self.db.session() as session:
            for start in range(0, len(wanted), NAME_CHUNK):
                chunk = wanted[start : start + NAME_CHUNK]
                found.update(session.scalars(select(VulnRecord.id).where(VulnRecord.id.in_(chunk)).distinct()))
        return found

    def sources(self) -> list[VulnSource]:
        with self.db.session() as session:
            return list(session.scalars(select(VulnSource).order_by(VulnSource.name)))

    def ecosystem_counts(self) -> list[EcosystemCount]:
        """Per source and ecosystem: how many records and how many distinct package names."""
        statement = (
            select(
                VulnAffected.source,
                VulnAffected.ecosystem,
                func.count(VulnAffected.record_id.distinct()),
                func.count(VulnAffected.name.distinct()),
            )
            .group_by(VulnAffected.source, VulnAffected.ecosystem)
            .order_by(VulnAffected.source, VulnAffected.ecosystem)
        )
        with self.db.session() as session:
            return [
                EcosystemCount(source=source, ecosystem=ecosystem, records=records, packages=packages)
                for source, ecosystem, records, packages in session.execute(statement).all()
            ]
