"""A report is written whole or not at all, and any failure is one ReportError naming the image, format and cause."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regscout.report.writer import ReportError, rendered, write_atomically

IMAGE = "registry.example/team/app@sha256:" + "a" * 64


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


def test_a_failing_writer_becomes_one_error_naming_image_format_and_cause() -> None:
    def broken() -> str:
        raise KeyError("licenses")

    with pytest.raises(ReportError) as caught:
        rendered(IMAGE, "cyclonedx", broken)
    assert str(caught.value) == f"cannot write the cyclonedx report of {IMAGE}: KeyError: 'licenses'"
    assert (caught.value.image, caught.value.format) == (IMAGE, "cyclonedx")
    assert rendered(IMAGE, "json", lambda: "{}") == "{}"


def test_replaces_an_existing_file_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "bom.json"
    target.write_text("old")
    target.chmod(0o640)
    write_atomically(target, "new document\n", image=IMAGE, fmt="spdx")
    assert target.read_text() == "new document\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_a_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "report.sarif", "{}", image=IMAGE, fmt="sarif")
    finally:
        os.umask(previous)
    assert (tmp_path / "report.sarif").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("the previous report")
    with pytest.raises(ReportError) as caught:
        write_atomically(target, "table \udc80 with an unencodable character", image=IMAGE, fmt="table")
    assert "cannot write" in str(caught.value) and "UnicodeEncodeError" in str(caught.value)
    assert target.read_text() == "the previous report"
    assert _leftovers(tmp_path) == []


def test_unwritable_places_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"cannot create a file in .*missing: No such file or directory"):
        write_atomically(tmp_path / "missing" / "bom.json", "{}", image=IMAGE, fmt="cyclonedx")
    (tmp_path / "a-directory").mkdir()
    with pytest.raises(ReportError, match=r"cannot write .*a-directory: Is a directory"):
        write_atomically(tmp_path / "a-directory", "{}", image=IMAGE, fmt="cyclonedx")
    assert _leftovers(tmp_path) == []
