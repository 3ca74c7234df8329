"""The jobs and vulnerability-data pages' view helpers, and what console_ops adds to the services: a filtered page
of jobs, uploads made ready for import_path, and background updates one at a time."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from regscout.runtime import Runtime
from regscout.scanning.jobs import Job, JobError, JobSpec
from regscout.services.audit import SYSTEM, Actor
from regscout.services.console_ops import (
    UPLOAD_PREFIX,
    ConsoleJobs,
    DataTaskBusy,
    DataTasks,
    JobFilter,
    JobPage,
    UploadError,
    is_upload_location,
    safe_filename,
    save_upload,
    upload_kind,
    without_upload_paths,
)
from regscout.services.integrations import IntegrationInput
from regscout.vulndb.errors import SourceConfigError
from regscout.vulndb.reports import DBStatus, EcosystemCount, SourceResult, SourceStatus
from regscout.web.pages import jobs as page
from regscout.web.pages import vulndb as data
from tests.integration.conftest import make_runtime

T0 = datetime(2026, 12, 4, 10, 15, 3, tzinfo=UTC)


def a_job(**changes: Any) -> Job:
    job = Job(
        id=7,
        kind="scan",
        integration_id=1,
        integration="lab",
        repository="team/tool",
        reference="1.0",
        digest=None,
        platform="",
        state="queued",
        trigger="manual",
        attempts=0,
        max_attempts=4,
        timeout_seconds=1800,
        reason=None,
        result_digest=None,
        summary=None,
        bytes_fetched=0,
        sync_id=None,
        lease_owner=None,
        lease_expires_at=None,
        cancel_requested=False,
        created_at=T0,
        started_at=None,
        finished_at=None,
    )
    return replace(job, **changes)


# ------------------------------------------------------------------------------------------------------------ jobs


def test_the_list_refreshes_only_while_a_shown_job_can_change() -> None:
    assert page.needs_refresh([a_job(state="succeeded"), a_job(state="running")])
    assert page.needs_refresh([a_job(state="queued")])
    assert not page.needs_refresh([a_job(state=s) for s in ("succeeded", "failed", "cancelled")])
    assert not page.needs_refresh([])


@pytest.mark.parametrize(
    ("changes", "cancel", "retry"),
    [
        ({"state": "queued"}, True, False),
        ({"state": "running"}, True, False),
        ({"state": "running", "cancel_requested": True}, False, False),  # already asked to stop
        ({"state": "succeeded"}, False, False),
        ({"state": "failed"}, False, True),
        ({"state": "cancelled"}, False, True),
        ({"state": "failed", "integration_id": None}, False, False),  # its integration was deleted
        ({"state": "succeeded", "kind": "rematch", "integration_id": None}, False, False),
    ],
)
def test_which_actions_a_job_offers(changes: dict[str, Any], cancel: bool, retry: bool) -> None:
    job = a_job(**changes)
    assert page.can_cancel(job) is cancel
    assert page.can_retry(job) is retry


def test_findings_and_rematch_texts() -> None:
    found = a_job(state="succeeded", summary={"findings": {"CRITICAL": 1, "HIGH": 0, "LOW": 3}})
    assert page.findings_text(found) == "critical 1, low 3"
    assert page.findings_text(a_job(summary={"findings": {}})) == ""
    assert page.findings_text(a_job(summary={"findings": ["odd"]})) == ""
    assert page.findings_text(a_job()) == ""
    assert page.rematch_text(a_job(kind="rematch", summary={"images_changed": 1})) == "1 image changed"
    assert page.rematch_text(a_job(kind="rematch", summary={"images_changed": 3})) == "3 images changed"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.04, "0.0 s"), (12.345, "12.3 s"), (60, "1 min"), (61, "1 min 1 s"), (1800, "30 min"),
     (3725, "1 h 2 min 5 s")],
)  # fmt: skip
def test_duration_text(seconds: float | None, text: str) -> None:
    assert page.duration_text(seconds) == text


def test_times_to_the_second_in_utc() -> None:
    assert page.moment(None) == "—"
    assert page.moment(T0) == "2026-12-04 10:15:03 UTC"
    assert page.moment(T0.astimezone(ZoneInfo("Europe/Berlin"))) == "2026-12-04 10:15:03 UTC"


def test_next_attempt_text() -> None:
    assert page.next_attempt_text(None) == ""
    assert page.next_attempt_text(T0, now=T0 + timedelta(seconds=1)) == "as soon as a worker is free"
    assert page.next_attempt_text(T0 + timedelta(minutes=10), now=T0) == "not before 2026-12-04 10:25:03 UTC"


def test_blank_filters_mean_any_and_unknown_ones_are_refused() -> None:
    assert page.blank_to_none("  ") is None and page.blank_to_none(None) is None
    assert page.blank_to_none(" failed ") == "failed"
    JobFilter("failed", "lab", "schedule").check()
    with pytest.raises(JobError, match="unknown job state 'finished'"):
        JobFilter(state="finished").check()
    with pytest.raises(JobError, match="unknown trigger 'cron'"):
        JobFilter(trigger="cron").check()
    assert page.filter_params(JobFilter(state="failed")) == {"state": "failed", "registry": None, "trigger": None}


@pytest.mark.parametrize(
    ("text", "number"), [("3", 3), (" 2 ", 2), ("0", 1), ("-4", 1), ("abc", 1), ("", 1), (None, 1)]
)
def test_page_numbers_from_the_query_string(text: str | None, number: int) -> None:
    assert page.page_number(text) == number


def test_job_numbers_from_the_path() -> None:
    assert page.job_number("12") == 12
    assert page.job_number("abc") is None and page.job_number("-1") is None and page.job_number("1.5") is None
    assert page.job_number("9" * 30) is None  # no database integer is that long


def test_job_page_arithmetic() -> None:
    jobs = [a_job(id=n) for n in range(3)]
    middle = JobPage(jobs, total=8, page=2, per_page=3)
    assert (middle.pages, middle.has_previous, middle.has_next, middle.first, middle.last) == (3, True, True, 4, 6)
    last = JobPage(jobs[:2], total=8, page=3, per_page=3)
    assert (last.has_next, last.first, last.last) == (False, 7, 8)
    empty = JobPage([], total=0, page=1, per_page=3)
    assert (empty.pages, empty.has_previous, empty.has_next, empty.first, empty.last) == (1, False, False, 0, 0)


def test_notices_are_fixed_texts() -> None:
    assert set(page.NOTICES) == {"cancelled", "stopping", "retried"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "home")
    yield rt
    rt.db.dispose()


def integration(rt: Runtime, name: str) -> int:
    # In a thread of its own: in a run with the browser tests, Playwright's loop is running in this one.
    adding = rt.integrations.add(
        IntegrationInput(name=name, type="docker-registry", url="http://127.0.0.1:1"), test=False, actor=SYSTEM
    )
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, adding).result()
    return rt.integrations.identify(name)[0]


def test_a_page_of_jobs_filtered_newest_first(runtime: Runtime) -> None:
    lab, other = integration(runtime, "lab"), integration(runtime, "other")

    def spec(integration_id: int, name: str, tag: str, trigger: str) -> JobSpec:
        return JobSpec(integration_id, name, "team/app", tag, "", trigger, timeout_seconds=60)

    specs = [spec(lab, "lab", f"1.{n}", "manual" if n % 2 else "schedule") for n in range(7)]
    specs.append(spec(other, "other", "2.0", "manual"))
    ids = [e.job_id for e in runtime.jobs.enqueue(specs)]
    runtime.jobs.cancel(ids[0])
    console = ConsoleJobs(runtime.db)

    first = console.page(JobFilter(), page=1, per_page=3)
    assert [j.id for j in first.jobs] == ids[::-1][:3] and first.total == 8 and first.pages == 3
    assert [j.id for j in console.page(JobFilter(), page=3, per_page=3).jobs] == ids[1::-1]
    beyond = console.page(JobFilter(), page=99, per_page=3)  # past the end: the last page
    assert beyond.page == 3 and [j.id for j in beyond.jobs] == ids[1::-1]

    assert [j.image for j in console.page(JobFilter(registry="other")).jobs] == ["team/app:2.0"]
    manual_lab = console.page(JobFilter(registry="lab", trigger="manual")).jobs
    assert [j.reference for j in manual_lab] == ["1.5", "1.3", "1.1"]
    assert [j.id for j in console.page(JobFilter(state="cancelled")).jobs] == [ids[0]]
    assert console.page(JobFilter(state="failed")).total == 0
    with pytest.raises(JobError):
        console.page(JobFilter(state="nope"))
    assert console.registries() == ["lab", "other"]

    assert console.next_attempt_at(ids[1]) is not None  # queued: when it may run
    assert console.next_attempt_at(ids[0]) is None  # cancelled
    assert console.next_attempt_at(999) is None


# ------------------------------------------------------------------------------------------------------------ uploads


def osv(ident: str) -> dict[str, Any]:
    return {"schema_version": "1.6.0", "id": ident, "modified": "2024-06-01T00:00:00Z", "affected": []}


@pytest.mark.parametrize(
    ("name", "safe"),
    [("records.json", "records.json"), ("C:\\Users\\me\\all.zip", "all.zip"), ("../../etc/x.json", "x.json"),
     ("my file (1).zip", "my-file-1-.zip"), ("...", "upload"), ("", "upload")],
)  # fmt: skip
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_upload_kinds() -> None:
    assert upload_kind("all.ZIP") == "zip"
    assert upload_kind("one.json") == "json"
    assert {upload_kind(n) for n in ("r.tar", "r.tar.gz", "r.tgz")} == {"tar"}
    with pytest.raises(UploadError, match="expected an OSV zip"):
        upload_kind("notes.txt")


def test_a_zip_is_imported_as_it_is(tmp_path: Path) -> None:
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.writestr("A-1.json", json.dumps(osv("A-1")))
    saved = save_upload(io.BytesIO(body.getvalue()), "Debian all.zip", 1 << 20, tmp_path)
    assert saved.path == saved.directory / "Debian-all.zip" and saved.path.read_bytes() == body.getvalue()
    assert saved.directory.name.startswith(UPLOAD_PREFIX) and saved.filename == "Debian-all.zip"


def test_one_json_record_or_a_list_becomes_a_directory_named_as_the_upload(tmp_path: Path) -> None:
    one = save_upload(io.BytesIO(json.dumps(osv("A-1")).encode()), "one.json", 1 << 20, tmp_path)
    assert one.path.is_dir() and one.path.name == "one.json"
    assert [p.name for p in one.path.iterdir()] == ["one.json"]
    assert [p.name for p in one.directory.iterdir()] == ["one.json"]  # the raw upload is gone

    many = save_upload(io.BytesIO(json.dumps([osv(f"A-{n}") for n in range(12)]).encode()), "l.json", 1 << 20, tmp_path)
    files = sorted(p.name for p in many.path.iterdir())
    assert files[0] == "l-01.json" and files[-1] == "l-12.json" and len(files) == 12
    assert json.loads((many.path / "l-03.json").read_text())["id"] == "A-2"


def test_a_tar_gives_only_its_json_files_under_names_of_ours(tmp_path: Path) -> None:
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w:gz") as archive:
        for name, content in (("osv/A-1.json", osv("A-1")), ("../../evil.json", osv("A-2")), ("README", "hi")):
            data_bytes = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data_bytes)
            archive.addfile(info, io.BytesIO(data_bytes))
        link = tarfile.TarInfo("link.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    saved = save_upload(io.BytesIO(body.getvalue()), "records.tar.gz", 1 << 20, tmp_path)
    assert sorted(p.name for p in saved.path.iterdir()) == ["000001-A-1.json", "000002-evil.json"]
    assert not (tmp_path / "evil.json").exists() and not list(tmp_path.parent.glob("evil.json"))


@pytest.mark.parametrize(
    ("content", "name", "problem"),
    [
        (b"", "x.json", "the file is empty"),
        (b"{not json", "x.json", "x.json is not valid JSON"),
        (b"[]", "x.json", "holds an empty list"),
        (b"x" * 2048, "x.zip", "larger than the limit"),
        (b"not a tar", "x.tar", "not a readable tar archive"),
    ],
)
def test_unusable_uploads_are_refused_and_leave_nothing(
    tmp_path: Path, content: bytes, name: str, problem: str
) -> None:
    with pytest.raises(UploadError, match=problem):
        save_upload(io.BytesIO(content), name, 1024, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_tar_without_records_is_refused(tmp_path: Path) -> None:
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as archive:
        info = tarfile.TarInfo("README")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(UploadError, match=r"holds no \.json records"):
        save_upload(io.BytesIO(body.getvalue()), "r.tar", 1 << 20, tmp_path)


def test_upload_paths_are_left_out_of_messages_and_locations() -> None:
    where = f"/tmp/{UPLOAD_PREFIX}ab12cd"
    message = f"{where}/broken.json/broken.json: record X: field modified: bad"
    assert without_upload_paths(message) == "broken.json: record X: field modified: bad"
    assert without_upload_paths(f"cannot read {where}/all.zip: gone") == "cannot read all.zip: gone"
    assert without_upload_paths("GET https://example.org/all.zip failed") == "GET https://example.org/all.zip failed"
    assert is_upload_location(f"{where}/one.json")
    assert not is_upload_location("/srv/osv/Debian/all.zip")
    assert not is_upload_location(f"https://mirror/{UPLOAD_PREFIX}x/all.zip")


# ------------------------------------------------------------------------------------------------------------ data


def a_source(**changes: Any) -> SourceStatus:
    fields: dict[str, Any] = {
        "name": "debian",
        "url": "https://osv.example/Debian/all.zip",
        "kind": "osv-zip",
        "configured": True,
        "record_count": 0,
        "last_success_at": None,
        "last_attempt_at": None,
        "last_error": None,
        "last_modified_seen": None,
        "next_update_at": None,
    }
    return SourceStatus(**{**fields, **changes})


def test_a_sources_outcome_location_and_next_update() -> None:
    assert data.source_outcome(a_source()) == "never updated"
    assert data.source_outcome(a_source(last_success_at=T0)) == "ok"
    assert data.source_outcome(a_source(last_success_at=T0, last_error="timeout")) == "failed"
    assert data.source_location(a_source()) == "https://osv.example/Debian/all.zip"
    uploaded = a_source(url=f"/tmp/{UPLOAD_PREFIX}x1/records.json", kind="osv-dir", configured=False)
    assert data.source_location(uploaded) == "uploaded file records.json"
    assert data.next_update_text(uploaded, 3600) == "not scheduled (imported source)"
    assert data.next_update_text(a_source(next_update_at=T0), 0) == "off (no scheduled updates)"
    assert data.next_update_text(a_source(next_update_at=T0), 3600) == "2026-12-04 10:15:03 UTC"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "off"), (21600, "every 6 h"), (86400, "every 1 d"), (90, "every 90 s"), (120, "every 2 min")],
)
def test_interval_text(seconds: int, text: str) -> None:
    assert data.interval_text(seconds) == text


def test_total_records() -> None:
    report = DBStatus(
        update_interval_seconds=0,
        sources=[a_source(record_count=3), a_source(name="x", record_count=2)],
        ecosystems=[EcosystemCount(source="x", ecosystem="PyPI", records=2, packages=1)],
    )
    assert data.total_records(report) == 5


class FakeVulnDB:
    """Stands in for VulnDBService: each call waits until the test lets it go."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.calls: list[tuple[str, object, object]] = []
        self.importers: list[tuple[Actor, str | None]] = []
        self.raise_: Exception | None = None

    def update(self, names: list[str] | None = None) -> list[SourceResult]:
        self.calls.append(("update", names, None))
        self.go.wait(10)
        if self.raise_ is not None:
            raise self.raise_
        return [
            SourceResult(source="debian", status="failed", error="no network"),
            SourceResult(source="alpine", status="ok", records=5),
        ]

    def import_path(self, path: str, source: str, *, actor: Actor, shown_as: str | None = None) -> SourceResult:
        self.calls.append(("import", path, source))
        self.importers.append((actor, shown_as))
        assert Path(path).exists()
        self.go.wait(10)
        return SourceResult(source=source, status="ok", records=2, written=2)


def test_one_background_task_at_a_time_and_its_outcome(tmp_path: Path) -> None:
    fake = FakeVulnDB()
    tasks = DataTasks(fake)  # type: ignore[arg-type]
    assert tasks.current() is None
    running = tasks.update()
    assert running.running and not running.wait(0.05)
    assert "is running since" in data.task_headline(running)
    upload = save_upload(io.BytesIO(json.dumps(osv("A-1")).encode()), "one.json", 1 << 20, tmp_path)
    with pytest.raises(DataTaskBusy, match="update of every configured source is still running"):
        tasks.import_upload(upload, "mine", SYSTEM)
    assert not upload.directory.exists()  # a refused upload is not left behind
    fake.go.set()
    assert running.wait(5)
    assert not running.ok and [r.source for r in running.failed] == ["debian"]
    assert running.finished_at is not None
    assert data.task_headline(running).endswith("1 ok, 1 failed. A failed source keeps serving its previous data.")

    upload = save_upload(io.BytesIO(json.dumps(osv("A-1")).encode()), "one.json", 1 << 20, tmp_path)
    imported = tasks.import_upload(upload, "mine", SYSTEM)
    assert imported.wait(5) and imported.ok and tasks.current() is imported
    assert fake.calls[-1] == ("import", str(upload.path), "mine")
    assert fake.importers == [(SYSTEM, "one.json")]  # the audit log shows the upload's name, not its temporary path
    assert not upload.directory.exists()  # removed once the import ended
    assert data.task_headline(imported).endswith(": 1 source ok.")
    assert imported.what == "one.json into source mine"


def test_a_task_that_breaks_off_says_why(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeVulnDB()
    fake.go.set()
    tasks = DataTasks(fake)  # type: ignore[arg-type]
    fake.raise_ = SourceConfigError("unknown source nope")
    named = tasks.update(["nope"])
    assert named.wait(5) and named.error == "unknown source nope" and not named.ok
    assert fake.calls[-1] == ("update", ["nope"], None)
    assert data.task_headline(named) == "The update of source nope failed: unknown source nope"
    fake.raise_ = KeyError("bug")
    broken = tasks.update()
    assert broken.wait(5)
    assert broken.error == "unexpected KeyError; the server log has the details"
    assert "console update of every configured source failed" in caplog.text
