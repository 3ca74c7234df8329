"""Policies end to end through the real command and server: stored policies and acceptances, the verdicts kept per
stored image and re-evaluated when either changes, and the CI gate `regscout image check` (locally and through a
server) with its exit codes and formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from defusedxml import ElementTree as ET

from tests.harness.images import Pusher, build_image, tar_layer
from tests.harness.registry import RunningRegistry
from tests.harness.validators import sarif_problems

from .cli_support import CliEnv, Server
from .test_matching import DPKG_STATUS, OS_RELEASE, RECORDS

BLOCK_CRITICAL = """
policies:
  - name: no critical
    action: block
    criteria: {severity: CRITICAL}
  - name: no unfixed
    action: warn
    criteria: {fixable: false}
"""


@pytest.fixture
def stored(tmp_path: Path, registry_anonymous: RunningRegistry) -> tuple[CliEnv, str]:
    cli = CliEnv(tmp_path / "home")
    records = tmp_path / "osv"
    records.mkdir()
    for rec in RECORDS:
        (records / f"{rec['id'].replace(':', '_')}.json").write_text(json.dumps(rec))
    cli.run("db", "import", str(records), "--source", "fixtures")
    with Pusher(registry_anonymous) as pusher:
        pusher.push(
            "gate/app",
            "1",
            build_image([tar_layer({"etc/os-release": OS_RELEASE["debian"], "var/lib/dpkg/status": DPKG_STATUS})]),
        )
    return cli, f"{registry_anonymous.host}/gate/app:1"


def _policy_images(cli: CliEnv) -> dict[str, dict[str, int]]:
    return {p["name"]: p["images"] for p in json.loads(cli.run("policy", "list", "--format", "json").stdout)}


def test_gate_exits_by_the_block_policies_and_renders_every_format(stored: tuple[CliEnv, str], tmp_path: Path) -> None:
    cli, ref = stored
    nothing = cli.run("image", "check", ref, "--format", "json")
    assert json.loads(nothing.stdout)["outcome"] == "pass"
    (tmp_path / "policies.yaml").write_text(BLOCK_CRITICAL)
    cli.run("policy", "apply", str(tmp_path / "policies.yaml"))

    failed = cli.run("image", "check", ref, "--format", "json", check_code=1)
    document = json.loads(failed.stdout)
    verdicts = {p["name"]: p for p in document["policies"]}
    assert document["outcome"] == "fail"
    assert verdicts["no critical"]["outcome"] == "fail"
    assert [v["finding"]["id"] for v in verdicts["no critical"]["violations"]] == ["CVE-2024-1000"]
    assert verdicts["no unfixed"]["outcome"] == "warn"
    assert {v["finding"]["id"] for v in verdicts["no unfixed"]["violations"]} == {"CVE-2024-1001"}

    table = cli.run("image", "check", ref, check_code=1).stdout
    assert "no critical" in table and "CVE-2024-1000" in table and table.strip().splitlines()[-1].endswith("exit 1")
    junit = ET.fromstring(cli.run("image", "check", ref, "--format", "junit", check_code=1).stdout)
    failures = [case.get("name") for case in junit.iter("testcase") if case.find("failure") is not None]
    assert failures == ["no critical"]
    sarif = cli.run("image", "check", ref, "--format", "sarif", check_code=1).stdout
    assert sarif_problems(sarif) == []
    assert {r["ruleId"] for r in json.loads(sarif)["runs"][0]["results"]} == {
        "regscout/policy/no critical",
        "regscout/policy/no unfixed",
    }

    # an ignore file in the working directory accepts the critical finding: only the warning is left (exit 0)
    ignore = tmp_path / "ci" / ".regscoutignore"
    ignore.parent.mkdir()
    ignore.write_text("# fixed in the next release, ticket SEC-1\nCVE-2024-1000 exp:2999-01-01\n")
    passed = cli.run("image", "check", ref, "--format", "json", "--ignore-file", str(ignore))
    accepted = json.loads(passed.stdout)
    assert accepted["outcome"] == "warn"
    assert [a["finding"]["id"] for a in accepted["accepted"]] == ["CVE-2024-1000"]
    assert "SEC-1" in accepted["accepted"][0]["acceptance"]["reason"]

    # an expired line does not accept
    ignore.write_text("CVE-2024-1000 exp:2000-01-01\n")
    expired = json.loads(
        cli.run("image", "check", ref, "-f", "json", "--ignore-file", str(ignore), check_code=1).stdout
    )
    assert [e["finding"]["id"] for e in expired["expired"]] == ["CVE-2024-1000"]


def test_gate_errors_exit_2_never_0_or_1(stored: tuple[CliEnv, str], tmp_path: Path) -> None:
    cli, ref = stored
    missing = cli.run("image", "check", ref.replace("gate/app", "gate/none"), check_code=2)
    assert "error" in missing.stderr
    bad_ignore = tmp_path / "bad.ignore"
    bad_ignore.write_text("CVE-2024-1000 exp:someday\n")
    assert "line 1" in cli.run("image", "check", ref, "--ignore-file", str(bad_ignore), check_code=2).stderr
    no_token = cli.run("image", "check", ref, "--server", "http://127.0.0.1:1", check_code=2)
    assert "--token-env" in no_token.stderr
    assert cli.run("image", "check", ref, "--format", "xml", check_code=2).returncode == 2


def test_verdicts_are_stored_and_follow_policies_and_acceptances(stored: tuple[CliEnv, str], tmp_path: Path) -> None:
    cli, ref = stored
    cli.run("image", ref, "--format", "json")
    (tmp_path / "policies.yaml").write_text(BLOCK_CRITICAL)
    applied = cli.run("policy", "apply", str(tmp_path / "policies.yaml"))
    assert "re-evaluated 1 stored images" in applied.stderr and "2 verdicts changed" in applied.stderr
    assert _policy_images(cli) == {"no critical": {"fail": 1}, "no unfixed": {"warn": 1}}

    repository = ref.rsplit(":", 1)[0]
    cli.run("accept", "add", "CVE-2024-1000", "--repository", repository, "--reason", "mitigated by the WAF")
    assert _policy_images(cli)["no critical"] == {"pass": 1}
    listed = json.loads(cli.run("accept", "list", "--format", "json").stdout)
    assert [(a["vulnerability"], a["scope"], a["state"]) for a in listed] == [("CVE-2024-1000", "repository", "active")]

    cli.run("accept", "revoke", str(listed[0]["id"]))
    assert _policy_images(cli)["no critical"] == {"fail": 1}
    cli.run("policy", "disable", "no critical")
    assert _policy_images(cli)["no critical"] == {}  # disabled: no image has a verdict under it
    unchanged = cli.run("policy", "apply", str(tmp_path / "policies.yaml"))  # enables it again: a change
    assert "updated no critical" in unchanged.stdout and _policy_images(cli)["no critical"] == {"fail": 1}
    again = cli.run("policy", "apply", str(tmp_path / "policies.yaml"))
    assert "unchanged no critical" in again.stdout and "re-evaluated" not in again.stderr

    exported = cli.run("policy", "export", "--format", "json").stdout
    assert [p["name"] for p in json.loads(exported)["policies"]] == ["no critical", "no unfixed"]
    cli.run("policy", "remove", "no unfixed")
    assert set(_policy_images(cli)) == {"no critical"}
    missing = cli.run("policy", "enable", "no such policy", check_code=3)
    assert "no policy is named" in missing.stderr


def test_policy_documents_with_errors_are_refused_whole(stored: tuple[CliEnv, str], tmp_path: Path) -> None:
    cli, _ = stored
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "policies:\n  - name: ok\n    criteria: {severity: HIGH}\n  - name: broken\n    criteria: {cvss: 11}\n"
    )
    refused = cli.run("policy", "apply", str(bad), check_code=2)
    assert "broken" in refused.stderr and "cvss" in refused.stderr
    assert json.loads(cli.run("policy", "list", "--format", "json").stdout) == []
    defaults = cli.run("policy", "defaults")
    assert "disabled" in defaults.stdout
    assert all(not p["enabled"] for p in json.loads(cli.run("policy", "list", "--format", "json").stdout))


def test_gate_through_a_server_needs_no_local_database(stored: tuple[CliEnv, str], tmp_path: Path) -> None:
    cli, ref = stored
    (tmp_path / "policies.yaml").write_text(BLOCK_CRITICAL)
    cli.run("policy", "apply", str(tmp_path / "policies.yaml"))
    server = Server(cli)
    try:
        assert server.admin_token is not None
        ci_home = tmp_path / "ci-home"
        ci = CliEnv(ci_home, extra={"CI_TOKEN": server.admin_token})
        gate = ("image", "check", ref, "--server", server.url, "--token-env", "CI_TOKEN")
        failed = ci.run(*gate, "-f", "json", check_code=1)
        assert json.loads(failed.stdout)["outcome"] == "fail"
        ignore = tmp_path / "ignore"
        ignore.write_text("CVE-2024-1000\n")
        passed = ci.run(*gate, "--ignore-file", str(ignore))
        assert passed.stdout.strip().splitlines()[-1].endswith("exit 0")
        wrong = CliEnv(ci_home, extra={"CI_TOKEN": "rst_not-a-token"})
        assert "401" in wrong.run(*gate, check_code=2).stderr
        assert not ci_home.exists() or not list(ci_home.rglob("*.db"))  # nothing was stored on the CI side
    finally:
        server.stop()


def test_image_scan_leaves_out_what_the_ignore_file_and_vex_accept(stored: tuple[CliEnv, str], tmp_path: Path) -> None:
    cli, ref = stored
    everything = {f["id"] for f in json.loads(cli.run("image", ref, "-f", "json").stdout)["findings"]}
    assert everything == {"CVE-2024-1000", "CVE-2024-1001"}
    ignore = tmp_path / "ignore"
    ignore.write_text("CVE-2024-1001\n")
    vex = tmp_path / "vex.json"
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.com/vex/1",
                "author": "security@example.com",
                "timestamp": "2026-01-01T00:00:00Z",
                "version": 1,
                "statements": [
                    {
                        "vulnerability": {"name": "CVE-2024-1000"},
                        "products": [{"@id": "pkg:deb/debian/libssl3"}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                    }
                ],
            }
        )
    )
    only_vex = cli.run(
        "image", ref, "-f", "json", "--vex", str(vex), "--ignore-file", str(tmp_path / "none"), check_code=2
    )
    assert "cannot read" in only_vex.stderr
    both = cli.run("image", ref, "-f", "json", "--vex", str(vex), "--ignore-file", str(ignore))
    assert json.loads(both.stdout)["findings"] == [] and "2 findings accepted" in both.stderr
