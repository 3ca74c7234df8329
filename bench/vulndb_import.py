"""Vulnerability-data import rate: N synthetic OSV records (bench/osv_synthetic.py) in one zip,
imported as one source into SQLite and PostgreSQL (a full replace: read and check every record,
then delete and insert in one transaction), imported a second time over the first, and a batched
`records_for` of 1,000 names. Each import runs in a fresh process so its peak memory is its own.

Run: .venv/bin/python -m bench.vulndb_import [--records 200000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.osv_synthetic import records, write_zip

RUNNER = """
import json, sys, time
from regscout.store.db import Database
from regscout.services.audit import SYSTEM
from regscout.vulndb.service import VulnDBService
from regscout.vulndb.sources import VulnConfig
from pathlib import Path
from bench.osv_synthetic import package_names
from regscout.vulndb.importer import read_zip
url, archive = sys.argv[1:3]
started = time.perf_counter()
with read_zip(Path(archive)) as snapshot:
    read_seconds = time.perf_counter() - started
db = Database(url); db.migrate()
service = VulnDBService(db, VulnConfig(sources=()))
first = service.import_path(archive, "synthetic", actor=SYSTEM)
second = service.import_path(archive, "synthetic", actor=SYSTEM)
names = package_names("Debian:12")[:1000]
started = time.perf_counter()
pairs = service.records_for("Debian:12", names)
lookup = time.perf_counter() - started
peak = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"first": first.model_dump(), "second": second.model_dump(), "lookup_seconds": lookup,
                  "read_seconds": read_seconds,
                  "pairs": len(pairs), "peak_rss_mb": peak}))
db.dispose()
"""


def _run(url: str, archive: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, url, str(archive)], capture_output=True, text=True, check=True, cwd=Path.cwd()
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _print(label: str, count: int, result: dict[str, object]) -> None:
    first, second = result["first"], result["second"]
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["status"] == "ok" and second["status"] == "ok", (first, second)
    print(
        f"{label:10} first import {first['seconds']:6.1f} s = {count / first['seconds']:7.0f} records/s; "
        f"replace {second['seconds']:6.1f} s = {count / second['seconds']:7.0f} records/s "
        f"(of which reading and checking {result['read_seconds']:.1f} s); "
        f"records_for(1,000 names) {result['lookup_seconds'] * 1000:.0f} ms -> {result['pairs']} pairs; "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vulndb-") as directory:
        archive = Path(directory) / "all.zip"
        started = time.perf_counter()
        write_zip(archive, records(args.records))
        print(
            f"wrote {args.records} records, {archive.stat().st_size / 1e6:.0f} MB zip, "
            f"in {time.perf_counter() - started:.1f} s"
        )
        _print("SQLite", args.records, _run(f"sqlite:///{directory}/bench.db", archive))
        if not args.no_postgres:
            from tests.services import postgres_database

            with postgres_database() as url:
                _print("PostgreSQL", args.records, _run(url, archive))


if __name__ == "__main__":
    main()
