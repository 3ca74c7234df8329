"""Reading the vulnerability records: batched lookups for the matcher, and counts for the status."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import NullType

from ..store.db import Database
from ..store.models import VulnAffected, VulnRecord, VulnSource
from .bounds import ALWAYS, ECOSYSTEM_ORDER, SEMVER_ORDER, admits, probe_key
from .ecosystems import normalise_name
from .reports import EcosystemCount
from .template import Candidate, Template, template_of
from .versions import SEMVER, VersionScheme, scheme_for

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


_OTHER_COPY = aliased(VulnRecord)
_BOUNDS = select(
    VulnAffected.id,
    VulnAffected.name,
    VulnAffected.match_kind,
    # the DBAPI's bytes as they are: no per-value conversion
    type_coerce(VulnAffected.match_low, NullType()),
    type_coerce(VulnAffected.match_high, NullType()),
)
_ENTRY_JSON = ("ranges", "versions", "ecosystem_specific", "database_specific", "severity")
_RECORD_JSON = ("aliases", "severity", "references", "database_specific", "cwe_ids")


def _json_array(*columns: Any) -> Any:
    """The JSON columns as the text of one JSON array: one json.loads per row instead of one per column."""
    text: ColumnElement[str] = cast(columns[0], Text)
    for item in columns[1:]:
        text = text + literal(",", Text) + cast(item, Text)
    return type_coerce(literal("[", Text) + text + literal("]", Text), NullType())


_CANDIDATES = select(
    VulnAffected.id,
    VulnRecord.source,
    VulnRecord.id,
    VulnRecord.summary,
    VulnRecord.details,
    _json_array(*(getattr(VulnAffected, name) for name in _ENTRY_JSON)),
    _json_array(*(getattr(VulnRecord, name) for name in _RECORD_JSON)),
    # another source has a copy of the record: which copy wins is settled in a second query
    type_coerce(exists().where(_OTHER_COPY.id == VulnRecord.id, _OTHER_COPY.source != VulnRecord.source), NullType()),
).join(VulnRecord, and_(VulnRecord.source == VulnAffected.source, VulnRecord.id == VulnAffected.record_id))


# The matcher's statement (finding_candidates): the entries of the probes' names whose interval admits the
# probe's version (decided on the index, before the row is read), each with its template, whether its
# interval decides alone (then its fix, "" for none), the ranges to evaluate otherwise, and whether another
# source has a copy of the record (read from the index on vuln_records.id alone, and skipped for the
# sources vuln_exclusive_sources lists; {false} is the dialect's). {probes} gives the rows (idx, name, own,
# semver): the probe's index, normalised name, and version keys (bounds.probe_key).
_MATCH_SQL = """
WITH p(idx, name, own, semver) AS ({probes})
SELECT a.id, p.idx, a.source, a.record_id, a.finding,
       CASE WHEN a.match_kind IN (1, 2) AND a.match_low IS NOT NULL AND a.match_high IS NOT NULL
            THEN a.match_fix END,
       CAST(a.ranges AS TEXT), CAST(a.versions AS TEXT),
       CASE WHEN a.source IN (SELECT name FROM vuln_exclusive_sources) THEN {false}
            ELSE (SELECT count(*) FROM vuln_records o WHERE o.id = a.record_id) > 1 END
FROM p JOIN vuln_affected a ON a.ecosystem = {ecosystem} AND a.name = p.name
WHERE a.match_kind IS NULL OR a.match_kind = 0 OR a.match_low IS NULL OR a.match_high IS NULL
   OR (CASE WHEN a.match_kind = 2 THEN p.semver ELSE p.own END) >= a.match_low
      AND (CASE WHEN a.match_kind = 2 THEN p.semver ELSE p.own END) < a.match_high
ORDER BY a.id, p.idx
"""
assert (ALWAYS, ECOSYSTEM_ORDER, SEMVER_ORDER) == (0, 1, 2)
# SQLite: the probes as VALUES rows, four parameters each (at most 32766 per statement)
PROBE_CHUNK = 5000
# decoded templates by their text, kept between calls: the text is the same on every scan until the
# record changes, and the matcher reads thousands per scan
MEMO_SIZE = 1 << 15


class VulnStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._counts_lock = threading.Lock()
        self._counts: tuple[tuple[Any, ...], list[EcosystemCount]] | None = None

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

    def candidates_for(
        self, ecosystem: str, probes: Sequence[tuple[str, str]]
    ) -> list[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
        """``(probe index, record, affected)`` for the affected entries in `ecosystem` that name a probe's
        package (``(name, installed version)``) and can cover its version: the entries ``records_for``
        returns for that name, less those whose stored interval (bounds.py) excludes the version. The
        caller still evaluates every entry returned; rows stored before the intervals existed are
        always returned. Ordered by entry, then probe; records and affected entries as in ``records_for``,
        except that records do not carry `modified` and `published`.

        Two statements per 5,000 names: the entries' intervals (narrow rows, filtered here), then the
        fields of the entries that pass, by id."""
        scheme = scheme_for(ecosystem)
        wanted: dict[str, list[tuple[int, bytes, bytes]]] = defaultdict(list)
        for index, (name, version) in enumerate(probes):
            wanted[normalise_name(ecosystem, name)].append((index, *_probe_keys(scheme, version)))
        with self.db.session() as session:
            kept = _inside_bounds(session, ecosystem, wanted)
            rows: dict[int, Any] = {}
            ids = sorted({affected_id for affected_id, _ in kept})
            for start in range(0, len(ids), NAME_CHUNK):
                statement = _CANDIDATES.where(VulnAffected.id.in_(ids[start : start + NAME_CHUNK]))
                rows.update((row[0], row) for row in session.connection().execute(statement))
            losers = _older_copies(session, ecosystem, set(wanted), {row[2] for row in rows.values() if row[-1]})
        return _candidate_pairs(ecosystem, probes, [(probe, rows[i]) for i, probe in kept], losers)

    def finding_candidates(self, ecosystem: str, probes: Sequence[tuple[str, str]]) -> Iterator[Candidate]:
        """What ``candidates_for`` returns, for building findings from the stored templates (template.py):
        ``(probe index, template, exact, affected, None)``, where `exact` is the fixed versions when the
        entry's interval decides alone (the version is affected, with this fix or none), else None and
        `affected` has the entry's `ranges` and `versions` to evaluate. Rows stored without a template
        (before revision 0008) come as ``(probe index, None, None, affected, record)`` with the
        OSV-shaped affected entry and record of ``candidates_for``. Same entries, same order, same
        newest-copy rule as ``candidates_for``.

        One statement (on SQLite one per 5,000 probes), the interval filter in SQL; the rows are read
        before the first item is yielded."""
        scheme = scheme_for(ecosystem)
        keyed = [(index, normalise_name(ecosystem, name), *_probe_keys(scheme, version))
                 for index, (name, version) in enumerate(probes)]  # fmt: skip
        with self.db.session() as session:
            rows = _match_rows(session, ecosystem, keyed)
            contested = {row[3] for row in rows if row[-1]}
            losers = _older_copies(session, ecosystem, {name for _, name, _, _ in keyed}, contested)
            untemplated = sorted({row[0] for row in rows if row[4] is None})
            old = {row[0]: row for row in _rows_by_id(session, _CANDIDATES, untemplated)}
        return self._candidates(ecosystem, probes, rows, losers, old)

    @staticmethod
    def _candidates(
        ecosystem: str,
        probes: Sequence[tuple[str, str]],
        rows: Sequence[Any],
        losers: set[tuple[str, str]],
        old: dict[int, Any],
    ) -> Iterator[Candidate]:
        # a generator: each item is dropped as soon as it is used (fewer objects for the garbage collector)
        old_pairs = iter(
            _candidate_pairs(ecosystem, probes, [(row[1], old[row[0]]) for row in rows if row[0] in old], losers)
        )
        memo = _TEMPLATES
        if len(memo) > MEMO_SIZE:
            memo.clear()
        decode = json.loads
        for affected_id, probe, source, record_id, text, fix, ranges, versions, contested in rows:
            if contested and (source, record_id) in losers:
                continue
            if text is None:
                if affected_id not in old:
                    continue  # deleted by an update between the two statements
                _, record, affected = next(old_pairs)
                yield probe, None, None, affected, record
                continue
            template = memo.get(text)
            if template is None:
                template = memo[text] = template_of(text)
            if fix is not None:
                yield probe, template, (fix,) if fix else (), None, None
            else:
                yield probe, template, None, {"ranges": decode(ranges), "versions": decode(versions)}, None

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

    def published_dates(self, ids: Iterable[str]) -> dict[str, datetime]:
        """When each of these records was first published (the earliest over the sources that serve it); ids
        without a publication date are left out."""
        wanted = list(dict.fromkeys(ids))
        dates: dict[str, datetime] = {}
        with self.db.session() as session:
            for start in range(0, len(wanted), NAME_CHUNK):
                chunk = wanted[start : start + NAME_CHUNK]
                rows = session.execute(
                    select(VulnRecord.id, func.min(VulnRecord.published))
                    .where(VulnRecord.id.in_(chunk), VulnRecord.published.is_not(None))
                    .group_by(VulnRecord.id)
                )
                dates.update((ident, published) for ident, published in rows if published is not None)
        return dates

    def sources(self) -> list[VulnSource]:
        with self.db.session() as session:
            return list(session.scalars(select(VulnSource).order_by(VulnSource.name)))

    def ecosystem_counts(self) -> list[EcosystemCount]:
        """Per source and ecosystem: how many records and how many distinct package names. The counts read every
        affected entry (a third of a second at 200,000), so they are kept until a source's last import changes
        (one read of the small sources table says whether it did, whichever process imported)."""
        with self.db.session() as session:
            version = tuple(
                session.execute(
                    select(VulnSource.name, VulnSource.last_success_at, VulnSource.record_count).order_by(
                        VulnSource.name
                    )
                ).all()
            )
        with self._counts_lock:
            if self._counts is not None and self._counts[0] == version:
                return list(self._counts[1])
        counts = self._count_ecosystems()
        with self._counts_lock:
            self._counts = (version, counts)
        return list(counts)

    def _count_ecosystems(self) -> list[EcosystemCount]:
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


_TEMPLATES: dict[str, Template] = {}


def _candidate_pairs(
    ecosystem: str, probes: Sequence[tuple[str, str]], rows: list[tuple[int, Any]], losers: set[tuple[str, str]]
) -> list[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
    # Decoded in full: after the interval filter nearly every entry is a finding, which reads all of it.
    records: dict[tuple[str, str], dict[str, Any]] = {}
    entries: dict[tuple[int, str], dict[str, Any]] = {}
    out: list[tuple[int, Mapping[str, Any], Mapping[str, Any]]] = []
    for probe, (affected_id, source, record_id, summary, details, entry_json, record_json, _) in rows:
        if (source, record_id) in losers:
            continue
        record = records.get((source, record_id))
        if record is None:
            record = {"id": record_id, "source": source, "summary": summary, "details": details}
            record.update(zip(_RECORD_JSON, json.loads(record_json), strict=True))
            records[(source, record_id)] = record
        asked_name = probes[probe][0]
        affected = entries.get((affected_id, asked_name))
        if affected is None:
            affected = {"package": {"ecosystem": ecosystem, "name": asked_name}}
            affected.update(zip(_ENTRY_JSON, json.loads(entry_json), strict=True))
            entries[(affected_id, asked_name)] = affected
        out.append((probe, record, affected))
    return out


def _plain_rows(session: Session, statement: Executable) -> Sequence[Any]:
    """The statement's rows as the DBAPI driver returns them (tuples), without building SQLAlchemy rows
    (half the time of reading the matcher's rows). Only for columns whose type converts nothing on reading."""
    result = session.connection().execute(statement)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _match_rows(session: Session, ecosystem: str, probes: list[tuple[int, str, bytes, bytes]]) -> list[Any]:
    """``_MATCH_SQL``'s rows for `probes` ``(index, normalised name, own key, SemVer key)``, as the driver
    returns them (the statement is written for each dialect: thousands of bound parameters cost SQLAlchemy
    more than the query)."""
    if not probes:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        relation = "SELECT * FROM unnest(%(idx)s::int[], %(name)s::text[], %(own)s::bytea[], %(semver)s::bytea[])"
        params = dict(zip(("idx", "name", "own", "semver"), map(list, zip(*probes, strict=True)), strict=True))
        sql = _MATCH_SQL.format(probes=relation, false="false", ecosystem="%(ecosystem)s")
        return _driver_rows(connection, sql, {**params, "ecosystem": ecosystem})
    rows: list[Any] = []
    for start in range(0, len(probes), PROBE_CHUNK):
        chunk = probes[start : start + PROBE_CHUNK]
        relation = "VALUES " + ",".join(["(?,?,?,?)"] * len(chunk))
        sql = _MATCH_SQL.format(probes=relation, false="0", ecosystem="?")
        rows.extend(_driver_rows(connection, sql, (*(value for probe in chunk for value in probe), ecosystem)))
    if len(probes) > PROBE_CHUNK:
        rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def _driver_rows(connection: Connection, sql: str, params: Any) -> list[Any]:
    result = connection.exec_driver_sql(sql, params)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _rows_by_id(session: Session, statement: Any, ids: list[int]) -> list[Any]:
    """The statement's plain rows for the affected entries `ids`."""
    rows: list[Any] = []
    for start in range(0, len(ids), NAME_CHUNK):
        rows.extend(_plain_rows(session, statement.where(VulnAffected.id.in_(ids[start : start + NAME_CHUNK]))))
    return rows


def _inside_bounds(
    session: Session, ecosystem: str, wanted: Mapping[str, list[tuple[int, bytes, bytes]]]
) -> list[tuple[int, int]]:
    """(entry id, probe index), ordered, for the entries of `ecosystem` naming a wanted package whose
    interval admits the probe's version."""
    names = list(wanted)
    kept: list[tuple[int, int]] = []
    for start in range(0, len(names), NAME_CHUNK):
        statement = _BOUNDS.where(
            VulnAffected.ecosystem == ecosystem, VulnAffected.name.in_(names[start : start + NAME_CHUNK])
        )
        for affected_id, name, kind, low, high in _plain_rows(session, statement):
            kept.extend(
                (affected_id, index) for index, own, semver in wanted[name] if admits(kind, low, high, own, semver)
            )
    kept.sort()
    return kept


def _probe_keys(scheme: VersionScheme | None, version: str) -> tuple[bytes, bytes]:
    """The installed version's key in the ecosystem's scheme and in SemVer (for SEMVER ranges)."""
    semver = probe_key(SEMVER, version)
    if scheme is None or scheme.name == SEMVER.name:
        return semver, semver
    return probe_key(scheme, version), semver


def _older_copies(session: Session, ecosystem: str, names: set[str], contested: Iterable[str]) -> set[tuple[str, str]]:
    """(source, id) of the copies that lose to a newer copy of the same record, decided as in
    ``records_for``: among the copies with an entry in `ecosystem` for one of `names`, of the `contested`
    record ids (those another source has a copy of)."""
    ids = sorted(contested)
    newest: dict[str, tuple[datetime, str]] = {}
    copies: set[tuple[str, str]] = set()
    join = and_(VulnRecord.source == VulnAffected.source, VulnRecord.id == VulnAffected.record_id)
    for start in range(0, len(ids), NAME_CHUNK):
        chunk = ids[start : start + NAME_CHUNK]
        statement = (
            select(VulnAffected.name, VulnRecord.source, VulnRecord.id, VulnRecord.modified)
            .join(VulnRecord, join)
            .where(VulnAffected.ecosystem == ecosystem, VulnAffected.record_id.in_(chunk))
        )
        for name, source, record_id, modified in session.execute(statement):
            if name not in names:
                continue
            copies.add((source, record_id))
            best = newest.get(record_id)
            if best is None or modified > best[0] or (modified == best[0] and source < best[1]):
                newest[record_id] = (modified, source)
    return {(source, record_id) for source, record_id in copies if newest[record_id][1] != source}
