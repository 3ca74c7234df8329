"""Reading OSV records from a zip or a directory into memory, checked in full, and writing them to
the store: a whole source replaced, or a set of changed records, each in the caller's transaction."""

from __future__ import annotations

import pickle
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..store.models import VulnAffected, VulnRecord, VulnSource
from .errors import ArchiveError, UpdateCancelled
from .osv import ParsedRecord, parse_record

MAX_RECORD_BYTES = 64 << 20
BATCH = 2000
ID_CHUNK = 500
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
        fields = (self._sequence, parsed.id, parsed.modified, parsed.record, parsed.affected)
        pickle.dump(fields, self._spool, protocol=pickle.HIGHEST_PROTOCOL)

    def ids(self) -> set[str]:
        """The ids of the records to serve."""
        return self._winner.keys() - self.withdrawn

    def __len__(self) -> int:
        return len(self._winner) - len(self.withdrawn)

    def __iter__(self) -> Iterator[ParsedRecord]:
        self._spool.seek(0)
        while True:
            try:
                sequence, record_id, modified, record, affected = pickle.load(self._spool)  # noqa: S301 - our own spool
            except EOFError:
                return
            if self._winner[record_id][1] == sequence:
                yield ParsedRecord(record_id, modified, None, record, affected)


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


def _insert(session: Session, source: str, records: Iterable[ParsedRecord]) -> int:
    record_rows: list[dict[str, Any]] = []
    affected_rows: list[dict[str, Any]] = []
    count = 0

    def flush() -> None:
        # records first: the affected rows' foreign key points at them
        if record_rows:
            session.execute(RECORDS.insert(), record_rows)
            record_rows.clear()
        if affected_rows:
            session.execute(AFFECTED.insert(), affected_rows)
            affected_rows.clear()

    for parsed in records:
        count += 1
        record_rows.append({**parsed.record, "source": source})
        affected_rows.extend({**row, "source": source, "record_id": parsed.id} for row in parsed.affected)
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
    return _insert(session, source, snapshot)


def replace_some(session: Session, source: str, changed: Snapshot, gone: Collection[str]) -> int:
    """Write changed records over their old versions and drop the ids in `gone`. Returns how many were written."""
    ids = sorted(changed.ids() | set(gone))
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        session.execute(delete(VulnAffected).where(VulnAffected.source == source, VulnAffected.record_id.in_(chunk)))
        session.execute(delete(VulnRecord).where(VulnRecord.source == source, VulnRecord.id.in_(chunk)))
    return _insert(session, source, changed)
