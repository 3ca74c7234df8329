"""Reading OSV records from a zip or a directory into memory, checked in full, and writing them to
the store: a whole source replaced, or a set of changed records, each in the caller's transaction."""

from __future__ import annotations

import json
import pickle
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import JSON, Dialect, Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from ..store.models import VulnAffected, VulnExclusiveSource, VulnRecord, VulnSource
from .errors import ArchiveError, UpdateCancelled
from .osv import ParsedRecord, parse_record

MAX_RECORD_BYTES = 64 << 20
BATCH = 2000
ID_CHUNK = 500
SHARED_IDS_LOCK = 0x5247_5343_0002  # a PostgreSQL advisory lock key of regscout (store/db.py: "RGSC" + a number)
RECORDS = cast(Table, VulnRecord.__table__)
AFFECTED = cast(Table, VulnAffected.__table__)


class Snapshot:
    """Checked records of one source, spooled to an unnamed temporary file so memory stays flat
    however large the source is: in memory are only each id's newest `modified` and which copy
    of it wins. Iterating yields the winning copy of every record that is not withdrawn."""

    def __init__(self) -> None:
        self._spool = tempfile.TemporaryFile(prefix="regscout-vulndb-")  # noqa: SIM115 - closed by close()
        self._winner: dict[str, tuple[datetime, int]] = {}  # id -> (modified, sequence number of its copy)
        self._sequence = 0
        self.withdrawn: set[str] = set()
        self.newest: datetime | None = None  # the newest `modified`, withdrawn records included

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._spool.close()

    def add(self, parsed: ParsedRecord) -> None:
        if self.newest is None or parsed.modified > self.newest:
            self.newest = parsed.modified
        known = self._winner.get(parsed.id)
        if known is not None and known[0] > parsed.modified:
            return  # the same id twice: the newer copy wins
        self._sequence += 1
        self._winner[parsed.id] = (parsed.modified, self._sequence)
        if parsed.withdrawn is not None:
            self.withdrawn.add(parsed.id)
            return
        self.withdrawn.discard(parsed.id)
        record = _values(_RECORD_COLUMNS, parsed.record)
        affected = [_values(_AFFECTED_COLUMNS, row) for row in parsed.affected]
        pickle.dump((self._sequence, parsed.id, record, affected), self._spool, protocol=pickle.HIGHEST_PROTOCOL)

    def ids(self) -> set[str]:
        """The ids of the records to serve."""
        return self._winner.keys() - self.withdrawn

    def __len__(self) -> int:
        return len(self._winner) - len(self.withdrawn)

    def __iter__(self) -> Iterator[Spooled]:
        self._spool.seek(0)
        while True:
            try:
                sequence, record_id, record, affected = pickle.load(self._spool)  # noqa: S301 - our own spool
            except EOFError:
                return
            if self._winner[record_id][1] == sequence:
                yield Spooled(record_id, record, affected)


class Spooled(NamedTuple):
    """A record as the spool keeps it: its vuln_records and vuln_affected column values, in the order of
    _RECORD_COLUMNS and _AFFECTED_COLUMNS, JSON columns as their text."""

    id: str
    record: tuple[Any, ...]
    affected: list[tuple[Any, ...]]


def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(column.name for column in table.columns if isinstance(column.type, JSON))


# The columns the spool keeps (without `source`, and `record_id`, which the write adds, and the key)
_RECORD_COLUMNS = tuple(column.name for column in RECORDS.columns if column.name != "source")
_AFFECTED_COLUMNS = tuple(
    column.name for column in AFFECTED.columns if column.name not in ("id", "source", "record_id")
)
_JSON = _json_columns(RECORDS) | _json_columns(AFFECTED)
_EMPTY_JSON: dict[type, str] = {list: "[]", dict: "{}"}


def _to_json(value: Any) -> str:
    """As SQLAlchemy's JSON type writes a value (no json_serializer is configured on the engines): json.dumps,
    without its cost for the empty lists and objects most columns hold."""
    if not value and type(value) in _EMPTY_JSON:
        return _EMPTY_JSON[type(value)]
    return json.dumps(value)


def _values(columns: tuple[str, ...], row: dict[str, Any]) -> tuple[Any, ...]:
    """A parsed row's column values, JSON columns serialised: while reading, where the work does not hold
    the write transaction, and a tuple of strings pickles and unpickles several times faster than nested
    dicts."""
    return tuple(_to_json(row[name]) if name in _JSON else row[name] for name in columns)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise UpdateCancelled("the update was cancelled; the previous data is kept")


def _zip_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{path.name} is not a valid zip archive: {exc}") from exc
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            origin = f"{path.name}:{info.filename}"
            if info.file_size > MAX_RECORD_BYTES:
                raise ArchiveError(f"{origin}: {info.file_size} bytes is over the limit of {MAX_RECORD_BYTES}")
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_RECORD_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
                raise ArchiveError(f"{origin}: the archive is corrupt: {exc}") from exc
            if len(data) > MAX_RECORD_BYTES:
                raise ArchiveError(f"{origin}: the member is over the limit of {MAX_RECORD_BYTES} bytes")
            yield origin, data


def _dir_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(path.rglob("*.json")):
        if not file.is_file():
            continue
        if file.stat().st_size > MAX_RECORD_BYTES:
            raise ArchiveError(f"{file}: over the limit of {MAX_RECORD_BYTES} bytes")
        yield str(file), file.read_bytes()


def read_documents(documents: Iterable[tuple[str, bytes]], cancel: threading.Event | None = None) -> Snapshot:
    """Parse and check every record before any is written: one bad record fails the whole source."""
    snapshot = Snapshot()
    try:
        for count, (origin, data) in enumerate(documents):
            if count % 1000 == 0:
                _check_cancel(cancel)
            snapshot.add(parse_record(data, origin))
    except BaseException:
        snapshot.close()
        raise
    return snapshot


def read_zip(path: Path, cancel: threading.Event | None = None) -> Snapshot:
    return read_documents(_zip_documents(path), cancel)


def read_dir(path: Path, cancel: threading.Event | None = None) -> Snapshot:
    if not path.is_dir():
        raise ArchiveError(f"{path} is not a directory")
    snapshot = read_documents(_dir_documents(path), cancel)
    if not len(snapshot) and not snapshot.withdrawn:
        snapshot.close()
        raise ArchiveError(f"{path} holds no .json records")
    return snapshot


def lock_source(session: Session, name: str, url: str, kind: str) -> VulnSource:
    """The source's row, created if missing and locked for this transaction, so two updates of one
    source (two servers on PostgreSQL) run one after the other rather than interleaved."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(VulnSource)
        .values(name=name, url=url, kind=kind, record_count=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    row = session.get(VulnSource, name, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


class _Insert:
    """One table's INSERT, written for the driver: the spool's rows need only the column types' conversions
    that are not JSON (timestamps, bytes), which SQLAlchemy's per-value processing made the larger part of
    the write. Stores exactly what inserting the parsed rows through SQLAlchemy stores."""

    def __init__(self, table: Table, columns: tuple[str, ...], dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        postgres = dialect.name == "postgresql"
        marks = ["%s::json" if postgres and name in _JSON else ("%s" if postgres else "?") for name in columns]
        # names from the models, quoted
        self.sql = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES ({', '.join(marks)})"  # noqa: S608
        self.processors = [
            (index, processor)
            for index, name in enumerate(columns)
            if name not in _JSON
            and (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self.processors:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for index, processor in self.processors:
                values[index] = processor(values[index])
            out.append(tuple(values))
        return out


def _insert(session: Session, source: str, records: Iterable[Spooled]) -> int:
    connection = session.connection()
    insert_records = _Insert(RECORDS, ("source", *_RECORD_COLUMNS), connection.dialect)
    insert_affected = _Insert(AFFECTED, ("source", "record_id", *_AFFECTED_COLUMNS), connection.dialect)
    record_rows: list[tuple[Any, ...]] = []
    affected_rows: list[tuple[Any, ...]] = []
    count = 0

    def flush() -> None:
        # records first: the affected rows' foreign key points at them
        if record_rows:
            connection.exec_driver_sql(insert_records.sql, insert_records.rows(record_rows))
            record_rows.clear()
        if affected_rows:
            connection.exec_driver_sql(insert_affected.sql, insert_affected.rows(affected_rows))
            affected_rows.clear()

    for spooled in records:
        count += 1
        record_rows.append((source, *spooled.record))
        affected_rows.extend((source, spooled.id, *row) for row in spooled.affected)
        if len(record_rows) >= BATCH or len(affected_rows) >= BATCH * 4:
            flush()
    flush()
    return count


def stored_ids(session: Session, source: str) -> set[str]:
    return set(session.scalars(select(VulnRecord.id).where(VulnRecord.source == source)))


def count_records(session: Session, source: str) -> int:
    return int(session.scalar(select(func.count()).select_from(VulnRecord).where(VulnRecord.source == source)) or 0)


def replace_all(session: Session, source: str, snapshot: Snapshot) -> int:
    """The source's records become exactly the snapshot's. Returns how many are stored."""
    # explicit deletes: SQLite would otherwise cascade to vuln_affected one record at a time
    session.execute(delete(VulnAffected).where(VulnAffected.source == source))
    session.execute(delete(VulnRecord).where(VulnRecord.source == source))
    written = _insert(session, source, snapshot)
    note_shared_ids(session, source, None)
    return written


def replace_some(session: Session, source: str, changed: Snapshot, gone: Collection[str]) -> int:
    """Write changed records over their old versions and drop the ids in `gone`. Returns how many were written."""
    ids = sorted(changed.ids() | set(gone))
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        session.execute(delete(VulnAffected).where(VulnAffected.source == source, VulnAffected.record_id.in_(chunk)))
        session.execute(delete(VulnRecord).where(VulnRecord.source == source, VulnRecord.id.in_(chunk)))
    written = _insert(session, source, changed)
    note_shared_ids(session, source, sorted(changed.ids()))
    return written


_OTHER = aliased(VulnRecord)
_HOLDER = aliased(VulnRecord)


def note_shared_ids(session: Session, source: str, ids: list[str] | None) -> None:
    """Keep ``vuln_exclusive_sources`` (read by the matcher) after `source` wrote all its records (`ids` None)
    or those in `ids`: a source is listed only while no other source has a record id it has. A full write
    lists it when that is so; a write that finds a shared id unlists it and the sources it shares with.
    A record deleted since may leave a source unlisted: that costs the matcher a check, never an answer."""
    if session.get_bind().dialect.name == "postgresql":
        # two sources written at once by two servers would each miss the other's uncommitted records: the
        # second waits here until the first has committed, then sees them (READ COMMITTED). Only
        # transactions holding this lock touch vuln_exclusive_sources, so waiting cannot deadlock.
        session.execute(select(func.pg_advisory_xact_lock(SHARED_IDS_LOCK)))
    # the sources that have a record id `source` has (counted on the index of vuln_records.id), itself included
    shared = select(VulnRecord.id).where(
        VulnRecord.source == source, select(func.count()).where(_OTHER.id == VulnRecord.id).scalar_subquery() > 1
    )
    holders = select(_HOLDER.source).distinct()
    others: set[str] = set()
    if ids is None:
        others.update(session.scalars(holders.where(_HOLDER.id.in_(shared))))
    else:
        for start in range(0, len(ids), ID_CHUNK):
            chunk = shared.where(VulnRecord.id.in_(ids[start : start + ID_CHUNK]))
            others.update(session.scalars(holders.where(_HOLDER.id.in_(chunk))))
    if others - {source}:
        others.add(source)
        session.execute(delete(VulnExclusiveSource).where(VulnExclusiveSource.name.in_(sorted(others))))
    elif ids is None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(VulnExclusiveSource).values(name=source).on_conflict_do_nothing())
