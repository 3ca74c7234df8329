"""Updating and importing vulnerability data, one source at a time, each all or nothing.

A source is read completely first (downloaded to a temporary file, every record parsed and
checked), then its rows are replaced in one transaction. A failed, cut or corrupt download, or
one record that breaks the schema, therefore leaves the previous data serving; the source's row
records when and why it failed."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from sqlalchemy.exc import SQLAlchemyError

from ..services.audit import Actor, AuditLog
from ..store.db import Database
from ..store.models import VulnSource
from . import download
from .errors import RecordError, SourceConfigError, UpdateCancelled, VulnDBError
from .importer import (
    MAX_RECORD_BYTES,
    Snapshot,
    count_records,
    lock_source,
    read_dir,
    read_zip,
    replace_all,
    replace_some,
    stored_ids,
)
from .osv import parse_record
from .reports import DBStatus, SourceResult, SourceStatus
from .sources import SourceSpec, VulnConfig, check_name, guess_kind, is_remote, source_name
from .store import VulnStore
from .template import Candidate

log = logging.getLogger(__name__)

FETCH_WORKERS = 8


@dataclass(frozen=True)
class _Outcome:
    mode: Literal["full", "incremental"]
    records: int
    written: int
    removed: int


def default_source_name(location: str) -> str:
    """`…/Debian/all.zip` → `debian` (the default source it replaces); else the file or directory name."""
    path = Path(location.rstrip("/").split("?", 1)[0])
    if path.name == "all.zip" and path.parent.name:
        return source_name(unquote(path.parent.name))
    return source_name(path.stem if path.suffix == ".zip" else path.name) or "imported"


def shown_location(location: str) -> str:
    """A URL without what may carry a credential (user info, query, fragment); a path as it is."""
    if not is_remote(location):
        return location
    parts = urlsplit(location)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        cause = getattr(exc, "orig", None) or exc
        return f"database error: {type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    return str(exc)


class VulnDBService:
    def __init__(self, db: Database, config: VulnConfig | None = None) -> None:
        self.db = db
        self.config = config if config is not None else VulnConfig.from_env()
        self.store = VulnStore(db)
        self.audit = AuditLog(db)
        self._lock = threading.Lock()  # one update at a time per process (scheduler, API, CLI)
        # called after data changed (stored results are re-matched): the runtime registers them
        self.on_change: list[Callable[[], object]] = []

    def _changed(self, results: list[SourceResult]) -> None:
        if any(result.status == "ok" for result in results):
            for listener in self.on_change:
                listener()

    def records_for(self, ecosystem: str, names: Iterable[str]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        return self.store.records_for(ecosystem, names)

    def candidates_for(
        self, ecosystem: str, probes: Sequence[tuple[str, str]]
    ) -> list[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
        return self.store.candidates_for(ecosystem, probes)

    def finding_candidates(self, ecosystem: str, probes: Sequence[tuple[str, str]]) -> Iterator[Candidate]:
        return self.store.finding_candidates(ecosystem, probes)

    def is_empty(self) -> bool:
        return self.store.is_empty()

    # updates

    def update(
        self, sources: Sequence[str] | None = None, *, full: bool = False, cancel: threading.Event | None = None
    ) -> list[SourceResult]:
        """Update the configured sources (or the named ones): incrementally through `modified_id.csv`
        where the source offers it and its data came from the same URL, else by a full download.
        One result per source; a failure of one source does not stop the others."""
        specs = self._select(sources)
        with download.http_client() as client:
            results = [
                self._run(spec, partial(self._update_one, spec, client, full=full, cancel=cancel)) for spec in specs
            ]
        self._changed(results)
        return results

    def import_path(
        self,
        path_or_url: str,
        source_name: str | None = None,
        *,
        actor: Actor,
        shown_as: str | None = None,
        cancel: threading.Event | None = None,
    ) -> SourceResult:
        """Replace a source's records with an OSV zip (file or http(s) URL) or a directory of `.json`
        records. The default source name is the one a default OSV export would have (`Debian/all.zip` →
        `debian`), so an air-gapped import replaces what `update` would have downloaded. The audit log records
        the import as ``actor``'s, from ``shown_as`` (an upload's file name) or else the location."""
        location = path_or_url.strip()
        if not location:
            raise SourceConfigError("a path or URL to import is required")
        name = check_name(source_name or default_source_name(location))
        if is_remote(location):
            spec = SourceSpec(name, location, guess_kind(location))
        else:
            path = Path(location).expanduser().resolve()
            if not path.exists():
                raise SourceConfigError(f"{location}: no such file or directory")
            spec = SourceSpec(name, str(path), "osv-dir" if path.is_dir() else "osv-zip")
        with download.http_client() as client:
            importer = (actor, shown_as or shown_location(spec.url))
            result = self._run(spec, lambda attempted: self._full(spec, client, attempted, cancel, importer))
        self._changed([result])
        return result

    def _select(self, names: Sequence[str] | None) -> list[SourceSpec]:
        if not names:
            return list(self.config.sources)
        known = {spec.name: spec for spec in self.config.sources}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SourceConfigError(
                f"unknown source {', '.join(unknown)}; configured: {', '.join(known) or 'none'} "
                "(see REGSCOUT_VULN_SOURCES; `regscout db import` takes any other)"
            )
        return [known[n] for n in dict.fromkeys(names)]

    def _run(self, spec: SourceSpec, action: Callable[[datetime], _Outcome]) -> SourceResult:
        started = time.monotonic()
        with self._lock:
            attempted = datetime.now(UTC)
            try:
                outcome = action(attempted)
            except (VulnDBError, SQLAlchemyError, OSError) as exc:
                error = _error_text(exc)
                log.warning("vulnerability source %s: update failed: %s", spec.name, error)
                served = self._record_failure(spec, attempted, error)
                return SourceResult(
                    source=spec.name,
                    status="failed",
                    records=served,
                    seconds=round(time.monotonic() - started, 3),
                    error=error,
                )
        log.info(
            "vulnerability source %s: %s update, %d records (%d written, %d removed)",
            spec.name,
            outcome.mode,
            outcome.records,
            outcome.written,
            outcome.removed,
        )
        return SourceResult(
            source=spec.name,
            status="ok",
            mode=outcome.mode,
            records=outcome.records,
            written=outcome.written,
            removed=outcome.removed,
            seconds=round(time.monotonic() - started, 3),
        )

    def _record_failure(self, spec: SourceSpec, attempted: datetime, error: str) -> int:
        try:
            with self.db.session() as session:
                row = lock_source(session, spec.name, spec.url, spec.kind)
                row.last_attempt_at = attempted
                row.last_error = error[:4000]
                return row.record_count
        except SQLAlchemyError:
            log.exception("vulnerability source %s: could not record the failure", spec.name)
            return 0

    def _update_one(
        self,
        spec: SourceSpec,
        client: httpx.Client,
        attempted: datetime,
        *,
        full: bool,
        cancel: threading.Event | None,
    ) -> _Outcome:
        if not full and spec.changes_url is not None:
            with self.db.session() as session:
                row = session.get(VulnSource, spec.name)
            if (
                row is not None
                and row.last_success_at is not None
                and row.last_modified_seen is not None
                and (row.url, row.kind) == (spec.url, spec.kind)
            ):
                outcome = self._incremental(spec, client, attempted, row.last_modified_seen, cancel)
                if outcome is not None:
                    return outcome
        return self._full(spec, client, attempted, cancel)

    def _read(self, spec: SourceSpec, client: httpx.Client, cancel: threading.Event | None) -> Snapshot:
        if spec.kind == "osv-dir":
            return read_dir(Path(spec.url), cancel)
        if not is_remote(spec.url):
            return read_zip(Path(spec.url), cancel)
        with tempfile.TemporaryDirectory(prefix="regscout-vulndb-") as directory:
            archive = Path(directory) / "all.zip"
            download.to_file(client, spec.url, archive, self.config.max_download_bytes)
            return read_zip(archive, cancel)

    def _full(
        self,
        spec: SourceSpec,
        client: httpx.Client,
        attempted: datetime,
        cancel: threading.Event | None,
        importer: tuple[Actor, str] | None = None,
    ) -> _Outcome:
        """Replace the source's records with a complete download or file; an import (``importer``: who, from
        where) is recorded in the audit log in the same transaction."""
        with self._read(spec, client, cancel) as snapshot:
            if cancel is not None and cancel.is_set():
                raise UpdateCancelled("the update was cancelled; the previous data is kept")
            with self.db.session() as session:
                row = lock_source(session, spec.name, spec.url, spec.kind)
                before = stored_ids(session, spec.name)
                written = replace_all(session, spec.name, snapshot)
                row.url, row.kind = spec.url, spec.kind
                self._succeeded(row, attempted, written, snapshot.newest)
                outcome = _Outcome("full", written, written, len(before - snapshot.ids()))
                if importer is not None:
                    actor, location = importer
                    changes = {"location": location, "kind": spec.kind, "records": written, "removed": outcome.removed}
                    self.audit.record(session, actor, "vulndb.import", spec.name, changes)
            return outcome

    def _incremental(
        self,
        spec: SourceSpec,
        client: httpx.Client,
        attempted: datetime,
        since: datetime,
        cancel: threading.Event | None,
    ) -> _Outcome | None:
        """Fetch only the records `modified_id.csv` lists as changed since the last import, or None
        when a full download is the better way (no list, too many changes, a listed record missing)."""
        assert spec.changes_url is not None
        changes = download.changed_since(client, spec.changes_url, since, self.config.incremental_limit)
        if changes is None:
            return None
        with Snapshot() as snapshot, closing(self._fetch(spec, client, changes, cancel)) as fetched:
            for record_id, url, data in fetched:
                if data is None:
                    # deleted upstream, or a mirror that copies only all.zip: the archive is the truth
                    return None
                parsed = parse_record(data, url)
                if parsed.id != record_id:
                    raise RecordError(url, parsed.id, "id", f"expected {record_id}, the id modified_id.csv lists")
                snapshot.add(parsed)
            gone = snapshot.withdrawn
            stamps = [since, *(stamp for stamp, _ in changes), *([snapshot.newest] if snapshot.newest else [])]
            with self.db.session() as session:
                row = lock_source(session, spec.name, spec.url, spec.kind)
                removed = len(stored_ids(session, spec.name) & gone) if gone else 0
                written = replace_some(session, spec.name, snapshot, gone)
                records = count_records(session, spec.name)
                self._succeeded(row, attempted, records, max(stamps))
        return _Outcome("incremental", records, written, removed)

    @staticmethod
    def _fetch(
        spec: SourceSpec, client: httpx.Client, changes: list[tuple[datetime, str]], cancel: threading.Event | None
    ) -> Generator[tuple[str, str, bytes | None], None, None]:
        """(id, url, JSON or None when missing) of each changed record, in the list's order, fetched
        a few at a time: one round trip per record would make a busy day's delta slow."""
        record_ids = list(dict.fromkeys(record_id for _, record_id in changes))
        pool = ThreadPoolExecutor(max_workers=FETCH_WORKERS, thread_name_prefix="vulndb-fetch")
        try:
            urls = [spec.record_url(record_id) for record_id in record_ids]
            futures = [pool.submit(download.record_json, client, url, MAX_RECORD_BYTES) for url in urls]
            for record_id, url, future in zip(record_ids, urls, futures, strict=True):
                if cancel is not None and cancel.is_set():
                    raise UpdateCancelled("the update was cancelled; the previous data is kept")
                yield record_id, url, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _succeeded(row: VulnSource, attempted: datetime, records: int, newest: datetime | None) -> None:
        row.record_count = records
        row.last_success_at = datetime.now(UTC)
        row.last_attempt_at = attempted
        row.last_error = None
        row.last_modified_seen = newest

    # status and schedule

    def schedule(self, interval_seconds: int) -> dict[str, datetime]:
        """When each configured source is next due: its last attempt plus the interval, or now when it
        was never attempted. Empty when the interval is 0 (no scheduled updates)."""
        if interval_seconds <= 0:
            return {}
        now = datetime.now(UTC)
        rows = {row.name: row for row in self.store.sources()}
        due: dict[str, datetime] = {}
        for spec in self.config.sources:
            row = rows.get(spec.name)
            last = row.last_attempt_at if row is not None else None
            due[spec.name] = last + timedelta(seconds=interval_seconds) if last is not None else now
        return due

    def status(self) -> DBStatus:
        interval = self.config.update_interval
        schedule = self.schedule(interval)
        rows = {row.name: row for row in self.store.sources()}
        statuses: list[SourceStatus] = []
        for spec in self.config.sources:
            row = rows.pop(spec.name, None)
            statuses.append(self._source_status(spec.name, spec.url, spec.kind, row, True, schedule.get(spec.name)))
        for name, row in rows.items():
            statuses.append(self._source_status(name, row.url, row.kind, row, False, None))
        return DBStatus(update_interval_seconds=interval, sources=statuses, ecosystems=self.store.ecosystem_counts())

    @staticmethod
    def _source_status(
        name: str, url: str, kind: str, row: VulnSource | None, configured: bool, next_at: datetime | None
    ) -> SourceStatus:
        return SourceStatus(
            name=name,
            url=row.url if row is not None and row.last_success_at is not None else url,
            kind=row.kind if row is not None and row.last_success_at is not None else kind,
            configured=configured,
            record_count=row.record_count if row is not None else 0,
            last_success_at=row.last_success_at if row is not None else None,
            last_attempt_at=row.last_attempt_at if row is not None else None,
            last_error=row.last_error if row is not None else None,
            last_modified_seen=row.last_modified_seen if row is not None else None,
            next_update_at=next_at,
        )
