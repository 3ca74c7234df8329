"""Re-evaluating every stored image after a policy change, on the embedded SQLite database.

10,000 stored results (--images) are written straight into a fresh database: 25 distinct synthetic images (Debian
12, 400 packages, --findings findings each with a seeded mix of severities, scores, fixes and advisory dates, a
history, labels, ports; bench/policy.py builds them) spread over 10,000 digests in 40 repositories of 3 registries,
with the vulnerability records their findings name (for the date criteria). Then the 20 policies of bench/policy.py
are applied and every image is evaluated under all of them (``Verdicts.reevaluate_all``: each stored image's
findings, inventory and details decoded, evaluated, its verdict rows replaced, an event per changed verdict), which
is also what a change of acceptances costs. Then one policy is edited, the change the target is about: only that
policy is evaluated again, decoding only what its criteria read. The target is 30 s for 10,000 images.

Run: .venv/bin/python -m bench.reevaluate [--images 10000] [--findings 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from regscout.analysis.merge import inventory_to_json
from regscout.jsonable import plain
from regscout.policy import load_policies
from regscout.results.codec import pack
from regscout.results.index import result_columns
from regscout.results.service import severity_counts
from regscout.runtime import Runtime
from regscout.services.audit import Actor
from regscout.settings import Settings
from regscout.store.models import VulnRecord, VulnSource
from regscout.store.results_models import ScanResult

from .policy import POLICIES, synthetic_subject

TARGET_SECONDS = 30.0
DISTINCT_IMAGES = 25
REGISTRIES = ("ghcr.io", "registry.example.com", "localhost:5000")


def _results(images: int, findings: int) -> tuple[list[dict[str, Any]], set[str], dict[str, datetime]]:
    blobs = []
    published: dict[str, datetime] = {}
    for seed in range(DISTINCT_IMAGES):
        subject, _ = synthetic_subject(findings, seed=seed)
        inventory_json = inventory_to_json(subject.inventory)
        findings_json = [asdict(f) for f in subject.findings]
        for finding in subject.findings:
            first = subject.dates.get(finding.id, (None, None))[0]
            if first is not None:
                for ident in finding.advisories:
                    published[ident] = datetime.combine(first, datetime.min.time(), UTC)
        blobs.append(
            {
                "inventory": pack(inventory_json),
                "findings": pack(findings_json),
                "details": pack(plain(subject.details)),
                "counts": severity_counts(subject.findings),
                **result_columns(inventory_json, findings_json),
            }
        )
    now = datetime.now(UTC)
    rows = []
    for n in range(images):
        rows.append(
            {
                **blobs[n % DISTINCT_IMAGES],
                "image_digest": f"sha256:{n:064x}",
                "registry_host": REGISTRIES[n % len(REGISTRIES)],
                "repository": f"team{n % 40}/app",
                "reference": f"v{n}",
                "platform": "linux/amd64",
                "analyzed_at": now,
                "matched_at": now,
            }
        )
    return rows, set(published), published


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--findings", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="regscout-bench-") as home:
        os.environ["REGSCOUT_HOME"] = home
        runtime = Runtime(Settings.from_env())
        started = time.perf_counter()
        rows, ids, published = _results(args.images, args.findings)
        with runtime.db.session() as session:
            session.add(VulnSource(name="bench", kind="osv-dir", url="bench", record_count=len(ids)))
            session.flush()
            session.execute(
                insert(VulnRecord),
                [
                    {
                        "source": "bench",
                        "id": ident,
                        "modified": published[ident],
                        "published": published[ident],
                        "aliases": [],
                        "summary": "",
                        "details": "",
                        "severity": [],
                        "references": [],
                        "database_specific": {},
                        "cwe_ids": [],
                    }
                    for ident in ids
                ],
            )
            for start in range(0, len(rows), 1000):
                session.execute(insert(ScanResult), rows[start : start + 1000])
        size = Path(home, "regscout.db").stat().st_size if Path(home, "regscout.db").exists() else 0
        print(
            f"{args.images} stored images ({DISTINCT_IMAGES} distinct, {args.findings} findings and 400 packages "
            f"each), {len(ids)} advisories; loaded in {time.perf_counter() - started:.1f} s ({size / 1e6:.0f} MB)"
        )
        policies = load_policies(POLICIES)
        bench = Actor("system", "bench", "")
        runtime.policies.apply(policies, actor=bench)
        full = runtime.verdicts.reevaluate_all("policies")
        print(
            f"all 20 policies new (every policy evaluated on every image): {full.images} images in "
            f"{full.seconds:.1f} s ({full.images / full.seconds:.0f} images/s), {full.events} verdict events"
        )
        edited = policies[0].model_copy(
            update={"criteria": policies[0].criteria.model_copy(update={"severity": "HIGH"})}
        )
        runtime.policies.replace(edited.name, edited, actor=bench)
        change = runtime.verdicts.reevaluate_all("policies", policies=[edited.name])
        print(
            f"one policy edited ({edited.name!r}: {', '.join(edited.criteria.given())}): {change.images} images in "
            f"{change.seconds:.1f} s, {change.events} verdict events on {change.changed} images"
        )
        print(
            f"re-evaluating {change.images} stored images after a policy change: {change.seconds:.1f} s; "
            f"ratio to the {TARGET_SECONDS:.0f} s target {change.seconds / TARGET_SECONDS:.2f}"
        )


if __name__ == "__main__":
    main()
