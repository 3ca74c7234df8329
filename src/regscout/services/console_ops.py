"""What the console's jobs and vulnerability-data pages need beyond JobStore and VulnDBService: a page of jobs
filtered by state, registry and trigger, newest first; an uploaded OSV file made ready for `import_path`; and
updates or imports run in the background, one at a time per server, so no request waits minutes for one."""

from __future__ import annotations

import itertools
import json
import logging
import re
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from sqlalchemy import func, select

from ..access import Principal
from ..scanning.jobs import STATES, TRIGGERS, Job, JobError, job_from_row
from ..store.db import Database
from ..store.jobs_models import ScanJob
from ..vulndb.errors import VulnDBError
from ..vulndb.reports import SourceResult
from ..vulndb.service import VulnDBService
from .audit import Actor
from .visibility import Visibility

log = logging.getLogger(__name__)

PER_PAGE = 50
UPLOAD_PREFIX = "regscout-upload-"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
UPLOAD_SUFFIXES = (".zip", ".json", *ARCHIVE_SUFFIXES)
CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobFilter:
    """The list's filters as the query string has them; None: any."""

    state: str | None = None
    registry: str | None = None
    trigger: str | None = None

    def check(self) -> None:
        if self.state is not None and self.state not in STATES:
            raise JobError(f"unknown job state {self.state!r}; states are {', '.join(STATES)}")
        if self.trigger is not None and self.trigger not in TRIGGERS:
            raise JobError(f"unknown trigger {self.trigger!r}; triggers are {', '.join(TRIGGERS)}")


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first(self) -> int:
        """The 1-based position of the page's first job (0 when there is none)."""
        return (self.page - 1) * self.per_page + 1 if self.jobs else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.jobs)


class ConsoleJobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def page(
        self, filters: JobFilter, page: int = 1, per_page: int = PER_PAGE, visible: Principal | None = None
    ) -> JobPage:
        """``visible``: only the jobs in this principal's scopes."""
        """One page of the jobs matching the filters, newest first; a page past the end shows the last one."""
        filters.check()
        conditions = []
        if filters.state is not None:
            conditions.append(ScanJob.state == filters.state)
        if filters.registry is not None:
            conditions.append(ScanJob.integration_name == filters.registry)
        if filters.trigger is not None:
            conditions.append(ScanJob.trigger == filters.trigger)
        with self.db.session() as session:
            conditions.extend(Visibility(visible).jobs(session))
            total = int(session.scalar(select(func.count()).select_from(ScanJob).where(*conditions)) or 0)
            pages = max(1, -(-total // per_page))
            page = min(max(page, 1), pages)
            rows = session.scalars(
                select(ScanJob)
                .where(*conditions)
                .order_by(ScanJob.id.desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
            return JobPage([job_from_row(row) for row in rows], total, page, per_page)

    def next_attempt_at(self, job_id: int) -> datetime | None:
        """When a queued job may run next (a failed attempt backs off before the next); None for other states."""
        with self.db.session() as session:
            row = session.execute(select(ScanJob.state, ScanJob.not_before).where(ScanJob.id == job_id)).first()
        return row.not_before if row is not None and row.state == "queued" else None

    def registries(self) -> list[str]:
        """The integration names jobs were queued for (deleted integrations' too: their jobs keep the name)."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(ScanJob.integration_name)
                    .where(ScanJob.integration_name != "")
                    .distinct()
                    .order_by(ScanJob.integration_name)
                )
            )


# ---------------------------------------------------------------------------------------------------- uploads


class UploadError(ValueError):
    """An uploaded file that cannot be imported; the message says why."""


@dataclass(frozen=True)
class SavedUpload:
    """An upload on disk: `path` is what `import_path` reads (a zip, or a directory of records); `directory` holds
    it and is removed when the import ends."""

    path: Path
    directory: Path
    filename: str


def safe_filename(name: str) -> str:
    """The upload's base name with only letters, digits, '.', '_' and '-' (a browser may send a path)."""
    base = re.split(r"[\\/]", name.strip())[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-")
    return cleaned[:120] or "upload"


def upload_kind(filename: str) -> Literal["zip", "json", "tar"]:
    lowered = filename.lower()
    if lowered.endswith(".zip"):
        return "zip"
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith(ARCHIVE_SUFFIXES):
        return "tar"
    raise UploadError(
        f"{filename}: expected an OSV zip (.zip), one OSV record or a list of them (.json), "
        "or a tar archive of .json records (.tar, .tar.gz, .tgz)"
    )


def _copy(source: BinaryIO, target: Path, limit: int) -> int:
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadError(f"the file is larger than the limit of {limit >> 20} MiB")
            out.write(chunk)
    if written == 0:
        raise UploadError("the file is empty")
    return written


def _split_json(file: Path, records: Path) -> None:
    """One record stays one file; a JSON list of records becomes one file per record."""
    try:
        document = json.loads(file.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadError(f"{records.name} is not valid JSON: {exc}") from exc
    if not isinstance(document, list):
        (records / records.name).write_bytes(file.read_bytes())
        return
    if not document:
        raise UploadError(f"{records.name} holds an empty list")
    stem = records.name.removesuffix(".json")
    width = len(str(len(document)))
    for number, item in enumerate(document, start=1):
        (records / f"{stem}-{number:0{width}d}.json").write_text(json.dumps(item))


def _extract_tar(file: Path, records: Path, limit: int) -> None:
    """Only the archive's regular `.json` files, each under a name of ours: no path of the archive is used."""
    total = found = 0
    try:
        with tarfile.open(file) as archive:
            for member in archive:
                if not member.isfile() or not member.name.endswith(".json"):
                    continue
                total += member.size
                if total > limit:
                    raise UploadError(f"the archive's records are larger than the limit of {limit >> 20} MiB")
                extracted = archive.extractfile(member)
                if extracted is None:
                    continue
                found += 1
                with extracted, (records / f"{found:06d}-{safe_filename(member.name)}").open("wb") as out:
                    shutil.copyfileobj(extracted, out, CHUNK)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UploadError(f"{file.name} is not a readable tar archive: {exc}") from exc
    if not found:
        raise UploadError(f"{file.name} holds no .json records")


def save_upload(source: BinaryIO, filename: str, limit: int, directory: Path | None = None) -> SavedUpload:
    """Write an uploaded OSV file to a new temporary directory in the form `import_path` reads."""
    name = safe_filename(filename)
    kind = upload_kind(name)
    where = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=directory))
    try:
        if kind == "zip":
            file = where / name
            _copy(source, file, limit)
            return SavedUpload(file, where, name)
        # The records' directory carries the file's name: the source's location then names the upload.
        file = where / f"upload-{name}"
        _copy(source, file, limit)
        records = where / name
        records.mkdir()
        if kind == "json":
            _split_json(file, records)
        else:
            _extract_tar(file, records, limit)
        file.unlink()
        return SavedUpload(records, where, name)
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise


_UPLOAD_PATH = re.compile(r"(?:/[^/\s]+)*/" + UPLOAD_PREFIX + r"[^/\s]+/(?:[^/\s]+/)?")


def without_upload_paths(text: str) -> str:
    """An error about an uploaded file as its uploader knows it: `broken.json: record …`, not the temporary path."""
    return _UPLOAD_PATH.sub("", text)


def is_upload_location(url: str) -> bool:
    """Whether a source's location is a console upload's temporary file (gone once its import ended)."""
    return UPLOAD_PREFIX in url and not url.startswith(("http://", "https://"))


# ---------------------------------------------------------------------------------------------------- background


class DataTaskBusy(Exception):
    """An update or import is already running."""


@dataclass
class DataTask:
    """One update or import started from the console, and how it ended."""

    id: int
    kind: Literal["update", "import"]
    what: str
    started_at: datetime
    finished_at: datetime | None = None
    results: list[SourceResult] = field(default_factory=list)
    error: str | None = None  # the run could not start or broke off: no per-source results
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    @property
    def failed(self) -> list[SourceResult]:
        return [result for result in self.results if not result.ok]

    @property
    def ok(self) -> bool:
        return not self.running and self.error is None and not self.failed

    def wait(self, seconds: float) -> bool:
        """True when the task ended within `seconds`."""
        return self.done.wait(seconds)


class DataTasks:
    """Runs vulnerability-data updates and imports in a background thread, at most one at a time in this server,
    and keeps the last one to show its outcome. The thread is a daemon: a server stopping meanwhile does not wait
    for a download; the source being written is then rolled back, as every source's write is one transaction."""

    def __init__(self, vulndb: VulnDBService) -> None:
        self.vulndb = vulndb
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._last: DataTask | None = None

    def current(self) -> DataTask | None:
        """The running task, or else the last one that ended (None before the first)."""
        return self._last

    def update(self, sources: Sequence[str] | None = None) -> DataTask:
        names = list(sources or [])
        what = f"source {', '.join(names)}" if names else "every configured source"
        return self._start("update", what, lambda: self.vulndb.update(names or None))

    def import_upload(self, upload: SavedUpload, source: str, actor: Actor) -> DataTask:
        def work() -> list[SourceResult]:
            try:
                return [self.vulndb.import_path(str(upload.path), source, actor=actor, shown_as=upload.filename)]
            finally:
                shutil.rmtree(upload.directory, ignore_errors=True)

        try:
            return self._start("import", f"{upload.filename} into source {source}", work)
        except DataTaskBusy:
            shutil.rmtree(upload.directory, ignore_errors=True)
            raise

    def _start(self, kind: Literal["update", "import"], what: str, work: Callable[[], list[SourceResult]]) -> DataTask:
        with self._lock:
            if self._last is not None and self._last.running:
                raise DataTaskBusy(
                    f"the {self._last.kind} of {self._last.what} is still running: wait for it to end, then try again"
                )
            task = DataTask(next(self._ids), kind, what, datetime.now(UTC))
            self._last = task
        thread = threading.Thread(target=self._run, args=(task, work), name=f"console-{kind}-{task.id}", daemon=True)
        thread.start()
        return task

    @staticmethod
    def _run(task: DataTask, work: Callable[[], list[SourceResult]]) -> None:
        try:
            task.results = work()
        except VulnDBError as exc:
            task.error = str(exc)
        except Exception as exc:
            log.exception("console %s of %s failed", task.kind, task.what)
            task.error = f"unexpected {type(exc).__name__}; the server log has the details"
        finally:
            task.finished_at = datetime.now(UTC)
            task.done.set()
