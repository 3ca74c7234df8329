"""Matching speed: 1,000 packages against 200,000 generated OSV records, and the import rate.

The records come from bench/osv_synthetic.py (shaped like the real exports). They are imported into
a fresh SQLite database with regscout's importer (records per second), then an inventory of 1,000
packages (Debian 12 OS packages by source name, and npm, PyPI and Maven packages) is matched cold
(first query of each ecosystem) and warm (the fastest and the median of --warm further runs; a run that
meets a full garbage collection of the process's heap takes some 50 ms more). The packages are a seeded
random sample of the names the records use. Target: a match in under 100 ms.

Run: .venv/bin/python -m bench.matching [--records 200000] [--packages 1000] [--warm 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.osv_synthetic import package_names, records, write_zip
from regscout.analysis.merge import FoundPackage, Inventory, LayerRef
from regscout.analysis.model import OSRelease, Package
from regscout.services.audit import SYSTEM
from regscout.store.db import Database
from regscout.vulndb.matcher import match
from regscout.vulndb.service import VulnDBService

LANGUAGES = {"npm": "npm", "PyPI": "pypi", "Maven": "maven"}


def inventory(count: int, seed: int = 7) -> Inventory:
    rng = random.Random(seed)
    layer = LayerRef(0, "sha256:" + "0" * 64, "sha256:" + "1" * 64)
    packages: list[FoundPackage] = []
    os_count = count * 3 // 5
    # a seeded random sample of the names the records use: the generator gives its first names
    # thousands of records each (like a kernel), and a real image is not made only of those
    for name in rng.sample(package_names("Debian:12"), os_count):
        version = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}-{rng.randint(1, 5)}"
        package = Package(
            f"lib{name}",
            version,
            "deb",
            f"pkg:deb/debian/lib{name}@{version}",
            "var/lib/dpkg/status",
            source_name=name,
            source_version=version,
        )
        packages.append(FoundPackage(package, layer))
    per_language = (count - os_count) // len(LANGUAGES)
    for ecosystem, purl_type in LANGUAGES.items():
        for name in rng.sample(package_names(ecosystem), per_language):
            version = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}"
            packages.append(
                FoundPackage(
                    Package(name, version, ecosystem, f"pkg:{purl_type}/{name}@{version}", f"app/{name}"), layer
                )
            )
    return Inventory(OSRelease("debian", "12"), packages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=5, help="warm runs after the cold one (min and median shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="regscout-bench-") as tmp:
        archive = Path(tmp) / "all.zip"
        written = write_zip(archive, records(args.records))
        db = Database(f"sqlite:///{Path(tmp) / 'vulndb.db'}")
        db.migrate()
        service = VulnDBService(db)
        started, started_cpu = time.perf_counter(), time.process_time()
        result = service.import_path(str(archive), "synthetic", actor=SYSTEM)
        imported = time.perf_counter() - started
        print(
            f"import: {written} records in {imported:.1f} s = {written / imported:,.0f} records/s (SQLite), "
            f"CPU time {time.process_time() - started_cpu:.1f} s; {result}"
        )
        packages = inventory(args.packages)
        timings, cpu = [], []
        for _ in range(1 + args.warm):
            started, started_cpu = time.perf_counter(), time.process_time()
            findings = match(packages, service)
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        warm, warm_cpu = timings[1:], cpu[1:]
        print(
            f"match: {len(packages.packages)} packages, {len(findings)} findings; cold {timings[0] * 1000:.0f} ms, "
            f"warm {min(warm) * 1000:.0f} ms (median {statistics.median(warm) * 1000:.0f}, target < 100 ms); "
            f"CPU time cold {cpu[0] * 1000:.0f} ms, warm {min(warm_cpu) * 1000:.0f} ms "
            f"(median {statistics.median(warm_cpu) * 1000:.0f})"
        )
        print(f"match time / target: cold {timings[0] / 0.1:.2f}, warm {min(warm) / 0.1:.2f}")
        db.dispose()


if __name__ == "__main__":
    main()
