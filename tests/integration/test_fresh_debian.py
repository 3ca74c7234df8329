"""Debian 12 minbase as it is today (mmdebstrap from the archive, not a cached fixture), pushed to the real
registry and written in every SBOM and report format, each checked by its official validator.

This is the image that once crashed the CycloneDX writer: Debian copyright files declare SPDX ids, SPDX
expressions and names that are on no list, all for one package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from isal import igzip

from regscout.analysis.licenses import Kind, classify
from tests.harness.debian import build_debian_rootfs, dpkg_installed, dpkg_query_rows
from tests.harness.images import Layer, Pusher, build_image, sha256_digest
from tests.harness.registry import RunningRegistry
from tests.harness.validators import (
    cyclonedx_problems,
    regscout_json_problems,
    sarif_problems,
    spdx_problems,
)

from .cli_support import CliEnv
from .test_matching import write_debian_records


@pytest.fixture(scope="module")
def fresh_debian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rootfs = tmp_path_factory.mktemp("fresh-debian") / "rootfs.tar"
    build_debian_rootfs(rootfs)
    return rootfs


@pytest.fixture(scope="module")
def pushed(fresh_debian: Path, registry_anonymous: RunningRegistry) -> str:
    raw = fresh_debian.read_bytes()
    data = igzip.compress(raw, compresslevel=1)
    layer = Layer(
        "application/vnd.oci.image.layer.v1.tar+gzip", data, sha256_digest(data), len(data), sha256_digest(raw)
    )
    image = build_image([layer], history=[{"created_by": "ADD rootfs.tar / # mmdebstrap --variant=minbase"}])
    with Pusher(registry_anonymous) as pusher:
        pusher.push("library/debian", "12", image)
    return f"{registry_anonymous.host}/library/debian:12"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, fresh_debian: Path) -> CliEnv:
    """A home whose vulnerability data affects three source packages of the image, one with a fix."""
    env = CliEnv(tmp_path_factory.mktemp("home"))
    versions = {name: version for name, version, _ in dpkg_query_rows(fresh_debian, tmp_path_factory.mktemp("q"))}
    records = tmp_path_factory.mktemp("osv")
    write_debian_records(records, versions, sorted({"glibc", "e2fsprogs", "dpkg"}))
    env.run("db", "import", str(records), "--source", "fixtures")
    return env


def _write(cli: CliEnv, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "out"
    cli.run(*args, "--output", str(out))
    return out.read_text()


def test_sboms_in_every_format_validate(cli: CliEnv, pushed: str, fresh_debian: Path, tmp_path: Path) -> None:
    expected = dpkg_installed(fresh_debian, tmp_path / "dpkg")

    native = _write(cli, tmp_path, "sbom", pushed, "--format", "json")
    assert regscout_json_problems(native, "image-inventory.schema.json") == []
    packages = json.loads(native)["packages"]
    assert {(p["name"], p["version"]) for p in packages} == expected
    # the case that broke the CycloneDX writer is in today's image: one package declaring SPDX and non-SPDX together
    mixed = [
        p["name"]
        for p in packages
        if len({term.kind is Kind.NAME for text in p["licenses"] if (term := classify(text))}) == 2
    ]
    assert mixed, "no package of today's Debian declares SPDX and non-SPDX licences together"

    cdx = _write(cli, tmp_path, "sbom", pushed, "--format", "cyclonedx")
    assert cyclonedx_problems(cdx) == []
    components = {c["name"]: c for c in json.loads(cdx)["components"] if c["type"] != "operating-system"}
    assert {(c["name"], c["version"]) for c in components.values()} == expected
    licences = [c.get("licenses", []) for c in components.values()]
    assert all(len(entries) <= 1 or all("license" in e for e in entries) for entries in licences)
    assert all(components[name].get("licenses") for name in mixed)

    spdx = _write(cli, tmp_path, "sbom", pushed, "--format", "spdx")
    assert spdx_problems(spdx) == []
    document = json.loads(spdx)
    declared = {p["name"]: p.get("licenseDeclared") for p in document["packages"]}
    assert all(declared[name] not in (None, "NOASSERTION") for name in mixed)
    assert document["hasExtractedLicensingInfos"]


def test_reports_in_every_format_validate(cli: CliEnv, pushed: str, tmp_path: Path) -> None:
    report = _write(cli, tmp_path, "image", pushed, "--format", "json")
    assert regscout_json_problems(report, "vulnerability-report.schema.json") == []
    findings = json.loads(report)["findings"]
    source = {id(f): f["source_package"] or f["package"] for f in findings}  # dpkg's source is itself
    assert set(source.values()) == {"glibc", "e2fsprogs", "dpkg"}
    assert {f["fix_state"] for f in findings if source[id(f)] == "dpkg"} == {"fixed"}

    sarif = _write(cli, tmp_path, "image", pushed, "--format", "sarif")
    assert sarif_problems(sarif) == []
    assert {r["ruleId"] for r in json.loads(sarif)["runs"][0]["results"]} == {f["id"] for f in findings}

    cdx = _write(cli, tmp_path, "image", pushed, "--format", "cyclonedx")
    assert cyclonedx_problems(cdx) == []
    assert {v["id"] for v in json.loads(cdx)["vulnerabilities"]} == {f["id"] for f in findings}

    spdx = _write(cli, tmp_path, "image", pushed, "--format", "spdx")
    assert spdx_problems(spdx) == []

    table = _write(cli, tmp_path, "image", pushed, "--format", "table")
    assert f"Total: {len(findings)} (CRITICAL: {len(findings)}," in table
    assert all(f["id"] in table for f in findings)
    assert "\x1b[" not in table  # a file gets no terminal colours
