"""Policy evaluation speed: 20 enabled policies over one synthetic image with 1,000 findings.

The image: Debian 12 with 400 packages (deb, PyPI, npm, Maven), 1,000 findings with a seeded mix of severities,
CVSS scores, fixes and advisory dates, a 15-line history, labels and exposed ports; 12 risk acceptances (some
expired). The policies use every criterion and scope kind. Each run is one ``evaluate`` call from scratch (the
subject's index is rebuilt every time; the policies are compiled once, as a caller keeping them would). The
median of --runs runs is compared with the 10 ms target; the median with policies compiled on every call is
printed too.

Re-evaluating 10,000 stored images, the issue's other figure, needs the database and is not measured here.

Run: .venv/bin/python -m bench.policy [--findings 1000] [--runs 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from regscout.analysis.details import ImageDetails
from regscout.analysis.merge import FoundPackage, Inventory, LayerRef
from regscout.analysis.model import OSRelease, Package
from regscout.policy import Acceptance, Evaluation, Policy, Subject, compile_policies, evaluate, load_policies
from regscout.vulndb.matcher import Finding

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TARGET_MS = 10.0
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN")
SEVERITY_WEIGHTS = (5, 20, 40, 25, 2, 8)
ECOSYSTEMS = (("deb", "Debian:12", 0.6), ("PyPI", "PyPI", 0.15), ("npm", "npm", 0.15), ("Maven", "Maven", 0.1))
LICENCES = ("MIT", "Apache-2.0", "GPL-2.0-only", "GPL-3.0-or-later", "BSD-3-Clause", "MIT OR Apache-2.0", "AGPL-3.0")

POLICIES = """
- name: critical fixable
  action: block
  criteria: {severity: CRITICAL, fixable: true}
- name: high fix older than 30 days
  action: block
  criteria: {severity: HIGH, fixable: true, fix_days: 30}
- name: cvss 9
  criteria: {cvss: 9.0}
- name: cvss 7 published 90 days
  criteria: {cvss: 7, published_days: 90}
- name: medium fixable
  criteria: {severity: MEDIUM, fixable: true}
- name: known exploited
  action: block
  criteria: {cve_ids: [CVE-2021-44228, CVE-2021-45046, CVE-2024-3094, CVE-2014-0160, CVE-2022-22965]}
- name: log4j
  action: block
  criteria: {packages: [{ecosystem: Maven, name: "org.apache.logging.log4j:log4j-core", versions: ["<2.17.1"]}]}
- name: old python libraries with findings
  criteria:
    severity: LOW
    packages:
      - {ecosystem: PyPI, name: requests, versions: ["<2.31.0"]}
      - {ecosystem: PyPI, name: "url*", versions: ["<1.26.18", ">=2.0, <2.0.7"]}
- name: copyleft
  criteria: {licenses: ["GPL-3.0*", "AGPL-*"]}
- name: runs as root
  criteria: {runs_as_root: true}
- name: image older than 1 year
  criteria: {image_age_days: 365}
- name: not scanned for a week
  criteria: {not_scanned_days: 7}
- name: base os end of life
  action: block
  criteria: {os_eol: true}
- name: piped installers
  criteria: {history: ['curl .*\\| *(ba)?sh', 'wget .*\\| *(ba)?sh', '^ADD https?://']}
- name: provenance labels
  criteria: {labels_missing: [org.opencontainers.image.source, org.opencontainers.image.revision]}
- name: remote shells
  criteria: {exposed_ports: [22, 23, 3389, 5900-5910]}
- name: everything low
  criteria: {severity: LOW}
- name: old unpatched
  criteria: {fixable: true, published_days: 365}
- name: ghcr high
  scope: {registries: [ghcr.io, "*.pkg.dev"]}
  criteria: {severity: HIGH}
- name: team releases without fix
  scope: {repositories: ["team/*"], tags: ["v*", latest]}
  criteria: {fixable: false, severity: MEDIUM, cvss: 5}
"""


def synthetic_subject(count: int, seed: int = 11) -> tuple[Subject, list[Acceptance]]:
    rng = random.Random(seed)
    layer = LayerRef(0, "sha256:" + "0" * 64, "sha256:" + "1" * 64)
    packages: list[Package] = []
    for n in range(400):
        ecosystem, _, _ = rng.choices(ECOSYSTEMS, weights=[e[2] for e in ECOSYSTEMS])[0]
        version = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
        name = {"deb": f"lib{n}", "PyPI": f"py{n}", "npm": f"js{n}", "Maven": f"org.example:art{n}"}[ecosystem]
        if n == 1:
            ecosystem, name, version = "PyPI", "requests", "2.25.1"
        if n == 2:
            ecosystem, name, version = "Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"
        location = {"deb": "var/lib/dpkg/status", "PyPI": f"usr/lib/python3/{name}.dist-info/METADATA"}.get(
            ecosystem, f"app/{name}"
        )
        purl = f"pkg:{ecosystem.lower()}/{name.replace(':', '/')}@{version}"
        licences = (rng.choice(LICENCES),)
        packages.append(Package(name, version, ecosystem, purl, location, licenses=licences))
    findings: list[Finding] = []
    dates: dict[str, tuple[date | None, date | None]] = {}
    for n in range(count):
        package = rng.choice(packages)
        lookup = {"deb": "Debian:12"}.get(package.ecosystem, package.ecosystem)
        severity = rng.choices(SEVERITIES, weights=SEVERITY_WEIGHTS)[0]
        score = None if severity == "UNKNOWN" or rng.random() < 0.1 else round(rng.uniform(0.1, 10.0), 1)
        fixed = rng.random() < 0.6
        ident = "CVE-2021-44228" if n == 7 else f"CVE-{rng.randint(2015, 2026)}-{10000 + n}"
        fix_version = f"{package.version}.{rng.randint(1, 9)}"
        findings.append(
            Finding(
                id=ident,
                advisories=(f"GHSA-{n:04x}-0000-0000",),
                aliases=(ident,),
                package=package.name,
                version=package.version,
                ecosystem=package.ecosystem,
                purl=package.purl,
                lookup_ecosystem=lookup,
                source_package=None,
                fixed_versions=(fix_version,) if fixed else (),
                fix_state="fixed" if fixed else rng.choice(("not fixed", "will not fix", "unknown")),
                severity=severity,
                score=score,
                vector=None,
                severity_source="cvss_v3",
                cwe_ids=(),
                summary="",
                links=(),
                layer_index=0,
                layer_digest=layer.digest,
                layer_diff_id=layer.diff_id,
                layer_created_by="",
                location=package.location,
            )
        )
        if rng.random() < 0.9:
            published = NOW.date() - timedelta(days=rng.randint(1, 2000))
            fix_date = published + timedelta(days=rng.randint(0, 60)) if fixed else None
            dates[ident] = (published, fix_date)
    history = [
        "ADD file:0123 in /",
        'CMD ["bash"]',
        "RUN apt-get update && apt-get install -y curl ca-certificates",
        "RUN curl -fsSL https://get.example.com/install.sh | sh",
        *(f"RUN echo step {i}" for i in range(10)),
        "EXPOSE 8080",
    ]
    details = ImageDetails(
        repository="team/app",
        reference="v1.2.3",
        digest="sha256:" + "ab" * 32,
        media_type="application/vnd.oci.image.manifest.v1+json",
        index_digest=None,
        platform="linux/amd64",
        config_digest="sha256:" + "cd" * 32,
        created=NOW - timedelta(days=500),
        total_size=0,
        layers=[],
        user="",
        labels={"org.opencontainers.image.source": "https://example.com/app"},
        exposed_ports=["22/tcp", "8080/tcp"],
        dockerfile=history,
    )
    inventory = Inventory(OSRelease("debian", "12"), [FoundPackage(p, layer) for p in packages])
    subject = Subject(
        "ghcr.io", "team/app", "v1.2.3", details.digest, inventory, findings, details, NOW - timedelta(days=9), dates
    )
    acceptances = [
        Acceptance(
            vulnerability=findings[k].id,
            scope=("everywhere", "registry", "repository", "image")[k % 4],
            registry=None if k % 4 in (0, 3) else "ghcr.io",
            repository="team/app" if k % 4 == 2 else None,
            digest=details.digest if k % 4 == 3 else None,
            reason="synthetic",
            by="bench",
            expires=NOW + timedelta(days=30 if k % 3 else -1),
        )
        for k in range(0, 120, 10)
    ]
    return subject, acceptances


def _medians(run: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median wall time, median CPU time) in ms; the CPU time leaves out waiting on a busy machine."""
    for _ in range(10):
        run()
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def _read_every_text(result: Evaluation) -> int:
    """What a report does: read each violation's texts (a finding's are written on first read)."""
    return sum(
        len(v.subject) + len(v.detail) + len(v.remedy) for verdict in result.verdicts for v in verdict.violations
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--findings", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    subject, acceptances = synthetic_subject(args.findings)
    policies: list[Policy] = load_policies(POLICIES)
    assert len(policies) == 20 and all(p.enabled for p in policies)
    compiled = compile_policies(policies)
    result = evaluate(compiled, subject, acceptances, NOW)
    violations = sum(len(v.violations) for v in result.verdicts)
    outcomes = {o: sum(v.outcome == o for v in result.verdicts) for o in ("pass", "warn", "fail")}
    print(
        f"{len(subject.findings)} findings, {len(subject.inventory.packages)} packages, {len(policies)} policies "
        f"({len(result.verdicts)} in scope: {outcomes}), {violations} violations, "
        f"{len(result.accepted)} accepted, {len(result.expired)} with an expired acceptance"
    )
    wall, cpu = _medians(lambda: evaluate(policies, subject, acceptances, NOW), args.runs)
    print(f"compiling the policies on every call: median {wall:.2f} ms (CPU {cpu:.2f} ms)")
    wall, cpu = _medians(lambda: _read_every_text(evaluate(compiled, subject, acceptances, NOW)), args.runs)
    print(f"evaluation and reading every violation's texts: median {wall:.2f} ms (CPU {cpu:.2f} ms)")
    wall, cpu = _medians(lambda: evaluate(compiled, subject, acceptances, NOW), args.runs)
    print(
        f"policy evaluation: median {wall:.2f} ms (CPU {cpu:.2f} ms) over {args.runs} runs; "
        f"ratio to the {TARGET_MS:.0f} ms target {wall / TARGET_MS:.2f}"
    )


if __name__ == "__main__":
    main()
