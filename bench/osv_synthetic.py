"""Synthetic OSV records for benchmarks: N records across distro and language ecosystems, shaped as
the OSV schema says and as the real exports look (Debian/Ubuntu upstream CVE ids, Ubuntu's long
`versions[]`, GHSA CWE ids, ECOSYSTEM/SEMVER ranges with introduced/fixed/last_affected).

    from bench.osv_synthetic import records, write_zip, package_names
    write_zip(path, records(200_000))
    names = package_names("Debian:12")  # the names the records use, most-affected first
"""

from __future__ import annotations

import itertools
import json
import random
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# ecosystem -> (share of records, id prefix, version style)
ECOSYSTEMS: dict[str, tuple[float, str, str]] = {
    "Debian:11": (0.12, "DEBIAN-CVE", "dpkg"),
    "Debian:12": (0.12, "DEBIAN-CVE", "dpkg"),
    "Ubuntu:22.04:LTS": (0.14, "UBUNTU-CVE", "dpkg"),
    "Alpine:v3.19": (0.05, "ALPINE-CVE", "apk"),
    "Rocky Linux:9": (0.04, "RLSA", "rpm"),
    "AlmaLinux:9": (0.03, "ALSA", "rpm"),
    "Red Hat:enterprise_linux:9::appstream": (0.04, "RHSA", "rpm"),
    "PyPI": (0.08, "GHSA", "semver"),
    "npm": (0.18, "GHSA", "semver"),
    "Maven": (0.08, "GHSA", "semver"),
    "Go": (0.05, "GO", "semver"),
    "crates.io": (0.02, "RUSTSEC", "semver"),
    "RubyGems": (0.02, "GHSA", "semver"),
    "Packagist": (0.02, "GHSA", "semver"),
    "NuGet": (0.01, "GHSA", "semver"),
}
NAMES_PER_ECOSYSTEM = 3000
EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
# a few packages (the kernel, openssl) carry many records, most carry a few: weight 1/(rank + 5)
_CUM_WEIGHTS = list(itertools.accumulate(1 / (rank + 5) for rank in range(NAMES_PER_ECOSYSTEM)))
WORDS = (
    "buffer", "overflow", "in", "parser", "allows", "remote", "attackers", "to",
    "cause", "a", "denial", "of", "service", "via", "crafted", "input",
)  # fmt: skip


def package_names(ecosystem: str, count: int = NAMES_PER_ECOSYSTEM) -> list[str]:
    """The package names records of `ecosystem` use; earlier names are affected by more records."""
    if ecosystem == "Maven":
        return [f"org.example{i % 97}:artifact-{i}" for i in range(count)]
    if ecosystem == "Go":
        return [f"github.com/example{i % 89}/module-{i}" for i in range(count)]
    if ecosystem == "PyPI":
        return [f"py-package-{i}" for i in range(count)]
    return [f"pkg{i}" for i in range(count)]


def _version(rng: random.Random, style: str) -> str:
    major, minor, patch = rng.randint(0, 9), rng.randint(0, 30), rng.randint(0, 20)
    if style == "dpkg":
        epoch = f"{rng.randint(1, 2)}:" if rng.random() < 0.1 else ""
        return f"{epoch}{major}.{minor}.{patch}-{rng.randint(1, 9)}+deb12u{rng.randint(1, 5)}"
    if style == "apk":
        return f"{major}.{minor}.{patch}-r{rng.randint(0, 12)}"
    if style == "rpm":
        return f"{rng.randint(0, 1)}:{major}.{minor}.{patch}-{rng.randint(1, 40)}.el9_{rng.randint(0, 4)}"
    return f"{major}.{minor}.{patch}"


def _affected(rng: random.Random, ecosystem: str, style: str, names: list[str]) -> dict[str, Any]:
    name = rng.choices(names, cum_weights=_CUM_WEIGHTS[: len(names)])[0]
    fixed = _version(rng, style)
    if style == "semver":
        events: list[dict[str, str]] = [{"introduced": rng.choice(["0", "1.0.0", "2.3.0"])}]
        events.append({"last_affected": fixed} if rng.random() < 0.1 else {"fixed": fixed})
        kind = "SEMVER" if ecosystem in ("Go", "crates.io", "npm") else "ECOSYSTEM"
    else:
        events = [{"introduced": "0"}] + ([{"fixed": fixed}] if rng.random() < 0.85 else [])
        kind = "ECOSYSTEM"
    entry: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": kind, "events": events}],
    }
    if ecosystem.startswith("Ubuntu"):
        entry["versions"] = [_version(rng, style) for _ in range(rng.randint(5, 40))]
        entry["ecosystem_specific"] = {"binaries": [{name: fixed}], "availability": "No subscription required"}
    elif ecosystem.startswith("Debian"):
        entry["ecosystem_specific"] = {"urgency": rng.choice(["low", "medium", "high", "not yet assigned"])}
    return entry


def _record(
    rng: random.Random, number: int, ecosystem: str, prefix: str, style: str, names: list[str]
) -> dict[str, Any]:
    year = 2015 + number % 10
    cve = f"CVE-{year}-{10000 + number}"
    published = EPOCH + timedelta(seconds=rng.randint(0, 300_000_000))
    if prefix in ("DEBIAN-CVE", "UBUNTU-CVE", "ALPINE-CVE"):
        record_id, aliases, upstream = f"{prefix}-{year}-{10000 + number}", [], [cve]
    elif prefix == "GHSA":
        chars = "23456789cfghjmpqrvwx"
        record_id = "GHSA-" + "-".join("".join(rng.choice(chars) for _ in range(4)) for _ in range(3))
        aliases, upstream = [cve], []
    else:
        record_id, aliases, upstream = f"{prefix}-{year}:{number}", [cve], []
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": record_id,
        "modified": (published + timedelta(days=rng.randint(0, 400))).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "published": published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aliases": aliases,
        "summary": " ".join(rng.choices(WORDS, k=8)),
        "details": " ".join(rng.choices(WORDS, k=rng.randint(30, 150))),
        "affected": [_affected(rng, ecosystem, style, names) for _ in range(1 if rng.random() < 0.8 else 3)],
        "references": [
            {"type": "ADVISORY", "url": f"https://security.example.org/{record_id}"},
            {"type": "WEB", "url": f"https://nvd.nist.gov/vuln/detail/{cve}"},
        ],
    }
    if upstream:
        record["upstream"] = upstream
    if rng.random() < 0.7:
        record["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    if prefix == "GHSA":
        record["database_specific"] = {"cwe_ids": [f"CWE-{rng.randint(20, 900)}"], "severity": "HIGH"}
    return record


def records(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """`count` records, the same ones for the same seed; ids are unique."""
    rng = random.Random(seed)
    keys = list(ECOSYSTEMS)
    weights = [ECOSYSTEMS[k][0] for k in keys]
    names = {k: package_names(k) for k in keys}
    seen: set[str] = set()
    number = 0
    while number < count:
        ecosystem = rng.choices(keys, weights)[0]
        _, prefix, style = ECOSYSTEMS[ecosystem]
        record = _record(rng, number, ecosystem, prefix, style, names[ecosystem])
        if record["id"] in seen:
            continue
        seen.add(record["id"])
        number += 1
        yield record


def write_zip(path: Path, documents: Iterable[dict[str, Any]]) -> int:
    """An OSV-export-like `all.zip`: one `<id>.json` per record. Returns the number written."""
    written = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for document in documents:
            archive.writestr(f"{document['id']}.json", json.dumps(document))
            written += 1
    return written
