"""Every output path fails cleanly: one line naming the image, the format and the cause; a non-zero exit (CLI) or
a 500 with a problem document (API); and never a partial or clobbered output file.

The writers are broken on purpose here (monkeypatched to raise what their libraries raise), in-process, against
a real image in the real registry; the paths that fail without help (an output path that is a directory) run
the real command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cyclonedx.exception.model import LicenseExpressionAlongWithOthersException
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import regscout.analysis.sbom
import regscout.report.formats
from regscout.api.app import create_app
from regscout.cli.main import app, main
from regscout.results.service import ResultsService
from regscout.services.audit import SYSTEM
from tests.harness.images import Pusher, build_image, tar_layer
from tests.harness.registry import RunningRegistry

from .cli_support import CliEnv
from .conftest import make_runtime

OS_RELEASE = b"ID=debian\nVERSION_ID=12\n"
STATUS = b"Package: e2fsprogs\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.47.0-2+b2\n"


def _library_error() -> Exception:
    return LicenseExpressionAlongWithOthersException("Found LicenseExpression along with others licenses in: e2fsprogs")


def _broken(*_args: object) -> str:
    raise _library_error()


@pytest.fixture(scope="module")
def image(registry_anonymous: RunningRegistry) -> tuple[str, str]:
    """(reference, host/repository@digest) of a small Debian image."""
    with Pusher(registry_anonymous) as pusher:
        digest = pusher.push(
            "failures/app",
            "1",
            build_image([tar_layer({"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS})]),
        )
    return f"{registry_anonymous.host}/failures/app:1", f"{registry_anonymous.host}/failures/app@{digest}"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("REGSCOUT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_COLOR", "1")
    return CliRunner()


def _requests_for(registry: RunningRegistry, repository: str) -> int:
    """Requests for the repository in the registry's access log."""
    return registry.log_file.read_text(errors="replace").count(f"/v2/{repository}/")


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_a_failing_sbom_writer_keeps_the_old_file(
    runner: CliRunner, image: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, name = image
    out = tmp_path / "sbom.json"
    out.write_text("yesterday's SBOM")
    monkeypatch.setattr(regscout.analysis.sbom, "cyclonedx", _broken)

    result = runner.invoke(app, ["sbom", ref, "--format", "cyclonedx", "--output", str(out)])

    assert result.exit_code == 6
    assert _error_lines(result.stderr)[-1] == (
        f"error: cannot write the cyclonedx report of {name}: LicenseExpressionAlongWithOthersException: "
        "Found LicenseExpression along with others licenses in: e2fsprogs"
    )
    assert "Traceback" not in result.output
    assert out.read_text() == "yesterday's SBOM"
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_a_failing_report_writer_fails_the_scan_command_but_keeps_the_result(
    runner: CliRunner, image: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, name = image
    monkeypatch.setitem(regscout.report.formats.DOCUMENT_WRITERS, "sarif", _broken)
    out = tmp_path / "report.sarif"

    result = runner.invoke(app, ["image", ref, "--format", "sarif", "--output", str(out)])

    assert result.exit_code == 6
    assert _error_lines(result.stderr)[-1].startswith(f"error: cannot write the sarif report of {name}: ")
    assert not out.exists()
    # the scan itself was stored: the result is there for the next command
    stored = runner.invoke(app, ["results", "list", "--json"])
    assert stored.exit_code == 0 and [row["repository"] for row in json.loads(stored.stdout)] == ["failures/app"]


def test_an_output_path_that_cannot_be_written_is_refused_before_pulling(
    image: tuple[str, str], tmp_path: Path, registry_anonymous: RunningRegistry
) -> None:
    ref, _ = image
    cli = CliEnv(tmp_path / "home")
    target = tmp_path / "reports"
    target.mkdir()
    requests_before = _requests_for(registry_anonymous, "failures/app")
    assert requests_before > 0  # the push is in the access log
    for command in (["sbom", ref, "--format", "spdx"], ["image", ref, "--format", "json"]):
        result = cli.run(*command, "--output", str(target), check_code=2)
        assert _error_lines(result.stderr)[-1] == f"error: --output {target} is a directory; name a file"
    missing = cli.run("sbom", ref, "--output", str(tmp_path / "no" / "dir.json"), check_code=2)
    assert _error_lines(missing.stderr) == [
        f"error: --output {tmp_path / 'no' / 'dir.json'}: the directory {tmp_path / 'no'} does not exist"
    ]
    assert _requests_for(registry_anonymous, "failures/app") == requests_before
    assert list(target.iterdir()) == []


def test_an_unexpected_error_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGSCOUT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REGSCOUT_DEBUG", raising=False)

    def broken_summary(_self: ResultsService) -> list[object]:
        raise RuntimeError("database said [/oops]")

    monkeypatch.setattr(ResultsService, "summary", broken_summary)
    monkeypatch.setattr(sys, "argv", ["regscout", "results", "list"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("error: unexpected RuntimeError: database said [/oops]")

    monkeypatch.setenv("REGSCOUT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="database said"):
        main()


def test_api_answers_a_problem_document(
    image: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, name = image
    runtime = make_runtime(tmp_path / "api-home")
    _, token = runtime.tokens.create("t", actor=SYSTEM)
    headers = {"Authorization": f"Bearer {token.reveal()}"}
    monkeypatch.setattr(regscout.analysis.sbom, "spdx", _broken)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/images/sbom", params={"ref": ref, "format": "spdx"}, headers=headers)
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["status"] == 500 and body["image"] == name and body["format"] == "spdx"
        assert body["type"] == "/problems/report-failed" and body["error"] == "ReportError"
        assert body["detail"].startswith(f"cannot write the spdx report of {name}: LicenseExpressionAlongWith")

        def boom(*_args: object) -> object:
            raise RuntimeError("internal detail the client must not see")

        monkeypatch.setattr("regscout.api.images.native", boom)
        unexpected = client.get("/api/v1/images/inspect", params={"ref": ref}, headers=headers)
        assert unexpected.status_code == 500
        assert unexpected.headers["content-type"] == "application/problem+json"
        assert unexpected.json()["title"] == "Internal Server Error"
        assert "internal detail" not in unexpected.text and "RuntimeError" in unexpected.json()["detail"]
    runtime.db.dispose()
