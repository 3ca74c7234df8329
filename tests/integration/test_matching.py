"""Matching correctness end to end: OSV records imported with `regscout db import`, fixture images
scanned with `regscout image`, and the expected findings computed here, independently of the matcher,
with the distributions' own comparators (dpkg --compare-versions, rpm's vercmp) where they exist."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from tests.harness.images import Pusher, build_image, tar_layer
from tests.harness.lang_fixtures import tree
from tests.harness.registry import RunningRegistry
from tests.harness.rpm_fixtures import rpm_databases

from .cli_support import CliEnv

CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
DPKG_STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2
"""
APK_INSTALLED = b"""C:Q1abc=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
o:musl
L:MIT

C:Q1def=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
L:GPL-2.0-only
"""


def record(
    ident: str,
    ecosystem: str,
    name: str,
    *,
    events: list[dict[str, str]] | None = None,
    versions: list[str] | None = None,
    kind: str = "ECOSYSTEM",
    **extra: Any,
) -> dict[str, Any]:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        affected["ranges"] = [{"type": kind, "events": events}]
    if versions is not None:
        affected["versions"] = versions
    return {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": "2024-06-01T00:00:00Z",
        "published": "2024-05-01T00:00:00Z",
        "summary": f"{ident} in {name}",
        "affected": [affected],
        **extra,
    }


def write_debian_records(directory: Path, versions: dict[str, str], sources: Iterable[str], **extra: Any) -> None:
    """One critical Debian 12 record per source package, numbered CVE-2099-<n> in the order given; dpkg's has a
    fix (its installed version + "+fix1"), the others none."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, source in enumerate(sources):
        fixed = [{"fixed": versions[source] + "+fix1"}] if source == "dpkg" else []
        osv = record(
            f"DEBIAN-CVE-2099-{number}",
            "Debian:12",
            source,
            events=[{"introduced": "0"}, *fixed],
            upstream=[f"CVE-2099-{number}"],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            **extra,
        )
        (directory / f"{osv['id']}.json").write_text(json.dumps(osv))


OS_OSV_ALPINE = "ALPINE-CVE-2024-2000"
RECORDS = [
    record(
        "DEBIAN-CVE-2024-1000",
        "Debian:12",
        "openssl",
        events=[{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}],
        upstream=["CVE-2024-1000"],
        severity=[{"type": "CVSS_V3", "score": CVSS}],
    ),
    record(
        "DSA-5600-1",
        "Debian:12",
        "openssl",
        events=[{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}],
        aliases=["CVE-2024-1000"],
    ),  # the same CVE from a second source: one finding
    record("DEBIAN-CVE-2024-1001", "Debian:12", "zlib", events=[{"introduced": "0"}], upstream=["CVE-2024-1001"]),
    record("DEBIAN-CVE-2024-1002", "Debian:12", "bash", events=[{"introduced": "0"}, {"fixed": "5.2.15-1"}]),
    record("DEBIAN-CVE-2024-1003", "Debian:12", "zlib", events=[{"introduced": "0"}], withdrawn="2024-06-02T00:00:00Z"),
    record("DEBIAN-CVE-2024-1004", "Debian:11", "openssl", events=[{"introduced": "0"}]),
    record(
        "ALPINE-CVE-2024-2000", "Alpine:v3.19", "musl", events=[{"introduced": "0"}, {"fixed": "1.2.4_git20230717-r5"}]
    ),
    record("ALPINE-CVE-2024-2001", "Alpine:v3.19", "busybox", events=[{"introduced": "0"}, {"fixed": "1.36.1-r7"}]),
    record(
        "RLSA-2024:3000",
        "Rocky Linux:9",
        "regscout-hello",
        events=[{"introduced": "0"}, {"fixed": "2:1.2.3-5.fc39"}],
        aliases=["CVE-2024-3000"],
    ),
    record("RLSA-2024:3001", "Rocky Linux:9", "regscout-thirdparty", events=[{"introduced": "0"}, {"fixed": "0.8-1"}]),
    record(
        "GHSA-aaaa-aaaa-aaaa",
        "PyPI",
        "idna",
        events=[{"introduced": "0"}, {"last_affected": "3.10"}],
        aliases=["CVE-2024-4000"],
    ),
    record("GHSA-bbbb-bbbb-bbbb", "PyPI", "PyYAML", events=[{"introduced": "5.1"}, {"fixed": "5.4"}]),
    record("GHSA-cccc-cccc-cccc", "npm", "ms", kind="SEMVER", events=[{"introduced": "2.0.0"}, {"fixed": "2.1.0"}]),
    record("GHSA-dddd-dddd-dddd", "Maven", "org.slf4j:slf4j-api", versions=["1.7.32"]),
    record("GHSA-eeee-eeee-eeee", "Maven", "commons-cli:commons-cli", events=[{"introduced": "0"}, {"fixed": "1.4"}]),
]


# ---- the independent oracle -------------------------------------------------------------------


def dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def rpm_cmp(a: str, b: str) -> int:
    out = subprocess.run(
        ["rpm", "--eval", f'%{{lua: print(rpm.vercmp("{a}", "{b}"))}}'], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip())


def numeric(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.replace("-r", ".").replace("_git", ".").split("."))


def less(ecosystem: str, a: str, b: str) -> bool:
    if ecosystem.startswith("Debian"):
        return dpkg_lt(a, b)
    if ecosystem.startswith("Rocky"):
        return rpm_cmp(a, b) < 0
    if ecosystem == "PyPI":
        return Version(a) < Version(b)
    return numeric(a) < numeric(b)  # the Alpine, npm and Maven fixture versions are plain numbers


def expected_state(rec: dict[str, Any], version: str) -> tuple[bool, str, tuple[str, ...]]:
    """(affected, fix state, fixed versions) for single-range records, straight from the OSV rules."""
    affected = rec["affected"][0]
    ecosystem = affected["package"]["ecosystem"]
    if version in affected.get("versions", []):
        return True, "not fixed", ()
    events = {k: v for e in affected.get("ranges", [{}])[0].get("events", []) for k, v in e.items()}
    if not events:
        return False, "", ()
    introduced, fixed, last = events.get("introduced"), events.get("fixed"), events.get("last_affected")
    if introduced not in (None, "0") and less(ecosystem, version, introduced):
        return False, "", ()
    if fixed is not None:
        return (True, "fixed", (fixed,)) if less(ecosystem, version, fixed) else (False, "", ())
    if last is not None and less(ecosystem, last, version):
        return False, "", ()
    return True, "not fixed", ()


def canonical(rec: dict[str, Any]) -> str:
    ids = [rec["id"], *rec.get("aliases", []), *rec.get("upstream", [])]
    return next((i for i in ids if i.startswith("CVE-")), rec["id"])


def expected_findings(installed: list[tuple[str, str, str, str]]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """installed: (ecosystem, lookup name, version to compare, reported package name)."""
    found = set()
    for rec in RECORDS:
        if "withdrawn" in rec:
            continue
        package = rec["affected"][0]["package"]
        for ecosystem, name, version, reported in installed:
            same_name = name.lower() == package["name"].lower() if ecosystem == "PyPI" else name == package["name"]
            if ecosystem != package["ecosystem"] or not same_name:
                continue
            hit, state, fixed = expected_state(rec, version)
            if hit:
                found.add((reported, canonical(rec), state, fixed))
    return found


# ---- the test ---------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    env = CliEnv(tmp_path / "home")
    records = tmp_path / "osv"
    records.mkdir()
    for rec in RECORDS:
        (records / f"{rec['id'].replace(':', '_')}.json").write_text(json.dumps(rec))
    env.run("db", "import", str(records), "--source", "fixtures")
    return env


def scan(cli: CliEnv, registry: RunningRegistry, repository: str) -> set[tuple[str, str, str, tuple[str, ...]]]:
    report = json.loads(cli.run("image", f"{registry.host}/{repository}", "--format", "json").stdout)
    return {(f["package"], f["id"], f["fix_state"], tuple(f["fixed_versions"])) for f in report["findings"]}


OS_RELEASE = {
    "debian": b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    "alpine": b'ID=alpine\nVERSION_ID=3.19.1\nNAME="Alpine Linux"\n',
    "rocky": b'ID="rocky"\nVERSION_ID="9.3"\nID_LIKE="rhel centos fedora"\n',
}


def test_debian_alpine_rocky_and_language_findings(cli: CliEnv, registry_anonymous: RunningRegistry) -> None:
    images = {
        "match/debian:1": [{"etc/os-release": OS_RELEASE["debian"], "var/lib/dpkg/status": DPKG_STATUS}],
        "match/alpine:1": [{"etc/os-release": OS_RELEASE["alpine"], "lib/apk/db/installed": APK_INSTALLED}],
        "match/rocky:1": [
            {"etc/os-release": OS_RELEASE["rocky"], "var/lib/rpm/rpmdb.sqlite": rpm_databases().sqlite.read_bytes()}
        ],
        "match/lang:1": [{f.path: f.data for f in [*tree("python"), *tree("node"), *tree("java")]}],
    }
    with Pusher(registry_anonymous) as pusher:
        for ref, layers in images.items():
            repository, tag = ref.split(":")
            pusher.push(repository, tag, build_image([tar_layer(files) for files in layers]))

    debian = scan(cli, registry_anonymous, "match/debian:1")
    assert debian == expected_findings(
        [
            ("Debian:12", "openssl", "3.0.11-1~deb12u1", "libssl3"),
            ("Debian:12", "zlib", "1:1.2.13.dfsg-1", "zlib1g"),
            ("Debian:12", "bash", "5.2.15-2", "bash"),
        ]
    )
    assert ("libssl3", "CVE-2024-1000", "fixed", ("3.0.13-1~deb12u1",)) in debian  # alias duplicate reported once
    assert ("zlib1g", "CVE-2024-1001", "not fixed", ()) in debian and len(debian) == 2

    alpine = scan(cli, registry_anonymous, "match/alpine:1")
    assert alpine == expected_findings(
        [("Alpine:v3.19", "musl", "1.2.4_git20230717-r4", "musl"), ("Alpine:v3.19", "busybox", "1.36.1-r15", "busybox")]
    )
    assert len(alpine) == 1

    rocky = scan(cli, registry_anonymous, "match/rocky:1")
    assert rocky == expected_findings(
        [
            ("Rocky Linux:9", "regscout-hello", "2:1.2.3-4.fc39", "regscout-hello"),
            ("Rocky Linux:9", "regscout-hello", "2:1.2.3-4.fc39", "regscout-hello-doc"),
            ("Rocky Linux:9", "regscout-thirdparty", "0.9-1", "regscout-thirdparty"),
        ]
    )
    assert len(rocky) == 2  # both binary packages of the regscout-hello source

    languages = scan(cli, registry_anonymous, "match/lang:1")
    assert languages == expected_findings(
        [
            ("PyPI", "idna", "3.10", "idna"),
            ("PyPI", "PyYAML", "6.0", "PyYAML"),
            ("npm", "ms", "2.0.0", "ms"),
            ("npm", "ms", "2.1.3", "ms"),
            ("Maven", "org.slf4j:slf4j-api", "1.7.32", "org.slf4j:slf4j-api"),
            ("Maven", "commons-cli:commons-cli", "1.5.0", "commons-cli:commons-cli"),
        ]
    )
    assert ("idna", "CVE-2024-4000", "not fixed", ()) in languages  # last_affected range
    assert len(languages) == 3


def test_severity_filters_and_exit_code(cli: CliEnv, registry_anonymous: RunningRegistry) -> None:
    with Pusher(registry_anonymous) as pusher:
        pusher.push(
            "match/gate",
            "1",
            build_image([tar_layer({"etc/os-release": OS_RELEASE["debian"], "var/lib/dpkg/status": DPKG_STATUS})]),
        )
    ref = f"{registry_anonymous.host}/match/gate:1"
    gate = cli.run("image", ref, "--severity", "CRITICAL", "--exit-code", "3", check_code=3)
    assert "CVE-2024-1000" in gate.stdout and "CVE-2024-1001" not in gate.stdout
    assert "Total: 1 (CRITICAL: 1" in gate.stdout
    fixed_only = json.loads(cli.run("image", ref, "--ignore-unfixed", "--format", "json").stdout)
    assert {f["id"] for f in fixed_only["findings"]} == {"CVE-2024-1000"}
    assert fixed_only["findings"][0]["score"] == 9.8 and fixed_only["findings"][0]["severity"] == "CRITICAL"
    assert cli.run("image", ref, "--severity", "LOW", "--exit-code", "3").returncode == 0
    assert "unknown severity" in cli.run("image", ref, "--severity", "SEVERE", check_code=2).stderr
