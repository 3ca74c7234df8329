"""Console speed: every console page's server time on PostgreSQL with 10,000 images and 1,000,000 findings.

Targets (the product issue): each page's server time p95 < 200 ms; the images list, with any filter, p95 < 150 ms.
Not a timed test: a measurement printed as a table.

1. data: a fresh PostgreSQL database (default regscout_bench_console, dropped at the end unless --keep), migrated by
   a regscout Runtime, then filled with COPY directly into the tables the console reads: --images scan results
   (default 10,000) across 20 registry hosts (one integration each, added with IntegrationService.add without a
   connection test) and --repositories repositories (2,000), with realistic OS names; --findings finding rows
   (1,000,000) over --vulns vulnerability ids (5,000) drawn Zipf-like (a few CVEs are in most images, most in a
   handful), the severity columns and counts of every result consistent with its rows, and its `findings` and
   `inventory` blobs valid zlib JSON (the findings blob matches the rows for every image; OS packages sit in a
   base layer shared per OS, language packages in the image's own layer); 30 days of findings_daily, some
   finding_changes, tracked_images, scan_jobs in every state with their attempts and sync runs, vuln_sources and
   vuln_records/vuln_affected (the finding ids and filler). Indexes of image_findings are dropped for the load and
   recreated from their own definitions, foreign-key triggers are off for the load (the data is consistent by
   construction); then VACUUM ANALYZE. Queued jobs wait until tomorrow and running ones hold a lease of another
   worker, so the server's embedded executor (REGSCOUT_WORKERS=2, as by default) only polls.
2. timing: `regscout serve` as a subprocess (free port, REGSCOUT_VULN_UPDATE_INTERVAL=0, REGSCOUT_HOME in a temp
   dir), signed in as the first-start admin through the sign-in form. Every GET route of the console's page
   modules that exists when the bench runs (found by importing regscout.web.console.PAGES) is timed: path
   parameters get a real integration name, image digest (the image with most findings and a median one), job id
   (a failed job with several attempts and a succeeded one) or vulnerability id; query parameters get values
   from their types (Literal, Enum, bool), from the page's own <select>, links and form fields, and by name
   (q: a frequent CVE, a frequent package, a repository word); a path parameter it does not know (a download's
   format) takes the values the pages link to. Besides each filter alone: the page's own links as they are (sort
   headers, tabs, next page), each tab's own filters, all filters at once, and a page past the end (the last
   page, the deepest OFFSET). Each variant: up to --warmup requests (at most 3 s), then --requests (50) over one
   keep-alive connection with the bench's own garbage collector off; a clear miss stops early (p50 over twice
   the target after 20 requests and 12 s, over five times after 10). The app sends no Server-Timing header
   (checked per response: when it does, its duration is used), so the time is the client's, on localhost:
   request sent to body read. Beside it, the CPU the server process and its PostgreSQL backends spent per
   request (/proc), which other load on the machine inflates much less than wall time.
3. queries: each variant again in process (the same app on the same database, SQLAlchemy cursor events):
   statements and SQL time per request. For each variant over its target: its statements by time, and
   EXPLAIN (ANALYZE, BUFFERS) of the slowest (and of the next when it is a good part of the SQL time); when SQL
   is a small part of the time, where the Python time goes instead (stacks of the app's threads sampled).

The table: page, requests, p50, p95, max, target, OK/MISSED, response KB, server and database CPU ms, statements
and SQL ms per request. Downloads (report files) are listed with the page target but are not pages: the
second-to-last line is the worst download, the last line the worst page's p95 against its target as a ratio.

Run: .venv/bin/python -m bench.console [--images 10000] [--repositories 2000] [--findings 1000000] [--vulns 5000]
     [--vuln-records 100000] [--requests 50] [--warmup 5] [--database regscout_bench_console] [--keep]
     [--only /images ...]
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import gc
import html.parser
import io
import json
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import types
import typing
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import psycopg
from psycopg import sql
from tests.integration.cli_support import CliEnv, Server

POSTGRES_ADMIN = os.environ.get("REGSCOUT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
PAGE_TARGET_MS, IMAGES_TARGET_MS = 200.0, 150.0
VARIANT_SECONDS = 12.0  # a clear miss stops after this long (see measure)
MIN_REQUESTS = 20
WARMUP_SECONDS = 3.0
MAX_VARIANTS_PER_ROUTE = 32
RESULT_COLUMNS = (
    *("id", "image_digest", "index_digest", "registry_host", "repository", "reference", "platform"),
    *("inventory", "findings", "details", "counts", "analyzed_at", "matched_at", "os", "packages"),
    *("critical", "high", "medium", "low", "other", "fixable"),
)
SEVERITY_COLUMNS = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low"}

# ------------------------------------------------------------------------------------------------ the data's shape

# (integration name, registry type, URL); the registry host of its images is the URL's host.
REGISTRIES = [
    ("harbor-prod", "harbor", "https://harbor.prod.corp.example"),
    ("harbor-staging", "harbor", "https://harbor.staging.corp.example"),
    ("harbor-dr", "harbor", "https://harbor.dr.corp.example"),
    ("gitlab", "gitlab", "https://registry.gitlab.corp.example"),
    ("ghcr", "ghcr", "https://ghcr.io"),
    ("quay", "quay", "https://quay.io"),
    ("artifactory", "artifactory", "https://artifactory.corp.example"),
    ("nexus", "nexus", "https://nexus.corp.example:8443"),
    *(
        (f"registry-{region}", "docker-registry", f"https://registry.{region}.corp.example:5000")
        for region in (
            "eu-west-1",
            "eu-central-1",
            "us-east-1",
            "us-east-2",
            "us-west-2",
            "ap-south-1",
            "ap-northeast-1",
            "sa-east-1",
            "edge-01",
            "edge-02",
            "ci-cache",
            "lab",
        )
    ),
]
STATUSES = [("Connected", 15), ("Authorization failed", 2), ("Not found", 1), ("Rate limited", 1), ("Unknown", 1)]


@dataclass(frozen=True)
class OsSpec:
    id: str
    version_id: str
    name: str
    pretty_name: str
    id_like: tuple[str, ...]
    codename: str
    ecosystem: str  # deb | apk | rpm
    version_suffix: str
    weight: float


OSES = [
    OsSpec("debian", "12", "Debian GNU/Linux", "Debian GNU/Linux 12 (bookworm)", (), "bookworm", "deb", "+deb12u1", 25),
    OsSpec("debian", "11", "Debian GNU/Linux", "Debian GNU/Linux 11 (bullseye)", (), "bullseye", "deb", "+deb11u3", 9),
    OsSpec("ubuntu", "22.04", "Ubuntu", "Ubuntu 22.04.4 LTS", ("debian",), "jammy", "deb", "ubuntu0.22.04.2", 12),
    OsSpec("ubuntu", "24.04", "Ubuntu", "Ubuntu 24.04.1 LTS", ("debian",), "noble", "deb", "ubuntu0.24.04.1", 8),
    OsSpec("ubuntu", "20.04", "Ubuntu", "Ubuntu 20.04.6 LTS", ("debian",), "focal", "deb", "ubuntu0.20.04.9", 4),
    OsSpec("alpine", "3.20.3", "Alpine Linux", "Alpine Linux v3.20", (), "", "apk", "-r0", 10),
    OsSpec("alpine", "3.19.4", "Alpine Linux", "Alpine Linux v3.19", (), "", "apk", "-r1", 6),
    OsSpec("alpine", "3.18.9", "Alpine Linux", "Alpine Linux v3.18", (), "", "apk", "-r2", 3),
    OsSpec("rhel", "9.4", "Red Hat Enterprise Linux", "Red Hat Enterprise Linux 9.4 (Plow)", ("fedora",), "plow",
           "rpm", ".el9_4", 5),
    OsSpec("rhel", "8.10", "Red Hat Enterprise Linux", "Red Hat Enterprise Linux 8.10 (Ootpa)", ("fedora",),
           "ootpa", "rpm", ".el8_10", 3),
    OsSpec("rocky", "9.4", "Rocky Linux", "Rocky Linux 9.4 (Blue Onyx)", ("rhel", "centos", "fedora"), "blueonyx",
           "rpm", ".el9", 2),
    OsSpec("almalinux", "9.4", "AlmaLinux", "AlmaLinux 9.4 (Seafoam Ocelot)", ("rhel", "centos", "fedora"),
           "seafoamocelot", "rpm", ".el9", 2),
    OsSpec("amzn", "2023", "Amazon Linux", "Amazon Linux 2023.5.20240722", ("fedora",), "", "rpm", ".amzn2023", 2),
    OsSpec("fedora", "40", "Fedora Linux", "Fedora Linux 40 (Container Image)", (), "", "rpm", ".fc40", 1),
]  # fmt: skip
NO_OS_WEIGHT = 6.0  # scratch and distroless-static images: language packages only


def words(text: str) -> list[str]:
    return text.split()


OS_PACKAGES = words(
    "glibc openssl zlib curl systemd expat libxml2 ncurses sqlite3 krb5 gnutls28 perl python3.11 libtasn1-6 "
    "e2fsprogs util-linux tar shadow pam openldap libgcrypt20 libssh2 nghttp2 libwebp tiff libpng1.6 freetype "
    "fontconfig git openssh busybox bash coreutils gzip xz-utils bzip2 libzstd lz4 pcre2 pcre3 libidn2 gnupg2 nss "
    "cyrus-sasl2 db5.3 libcap2 apt dpkg libsepol libselinux audit procps sed grep less vim wget libx11 cairo pixman "
    "harfbuzz icu libjpeg-turbo giflib libde265 imagemagick ffmpeg postgresql-15 mariadb libgd2 jbigkit libheif "
    "libtirpc libksba nettle p11-kit gmp mpfr4 libunistring libyaml jansson libevent c-ares libuv1 unbound"
)
LANGUAGES = {
    "PyPI": "requests urllib3 cryptography jinja2 pillow setuptools pip django flask werkzeug pyyaml idna certifi "
    "aiohttp",
    "npm": "lodash minimist axios express semver tough-cookie ws follow-redirects json5 braces micromatch ip",
    "Go": "stdlib golang.org/x/net golang.org/x/crypto google.golang.org/grpc github.com/docker/docker "
    "golang.org/x/text",
    "Maven": "org.apache.logging.log4j:log4j-core com.fasterxml.jackson.core:jackson-databind "
    "org.springframework:spring-web io.netty:netty-codec-http org.yaml:snakeyaml",
    "RubyGems": "rack nokogiri",
    "crates.io": "h2",
}
LANGUAGE_PACKAGES = [(ecosystem, name) for ecosystem, names in LANGUAGES.items() for name in words(names)]
LOOKUP = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "alpine": "Alpine",
    "rhel": "Red Hat",
    "rocky": "Rocky Linux",
    "almalinux": "AlmaLinux",
    "amzn": "Amazon Linux",
    "fedora": "Fedora",
}
TEAMS = words(
    "payments platform data web mobile infra ml search billing identity checkout catalog growth ads media "
    "security observability devex support analytics"
)
APPS = words(
    "api worker gateway frontend backend scheduler ingest exporter proxy cache auth notifier indexer renderer "
    "uploader sync reporter db-migrate cron admin"
)
FILLER = words(
    "acl attr bsd ffi gmp md mnl nl pop seccomp xxhash zstd lzma uuid blkid mount smartcols crypt debconf sys"
)
WORDS = words("buffer overflow use-after-free out-of-bounds read integer overflow denial of service path traversal")
SEVERITIES = [("CRITICAL", 8), ("HIGH", 25), ("MEDIUM", 40), ("LOW", 20), ("UNKNOWN", 5), ("NONE", 2)]
JOB_REASONS = [
    "registry answered 401 Unauthorized for the manifest: check the integration's credentials",
    "registry answered 429 Too Many Requests (retried 4 times)",
    "the manifest of linux/amd64 is missing from the index",
    "timed out after 1800 s",
    "connection refused by registry.edge-02.corp.example:5000",
    "layer sha256:5f70bf18a086 is larger than REGSCOUT_MAX_LAYER_BYTES",
]


@dataclass(frozen=True)
class Vuln:
    id: str
    package: str
    language: str | None  # its ecosystem when a language package, None for an OS package
    severity: str
    score: float | None
    fixable: bool
    fix_state: str
    summary: str
    cwe: str


@dataclass
class Image:
    id: int
    digest: str
    index_digest: str | None
    integration: int  # index into REGISTRIES
    repository: str
    reference: str
    platform: str
    os: int | None  # index into OSES
    vulns: list[int] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Dataset:
    images: list[Image]
    vulns: list[Vuln]
    integration_ids: list[int] = field(default_factory=list)
    findings: int = 0
    counts: dict[int, dict[str, int]] = field(default_factory=dict)  # image id -> severity column counts
    top_vuln: str = ""
    top_package: str = ""
    jobs: dict[str, int] = field(default_factory=dict)  # role -> job id
    sources: list[str] = field(default_factory=list)
    vuln_records: int = 0
    syncs: dict[str, int] = field(default_factory=dict)  # integration name -> its latest sync run


def hexdigest(rng: random.Random) -> str:
    return "sha256:" + rng.randbytes(32).hex()


def zipf_cum(n: int, s: float) -> list[float]:
    total, cum = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank**s
        cum.append(total)
    return cum


def sample_distinct(rng: random.Random, pool: Sequence[int], cum: list[float], n: int) -> list[int]:
    """n distinct items, drawn with the weights (draw, drop repeats; the rare rest uniformly)."""
    n = min(n, len(pool))
    chosen: dict[int, None] = {}
    for _ in range(12):
        need = n - len(chosen)
        if need <= 0:
            break
        for item in rng.choices(pool, cum_weights=cum, k=need * 2 + 8):
            chosen.setdefault(item)
            if len(chosen) == n:
                break
    if len(chosen) < n:
        rest = [item for item in pool if item not in chosen]
        for item in rng.sample(rest, n - len(chosen)):
            chosen.setdefault(item)
    return list(chosen)


def make_vulns(rng: random.Random, count: int) -> tuple[list[Vuln], list[int], list[int]]:
    """The OS pool (70 %) and the language pool; ranks within each pool follow the list order."""
    sev_names, sev_weights = zip(*SEVERITIES, strict=True)
    os_cum, lang_cum = zipf_cum(len(OS_PACKAGES), 0.9), zipf_cum(len(LANGUAGE_PACKAGES), 0.9)
    ids: set[str] = set()
    vulns: list[Vuln] = []
    n_os = int(count * 0.7)
    for index in range(count):
        language: str | None = None
        if index < n_os:
            package = rng.choices(OS_PACKAGES, cum_weights=os_cum)[0]
        else:
            language, package = rng.choices(LANGUAGE_PACKAGES, cum_weights=lang_cum)[0]
        while True:
            kind = rng.random()
            if language is not None and kind < 0.2:
                vid = "GHSA-" + "-".join("".join(rng.choices("23456789cfghjmpqrvwx", k=4)) for _ in range(3))
            elif language == "Go" and kind < 0.35:
                vid = f"GO-{rng.randint(2021, 2024)}-{rng.randint(100, 3200):04d}"
            else:
                vid = f"CVE-{rng.randint(2016, 2024)}-{rng.randint(1000, 52999)}"
            if vid not in ids:
                ids.add(vid)
                break
        severity = rng.choices(sev_names, weights=sev_weights)[0]
        base = {"CRITICAL": 9.0, "HIGH": 7.0, "MEDIUM": 4.0, "LOW": 0.1}.get(severity)
        score = None if base is None else round(base + rng.random() * (0.9 if base != 0.1 else 3.8), 1)
        fixable = rng.random() < 0.6
        state = "fixed" if fixable else rng.choices(["not fixed", "will not fix", "unknown"], weights=[6, 3, 1])[0]
        summary = f"{package}: {rng.choice(WORDS)} {rng.choice(WORDS)} in {package.split('/')[-1]} parser"
        vulns.append(
            Vuln(vid, package, language, severity, score, fixable, state, summary, f"CWE-{rng.randint(20, 1300)}")
        )
    return vulns, list(range(n_os)), list(range(n_os, count))


def finding_counts(rng: random.Random, images: int, total: int, cap: int) -> list[int]:
    """Findings per image: log-normal (a few images with hundreds, most with dozens), 5 % clean, summing to total."""
    mu = math.log(total / images) - 0.5
    raw = [0.0 if rng.random() < 0.05 else rng.lognormvariate(mu, 1.0) for _ in range(images)]
    scale = total / sum(raw)
    counts = [min(cap, round(x * scale)) for x in raw]
    diff = total - sum(counts)
    candidates = [i for i, c in enumerate(counts) if 0 < c < cap]
    while diff != 0 and candidates:
        i = rng.choice(candidates)
        step = 1 if diff > 0 else -1
        if 0 < counts[i] + step <= cap:
            counts[i] += step
            diff -= step
    return counts


def generate(args: argparse.Namespace) -> Dataset:
    rng = random.Random(args.seed)
    vulns, os_pool, lang_pool = make_vulns(rng, args.vulns)
    os_cum, lang_cum = zipf_cum(len(os_pool), 1.1), zipf_cum(len(lang_pool), 1.1)
    host_cum = zipf_cum(len(REGISTRIES), 0.6)
    repos: list[tuple[int, str]] = []
    names: set[str] = set()
    while len(repos) < args.repositories:
        name = f"{rng.choice(TEAMS)}/{rng.choice(APPS)}"
        if name in names:
            name = f"{name}-{rng.randint(2, 99)}"
        if name in names:
            continue
        names.add(name)
        repos.append((rng.choices(range(len(REGISTRIES)), cum_weights=host_cum)[0], name))
    os_weights = [o.weight for o in OSES] + [NO_OS_WEIGHT]
    now = datetime.now(UTC)
    images: list[Image] = []
    repo_cum = zipf_cum(len(repos), 0.5)
    # every repository has an image; the rest go to repositories with Zipf-like weights
    picks = list(range(len(repos))) + rng.choices(range(len(repos)), cum_weights=repo_cum, k=args.images - len(repos))
    per_repo_os: dict[int, int | None] = {}
    tags_used: Counter[int] = Counter()
    for rid in picks:
        integration, repository = repos[rid]
        if rid not in per_repo_os:
            choice = rng.choices(range(len(OSES) + 1), weights=os_weights)[0]
            per_repo_os[rid] = choice if choice < len(OSES) else None
        n = tags_used[rid]
        tags_used[rid] += 1
        kind = rng.random()
        if kind < 0.05:
            reference = hexdigest(rng)  # scanned by digest
        elif n == 0:
            reference = "latest"
        else:
            reference = f"{1 + n // 7}.{n % 7}.{rng.randint(0, 12)}" if kind < 0.8 else f"sha-{rng.randbytes(4).hex()}"
        multi = rng.random() < 0.15
        platforms = ["linux/amd64", "linux/arm64"] if multi else ["linux/amd64"]
        index_digest = hexdigest(rng) if multi else None
        at = now - timedelta(seconds=rng.uniform(0, 30 * 86400) ** 1.0)
        for platform in platforms:
            images.append(
                Image(
                    len(images) + 1,
                    hexdigest(rng),
                    index_digest,
                    integration,
                    repository,
                    reference,
                    platform,
                    per_repo_os[rid],
                    at=at,
                )
            )
            if len(images) == args.images:
                break
        if len(images) == args.images:
            break
    counts = finding_counts(rng, len(images), args.findings, 1500)
    for image, n in zip(images, counts, strict=True):
        if n == 0:
            continue
        if image.os is None:
            image.vulns = sample_distinct(rng, lang_pool, lang_cum, min(n, 300))
        else:
            n_lang = min(round(n * 0.2), len(lang_pool) // 3)
            image.vulns = sample_distinct(rng, os_pool, os_cum, n - n_lang) + sample_distinct(
                rng, lang_pool, lang_cum, n_lang
            )
    # images without an OS take at most 300 (language) findings: the rest goes to images with an OS
    deficit = args.findings - sum(len(i.vulns) for i in images)
    roomy = [i for i in images if i.os is not None and 0 < len(i.vulns) < 1400]
    while deficit > 0 and roomy:
        image = rng.choice(roomy)
        have = set(image.vulns)
        more = [v for v in sample_distinct(rng, os_pool, os_cum, len(have) + 20) if v not in have][: min(20, deficit)]
        image.vulns += more
        deficit -= len(more)
    data = Dataset(images, vulns)
    data.findings = sum(len(i.vulns) for i in images)
    by_vuln: Counter[int] = Counter(v for i in images for v in i.vulns)
    data.top_vuln = vulns[by_vuln.most_common(1)[0][0]].id
    data.top_package = Counter(vulns[v].package for i in images for v in i.vulns).most_common(1)[0][0]
    return data


# ------------------------------------------------------------------------------------------------ the blobs


def version_of(package: str, os_index: int | None) -> str:
    h = zlib.crc32(f"{package}|{os_index}".encode())
    base = f"{1 + h % 9}.{(h >> 4) % 20}.{(h >> 9) % 30}"
    if os_index is None:
        return base
    spec = OSES[os_index]
    return f"{base}-{1 + (h >> 14) % 5}{spec.version_suffix}"


def fixed_of(version: str) -> str:
    head, _, tail = version.partition("-")
    parts = head.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts) + (("-" + tail) if tail else "")


def layer_json(index: int, digest: str, diff_id: str, created_by: str) -> dict[str, Any]:
    return {"index": index, "digest": digest, "diff_id": diff_id, "created_by": created_by}


class Packer:
    """Findings and inventory JSON built from cached fragments: an OS finding is the same in every image of its OS
    (its package sits in the OS's base layer); a language finding differs only in the image's own layer."""

    APP_DIGEST, APP_DIFF = "@@APPDIGEST@@", "@@APPDIFF@@"

    def __init__(self, data: Dataset, rng: random.Random) -> None:
        self.data = data
        self.base_layers = [
            layer_json(0, hexdigest(rng), hexdigest(rng), f"ADD file:{rng.randbytes(8).hex()} in / ")
            for _ in range(len(OSES) + 1)  # the last: the static base of images without an OS
        ]
        self.findings: dict[tuple[int, int | None], tuple[str, str, str, bool]] = {}
        self.packages: dict[tuple[str, int | None], str] = {}
        self.filler: list[list[str]] = []
        for index, spec in enumerate(OSES):
            layer = json.dumps(self.base_layers[index], separators=(",", ":"))
            self.filler.append(
                [
                    self._package_json(f"lib{word}{n}", spec.ecosystem, index, layer)
                    for n in range(12)
                    for word in FILLER
                ]
            )

    def _package_json(self, name: str, ecosystem: str, os_index: int | None, layer: str) -> str:
        version = version_of(name, os_index)
        spec = OSES[os_index] if os_index is not None else None
        if spec is not None:
            purl = f"pkg:{ecosystem}/{spec.id}/{name}@{version}"
            location = {"deb": "var/lib/dpkg/status", "apk": "lib/apk/db/installed"}.get(
                ecosystem, "var/lib/rpm/rpmdb.sqlite"
            )
        else:
            purl = f"pkg:{ecosystem.lower()}/{name}@{version}"
            location = f"app/{ecosystem.lower()}.lock"
        body = {
            "name": name,
            "version": version,
            "ecosystem": ecosystem,
            "purl": purl,
            "location": location,
            "source_name": name if spec else None,
            "source_version": version if spec else None,
            "licenses": ["MIT"] if not spec else [],
            "arch": "amd64" if spec else None,
            "extra": [],
        }
        return json.dumps(body, separators=(",", ":"))[:-1] + ',"layer":' + layer + "}"

    def finding(self, v: int, os_index: int | None) -> tuple[str, str, str, bool]:
        """(finding JSON, COPY line after the result id, severity column, fixable)."""
        key = (v, os_index)
        cached = self.findings.get(key)
        if cached is not None:
            return cached
        vuln = self.data.vulns[v]
        spec = OSES[os_index] if os_index is not None else None
        language = vuln.language is not None or spec is None
        ecosystem = vuln.language or (spec.ecosystem if spec else "Go")
        version = version_of(vuln.package, None if language else os_index)
        fixed = [fixed_of(version)] if vuln.fixable else []
        if language:
            lookup = ecosystem
            layer = layer_json(1, self.APP_DIGEST, self.APP_DIFF, "COPY app /app # buildkit")
            purl = f"pkg:{ecosystem.lower()}/{vuln.package}@{version}"
            location = f"app/{ecosystem.lower()}.lock"
        else:
            assert spec is not None and os_index is not None
            lookup = (
                f"{LOOKUP[spec.id]}:{spec.version_id.rsplit('.', 1)[0] if spec.id == 'alpine' else spec.version_id}"
            )
            layer = self.base_layers[os_index]
            purl = f"pkg:{ecosystem}/{spec.id}/{vuln.package}@{version}"
            location = {"deb": "var/lib/dpkg/status", "apk": "lib/apk/db/installed"}.get(
                ecosystem, "var/lib/rpm/rpmdb.sqlite"
            )
        body = {
            "id": vuln.id,
            "advisories": [vuln.id if language else f"{LOOKUP.get(spec.id if spec else '', 'OSV')}-{vuln.id}"],
            "aliases": [vuln.id] if vuln.id.startswith("CVE-") else [],
            "package": vuln.package,
            "version": version,
            "ecosystem": ecosystem,
            "purl": purl,
            "lookup_ecosystem": lookup,
            "source_package": None if language else vuln.package,
            "fixed_versions": fixed,
            "fix_state": vuln.fix_state,
            "severity": vuln.severity,
            "score": vuln.score,
            "vector": None if vuln.score is None else "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "severity_source": "nvd" if vuln.score is not None else "",
            "cwe_ids": [vuln.cwe],
            "summary": vuln.summary,
            "links": [f"https://osv.dev/vulnerability/{vuln.id}"],
            "layer_index": layer["index"],
            "layer_digest": layer["digest"],
            "layer_diff_id": layer["diff_id"],
            "layer_created_by": layer["created_by"],
            "location": location,
        }
        score = "\\N" if vuln.score is None else repr(vuln.score)
        line = (
            f"\t{vuln.id}\t{vuln.package}\t{version}\t{ecosystem}\t{vuln.severity}\t{score}\t{vuln.fix_state}"
            f"\t{', '.join(fixed)}\n"
        )
        entry = (
            json.dumps(body, separators=(",", ":")),
            line,
            SEVERITY_COLUMNS.get(vuln.severity, "other"),
            bool(fixed),
        )
        self.findings[key] = entry
        return entry

    def package(self, v: int, os_index: int | None) -> str:
        vuln = self.data.vulns[v]
        language = vuln.language is not None or os_index is None
        key = (vuln.package + ("@lang" if language else ""), None if language else os_index)
        cached = self.packages.get(key)
        if cached is None:
            if language:
                layer = json.dumps(
                    layer_json(1, self.APP_DIGEST, self.APP_DIFF, "COPY app /app # buildkit"), separators=(",", ":")
                )
                cached = self._package_json(vuln.package, vuln.language or "Go", None, layer)
            else:
                assert os_index is not None
                layer = json.dumps(self.base_layers[os_index], separators=(",", ":"))
                cached = self._package_json(vuln.package, OSES[os_index].ecosystem, os_index, layer)
            self.packages[key] = cached
        return cached

    def image(self, image: Image, rng: random.Random) -> Packed:
        app_digest, app_diff = hexdigest(rng), hexdigest(rng)
        columns = dict.fromkeys(("critical", "high", "medium", "low", "other", "fixable"), 0)
        severities: Counter[str] = Counter()
        fragments, lines = [], []
        prefix = str(image.id)
        for v in image.vulns:
            text, line, column, fixable = self.finding(v, image.os)
            if '"@@' in text:
                text = text.replace(self.APP_DIGEST, app_digest).replace(self.APP_DIFF, app_diff)
            fragments.append(text)
            lines.append(prefix + line)
            columns[column] += 1
            columns["fixable"] += fixable
            severities[self.data.vulns[v].severity] += 1
        packages = dict.fromkeys(self.package(v, image.os) for v in image.vulns)
        if image.os is not None:
            filler = self.filler[image.os]
            packages.update(dict.fromkeys(filler[: rng.randint(20, len(filler))]))
        inventory_packages = ",".join(packages).replace(self.APP_DIGEST, app_digest).replace(self.APP_DIFF, app_diff)
        spec = OSES[image.os] if image.os is not None else None
        os_json = (
            "null"
            if spec is None
            else json.dumps(
                {
                    "id": spec.id,
                    "version_id": spec.version_id,
                    "name": spec.name,
                    "pretty_name": spec.pretty_name,
                    "id_like": list(spec.id_like),
                    "version_codename": spec.codename,
                    "source": "etc/os-release",
                },
                separators=(",", ":"),
            )
        )
        owned = len(packages) if spec else 0
        inventory = f'{{"os":{os_json},"packages":[{inventory_packages}],"warnings":[],"owned_by_os":{owned}}}'
        columns["packages"] = len(packages)
        findings = "[" + ",".join(fragments) + "]"
        return Packed(
            zlib.compress(inventory.encode(), 6),
            zlib.compress(findings.encode(), 6),
            zlib.compress(self.details(image, app_digest, app_diff, rng).encode(), 6),
            "".join(lines),
            columns,
            dict(severities),
        )

    def details(self, image: Image, app_digest: str, app_diff: str, rng: random.Random) -> str:
        """ImageDetails as jsonable.plain makes it: the base layer, the application's layer and a config layer."""
        base = self.base_layers[image.os if image.os is not None else len(OSES)]
        created = image.at - timedelta(days=rng.randint(1, 90))
        layers = [
            {**base, "size": 30_000_000 + rng.randint(0, 9_000_000), "created": (created - timedelta(days=30))},
            {
                "index": 1,
                "digest": app_digest,
                "diff_id": app_diff,
                "size": rng.randint(1_000_000, 200_000_000),
                "created_by": "COPY app /app # buildkit",
                "created": created,
            },
            {
                "index": 2,
                "digest": hexdigest(rng),
                "diff_id": hexdigest(rng),
                "size": rng.randint(200, 20_000),
                "created_by": "COPY config.yaml /etc/app/ # buildkit",
                "created": created,
            },
        ]
        for layer in layers:
            layer.update(media_type="application/vnd.oci.image.layer.v1.tar+gzip", comment="")
            layer["created"] = layer["created"].isoformat()
        body = {
            "repository": image.repository,
            "reference": image.reference,
            "digest": image.digest,
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "index_digest": image.index_digest,
            "platform": image.platform,
            "config_digest": hexdigest(rng),
            "created": created.isoformat(),
            "total_size": sum(int(layer["size"]) for layer in layers),
            "layers": layers,
            "user": "10001",
            "env": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_TOKEN": "****"},
            "exposed_ports": ["8080/tcp"],
            "labels": {"org.opencontainers.image.source": f"https://git.corp.example/{image.repository}"},
            "entrypoint": ["/app/server"],
            "cmd": ["--config", "/etc/app/config.yaml"],
            "working_dir": "/app",
            "dockerfile": [str(layer["created_by"]).removesuffix(" # buildkit") for layer in layers],
        }
        return json.dumps(body, separators=(",", ":"))


@dataclass(frozen=True)
class Packed:
    inventory: bytes
    findings: bytes
    details: bytes
    lines: str  # COPY text of its finding rows
    columns: dict[str, int]  # the result's severity, fixable and package columns
    counts: dict[str, int]  # findings per severity word, as ResultsService stores them


# ------------------------------------------------------------------------------------------------ loading


@contextmanager
def database(name: str, keep: bool) -> Iterator[str]:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        if not keep:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_integrations(data: Dataset, rng: random.Random) -> None:
    """The 20 integrations through IntegrationService.add (no connection test), then a recorded status each."""
    from regscout.runtime import Runtime
    from regscout.services.audit import SYSTEM
    from regscout.services.integrations import IntegrationInput, InvalidIntegration

    runtime = Runtime.from_env()
    statuses = [status for status, n in STATUSES for _ in range(n)]
    rng.shuffle(statuses)

    async def add_all() -> None:
        for name, kind, url in REGISTRIES:
            try:
                await runtime.integrations.add(
                    IntegrationInput(name=name, type=kind, url=url, description=f"{kind} at {url}"),
                    actor=SYSTEM,
                    test=False,
                )
            except InvalidIntegration as error:  # a type that needs options: the generic type at the same URL
                print(f"  {name}: {error}; added as docker-registry", file=sys.stderr)
                await runtime.integrations.add(
                    IntegrationInput(name=name, type="docker-registry", url=url, description=url),
                    actor=SYSTEM,
                    test=False,
                )

    asyncio.run(add_all())
    with psycopg.connect(runtime.settings.database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        for (name, _kind, _url), status in zip(REGISTRIES, statuses, strict=True):
            conn.execute(
                "UPDATE integrations SET status = %s, status_message = %s, status_checked_at = now() - interval "
                "'2 hours', rights = %s WHERE name = %s",
                (status, "" if status == "Connected" else f"{status} at the last test", "read-only", name),
            )
        data.integration_ids = [
            int(row[0])
            for row in (
                conn.execute("SELECT id FROM integrations WHERE name = %s", (name,)).fetchone()
                for name, _k, _u in REGISTRIES
            )
            if row is not None
        ]
    runtime.db.dispose()


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def load(url: str, data: Dataset, rng: random.Random) -> dict[str, float]:
    """COPY everything; returns seconds per step."""
    times: dict[str, float] = {}
    packer = Packer(data, rng)
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")  # no foreign-key triggers during the load
        conn.execute("SET maintenance_work_mem = '512MB'")
        indexdefs = [
            (name, definition)
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'image_findings' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')"
            ).fetchall()
        ]
        for name, _sql in indexdefs:
            conn.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        findings_text = io.StringIO()
        with conn.cursor() as cur:
            # every column of the model; `details` only where the schema has it (revision 0013)
            present = {
                str(row[0])
                for row in cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'scan_results'"
                )
            }
            names = [name for name in RESULT_COLUMNS if name in present]
            statement = sql.SQL("COPY scan_results ({}) FROM STDIN").format(
                sql.SQL(", ").join(map(sql.Identifier, names))
            )
            with cur.copy(statement) as copy:
                for image in data.images:
                    packed = packer.image(image, rng)
                    findings_text.write(packed.lines)
                    columns = data.counts[image.id] = packed.columns
                    spec = OSES[image.os] if image.os is not None else None
                    row: dict[str, Any] = {
                        "id": image.id,
                        "image_digest": image.digest,
                        "index_digest": image.index_digest,
                        "registry_host": host_of(REGISTRIES[image.integration][2]),
                        "repository": image.repository,
                        "reference": image.reference,
                        "platform": image.platform,
                        "inventory": packed.inventory,
                        "findings": packed.findings,
                        "details": packed.details,
                        "counts": json.dumps(packed.counts),
                        "analyzed_at": image.at - timedelta(minutes=rng.randint(0, 3000)),
                        "matched_at": image.at,
                        "os": spec.pretty_name if spec else "",
                        **columns,
                    }
                    copy.write_row([row[name] for name in names])
            times["scan_results (blobs built)"] = time.perf_counter() - started
            started = time.perf_counter()
            with cur.copy(
                "COPY image_findings (result_id, vuln_id, package, version, ecosystem, severity, score, fix_state, "
                "fixed_versions) FROM STDIN"
            ) as copy:
                text = findings_text.getvalue()
                step = 8 << 20
                for offset in range(0, len(text), step):
                    copy.write(text[offset : offset + step])
            del text, findings_text
            times["image_findings COPY"] = time.perf_counter() - started
            started = time.perf_counter()
            for _name, definition in indexdefs:
                cur.execute(definition)
            times["image_findings indexes"] = time.perf_counter() - started
            started = time.perf_counter()
            load_rest(cur, data, rng, now)
            for table in ("scan_results", "scan_jobs", "sync_runs"):  # ids were given: move the sequences past them
                setval = "SELECT setval(pg_get_serial_sequence({name}, 'id'), (SELECT max(id) FROM {table}))"
                cur.execute(sql.SQL(setval).format(name=sql.Literal(table), table=sql.Identifier(table)))
            times["daily, changes, jobs, tracked, vulndb"] = time.perf_counter() - started
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    times["VACUUM ANALYZE"] = time.perf_counter() - started
    return times


def load_rest(cur: psycopg.Cursor[Any], data: Dataset, rng: random.Random, now: datetime) -> None:
    images = data.images
    # findings_daily: 30 days, the last one the real totals, the earlier ones a little lower
    totals = dict.fromkeys(("critical", "high", "medium", "low", "other"), 0)
    with_any = dict.fromkeys(totals, 0)
    for columns in data.counts.values():
        for name in totals:
            totals[name] += columns[name]
            with_any[name] += columns[name] > 0
    with cur.copy("COPY findings_daily (day, severity, count, images) FROM STDIN") as copy:
        for back in range(30):
            day: date = (now - timedelta(days=back)).date()
            factor = 1.0 if back == 0 else 0.8 + 0.2 * (29 - back) / 29 + rng.uniform(-0.01, 0.01)
            for name in totals:
                copy.write_row((day, name, round(totals[name] * factor), round(with_any[name] * min(1.0, factor))))
    # finding_changes: for a third of the images, a few new, fixed and withdrawn findings over 30 days
    with cur.copy(
        "COPY finding_changes (image_digest, finding_id, package, version, change, detail, at) FROM STDIN"
    ) as copy:
        for image in rng.sample(images, len(images) // 3):
            for v in rng.sample(image.vulns, min(len(image.vulns), rng.randint(1, 12))):
                vuln = data.vulns[v]
                change = rng.choices(["new", "fixed", "withdrawn"], weights=[6, 3, 1])[0]
                detail = {"new": vuln.severity, "fixed": "fix published: 9.9.9", "withdrawn": "advisory withdrawn"}
                copy.write_row(
                    (
                        image.digest,
                        vuln.id,
                        vuln.package,
                        version_of(vuln.package, image.os),
                        change,
                        detail[change],
                        now - timedelta(seconds=rng.uniform(0, 30 * 86400)),
                    )
                )
    # tracked_images: what the syncs saw, one row per integration, repository and tag
    seen: set[tuple[int, str, str]] = set()
    with cur.copy(
        "COPY tracked_images (integration_id, repository, tag, digest, source, state, first_seen_at, last_seen_at, "
        "gone_at) FROM STDIN"
    ) as copy:
        for image in images:
            key = (data.integration_ids[image.integration], image.repository, image.reference)
            if key in seen:
                continue
            seen.add(key)
            gone = rng.random() < 0.04
            copy.write_row(
                (
                    *key,
                    image.index_digest or image.digest,
                    "manual" if image.reference.startswith("sha256:") else "sync",
                    "gone" if gone else "present",
                    image.at - timedelta(days=rng.randint(1, 200)),
                    image.at,
                    image.at if gone else None,
                )
            )
    load_jobs(cur, data, rng, now)
    load_vulndb(cur, data, rng, now)


def load_jobs(cur: psycopg.Cursor[Any], data: Dataset, rng: random.Random, now: datetime, count: int = 3000) -> None:
    syncs = 240
    with cur.copy(
        "COPY sync_runs (id, integration_id, integration_name, trigger, state, found, selected, queued, gone, "
        "repository_errors, error, started_at, listed_at) FROM STDIN"
    ) as copy:
        for sync_id in range(1, syncs + 1):
            integration = rng.randrange(len(REGISTRIES))
            data.syncs[REGISTRIES[integration][0]] = sync_id
            failed = rng.random() < 0.05
            started = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
            found = rng.randint(50, 2000)
            copy.write_row(
                (
                    sync_id,
                    data.integration_ids[integration],
                    REGISTRIES[integration][0],
                    rng.choice(["manual", "schedule"]),
                    "failed" if failed else "queued",
                    found,
                    found // 3,
                    0 if failed else found // 4,
                    rng.randint(0, 5),
                    json.dumps({"team/legacy": "403 Forbidden"} if rng.random() < 0.1 else {}),
                    "registry answered 401 Unauthorized" if failed else None,
                    started,
                    None if failed else started + timedelta(seconds=rng.uniform(2, 90)),
                )
            )
    states = ["succeeded"] * 80 + ["failed"] * 10 + ["cancelled"] * 3 + ["queued"] * 5 + ["running"] * 2
    most_attempts = (0, -1)
    succeeded = 0
    attempts_rows: list[tuple[Any, ...]] = []
    with cur.copy(
        "COPY scan_jobs (id, kind, integration_id, integration_name, sync_id, repository, reference, digest, "
        "platform, state, trigger, priority, active_key, attempts, max_attempts, timeout_seconds, max_concurrency, "
        "not_before, lease_owner, lease_expires_at, cancel_requested, reason, result_digest, summary, bytes_fetched, "
        "duration_seconds, created_at, started_at, finished_at, updated_at) FROM STDIN"
    ) as copy:
        for job_id in range(1, count + 1):
            state = rng.choice(states)
            image = rng.choice(data.images)
            integration_id = data.integration_ids[image.integration]
            created = now - timedelta(seconds=rng.uniform(60, 30 * 86400))
            rematch = state == "succeeded" and rng.random() < 0.01
            attempts = {"queued": 0, "running": 1, "failed": rng.randint(1, 4)}.get(state, 1)
            began = created + timedelta(seconds=rng.uniform(0.5, 120)) if attempts else None
            duration = rng.uniform(2, 240)
            finished = began + timedelta(seconds=duration) if began and state != "running" else None
            active = f"{integration_id}|{image.repository}:{image.reference}|{image.platform}|{job_id}"
            counts = data.counts.get(image.id, {})
            copy.write_row(
                (
                    job_id,
                    "rematch" if rematch else "scan",
                    None if rematch else integration_id,
                    "" if rematch else REGISTRIES[image.integration][0],
                    rng.randint(1, syncs) if rng.random() < 0.7 and not rematch else None,
                    "" if rematch else image.repository,
                    "" if rematch else image.reference,
                    None if rematch else image.digest,
                    "" if rematch else image.platform,
                    state,
                    "data_update" if rematch else rng.choice(["schedule", "schedule", "manual", "rescan", "harbor"]),
                    0,
                    active if state in ("queued", "running") else None,
                    attempts,
                    4,
                    1800.0,
                    4,
                    now + timedelta(days=1) if state == "queued" else created,  # queued: not before tomorrow
                    "serve@elsewhere:1:bench/0" if state == "running" else None,
                    now + timedelta(hours=3) if state == "running" else None,
                    False,
                    rng.choice(JOB_REASONS)
                    if state == "failed"
                    else ("cancelled by a user" if state == "cancelled" else None),
                    image.digest if state == "succeeded" and not rematch else None,
                    json.dumps({"counts": counts, "layers": rng.randint(1, 12), "bytes": rng.randint(1 << 20, 1 << 30)})
                    if state == "succeeded"
                    else None,
                    rng.randint(0, 1 << 30) if state == "succeeded" else 0,
                    duration if state == "succeeded" else None,
                    created,
                    began,
                    finished,
                    finished or began or created,
                )
            )
            if state == "failed" and attempts > most_attempts[0]:
                most_attempts = (attempts, job_id)
            if state == "succeeded" and not rematch and not succeeded:
                succeeded = job_id
            for attempt in range(1, attempts + 1):
                last = attempt == attempts
                outcome = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}.get(state)
                attempts_rows.append(
                    (
                        job_id,
                        attempt,
                        f"serve@bench:1:abcd{attempt}/0",
                        (began or created) + timedelta(seconds=60 * (attempt - 1)),
                        None if state == "running" else (began or created) + timedelta(seconds=60 * attempt - 5),
                        (outcome if last else "failed") if state != "running" else None,
                        rng.choice(JOB_REASONS) if state == "failed" or not last else None,
                        "429" if (state == "failed" or not last) and rng.random() < 0.5 else None,
                    )
                )
    with cur.copy(
        "COPY job_attempts (job_id, attempt, worker, started_at, finished_at, outcome, reason, registry_status) "
        "FROM STDIN"
    ) as copy:
        for row in attempts_rows:
            copy.write_row(row)
    data.jobs = {"failed": most_attempts[1], "succeeded": succeeded}


def load_vulndb(cur: psycopg.Cursor[Any], data: Dataset, rng: random.Random, now: datetime) -> None:
    """vuln_sources, and a record (with one affected entry) for each finding id plus filler records: the data a
    console page may look vulnerabilities up in. Not enough to match anything."""
    sources = ["debian", "ubuntu", "alpine", "red-hat", "rocky-linux", "almalinux", "pypi", "npm", "go", "maven"]
    data.sources = sources
    failing = {"rocky-linux"}
    with cur.copy(
        "COPY vuln_sources (name, url, kind, last_success_at, last_attempt_at, last_error, record_count, "
        "last_modified_seen) FROM STDIN"
    ) as copy:
        for name in sources:
            copy.write_row(
                (
                    name,
                    f"https://osv-vulnerabilities.storage.googleapis.com/{name}/all.zip",
                    "osv-zip",
                    now - timedelta(hours=rng.uniform(1, 20) + (60 if name in failing else 0)),
                    now - timedelta(hours=1),
                    "HTTP 503 from the source" if name in failing else None,
                    rng.randint(2000, 60000),
                    now - timedelta(hours=rng.uniform(2, 30)),
                )
            )
    filler = max(0, data.vuln_records - len(data.vulns))
    ids = [(v.id, v) for v in data.vulns] + [(f"CVE-2015-{n:06d}", None) for n in range(filler)]
    with cur.copy(
        "COPY vuln_records (source, id, modified, published, withdrawn, aliases, summary, details, severity, "
        '"references", database_specific, cwe_ids) FROM STDIN'
    ) as copy:
        for vid, vuln in ids:
            copy.write_row(
                (
                    rng.choice(sources) if vuln is None or vuln.language is None else (vuln.language or "go").lower(),
                    vid,
                    now - timedelta(days=rng.uniform(0, 400)),
                    now - timedelta(days=rng.uniform(400, 3000)),
                    None,
                    json.dumps([vid] if vid.startswith("CVE-") else []),
                    vuln.summary if vuln else "an old filler record",
                    "Details of the vulnerability. " * 4,
                    json.dumps([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]),
                    json.dumps([{"type": "ADVISORY", "url": f"https://nvd.nist.gov/vuln/detail/{vid}"}]),
                    json.dumps({}),
                    json.dumps([vuln.cwe] if vuln else []),
                )
            )
    cur.execute(
        "INSERT INTO vuln_affected (source, record_id, ecosystem, name, ranges, versions, ecosystem_specific, "
        "database_specific, severity) SELECT r.source, r.id, initcap(r.source), 'pkg-' || md5(r.id), "
        '\'[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]\', \'[]\', \'{}\', '
        "'{}', '[]' FROM vuln_records r, generate_series(1, 2)"
    )


# ------------------------------------------------------------------------------------------------ the routes


@dataclass
class Variant:
    label: str
    url: str
    target: float
    samples: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    size: int = 0
    timing: str = "client"
    statements: float | None = None
    sql_ms: float | None = None
    app_ms: float | None = None  # in process (no HTTP server), median
    breakdown: list[tuple[float, float, str]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)  # per statement: those of its slowest run
    server_cpu_ms: float | None = None  # CPU of the server process per request (10 ms ticks, averaged)
    db_cpu_ms: float | None = None  # CPU of its PostgreSQL backends per request  # per statement: ms, times per request
    slowest: tuple[float, str, Any] | None = None


@dataclass
class RouteInfo:
    path: str
    params: dict[str, Any]  # query parameter -> annotation
    path_params: list[str]


def unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: Optional, unions and Annotated taken apart, None dropped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [a for arg in typing.get_args(annotation) for a in unwrap(arg) if a is not type(None)]
    if origin in (list, set, tuple, Sequence, frozenset):
        args = typing.get_args(annotation)
        return unwrap(args[0]) if args else [str]
    return [annotation]


def console_routes() -> list[RouteInfo]:
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute
    from pydantic import BaseModel

    from regscout.web.console import PAGES

    found: list[RouteInfo] = []
    for page in PAGES:
        for route in page.router.routes:
            if not isinstance(route, APIRoute) or "GET" not in (route.methods or ()):
                continue
            params: dict[str, Any] = {}
            stack: list[Dependant] = [route.dependant]
            while stack:
                dependant = stack.pop()
                for query in dependant.query_params:
                    annotation = query.field_info.annotation
                    models = [a for a in unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
                    if models:
                        for name, info in models[0].model_fields.items():
                            params[info.alias or name] = info.annotation
                    else:
                        params[query.alias] = annotation
                stack.extend(dependant.dependencies)
            names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
            found.append(RouteInfo(route.path, params, names))
    return found


class PageParser(html.parser.HTMLParser):
    """The filters a page offers: the <select> options and inputs of its GET forms (a form that posts changes
    something: its fields are no filters), fields that fetch with hx-get, and links with a query."""

    def __init__(self) -> None:
        super().__init__()
        self.selects: dict[str, list[str]] = {}
        self.inputs: dict[str, tuple[str, str]] = {}
        self.links: list[str] = []  # with a query
        self.hrefs: list[str] = []  # every link
        self._select: str | None = None
        self._forms: list[bool] = []  # per open <form>: does it GET?

    def _filters(self, attr: dict[str, str]) -> bool:
        if "hx-get" in attr:
            return True
        return bool(self._forms) and self._forms[-1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            posts = attr.get("method", "get").lower() != "get" or any(k in attr for k in ("hx-post", "hx-put"))
            self._forms.append(not posts)
        elif tag == "select" and attr.get("name") and self._filters(attr):
            self._select = attr["name"]
            self.selects.setdefault(self._select, [])
        elif tag == "option" and self._select is not None:
            self.selects[self._select].append(attr.get("value", ""))
        elif tag == "input" and attr.get("name") and self._filters(attr):
            self.inputs[attr["name"]] = (attr.get("type", "text"), attr.get("value", ""))
        elif tag == "a" and attr.get("href"):
            self.hrefs.append(attr["href"])
            if "?" in attr["href"]:
                self.links.append(attr["href"])
        for name in ("hx-get", "data-href"):
            if "?" in attr.get(name, ""):
                self.links.append(attr[name])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._forms:
            self._forms.pop()


SAMPLE_NOISE = r"/(anyio|starlette|fastapi|threading|concurrent|asyncio|httpx|httpcore|h11|uvicorn)/|threading\.py"
SKIP_PARAMS = {"csrf_token", "next", "limit", "per_page", "page_size", "cursor", "after", "before", "format"}


def values_by_name(name: str, path: str, data: Dataset, annotation: Any, detail: bool = False) -> list[str]:
    """Values for a query parameter: from its type (Literal, Enum, bool), else by its name."""
    lname = name.lower()
    kinds = unwrap(annotation)
    for kind in kinds:
        if typing.get_origin(kind) is typing.Literal:
            return [str(v) for v in typing.get_args(kind) if v not in ("", None)]
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return [str(member.value) for member in kind]
        if kind is bool:
            return ["true"]
    if lname in SKIP_PARAMS:
        return []
    if lname in ("page", "p", "offset"):
        return ["2"] if lname != "offset" else ["5000"]
    top = max(data.images, key=lambda i: len(i.vulns))
    vulnerabilities = path.startswith("/vulnerabilities")
    if lname in ("q", "query", "search", "text", "term", "filter", "find"):
        if vulnerabilities or detail:
            return [data.top_vuln, data.top_package]
        return [top.repository.split("/")[0], data.top_vuln] if path.startswith("/images") else ["payments"]
    table = {
        ("vuln", "vuln_id", "cve", "vulnerability", "advisory", "finding"): [data.top_vuln],
        ("package", "pkg", "package_name"): [data.top_package],
        ("severity", "min_severity", "worst"): ["CRITICAL", "HIGH"],
        ("registry", "integration", "registry_name"): [REGISTRIES[0][0]],
        ("host", "registry_host"): [host_of(REGISTRIES[0][2])],
        ("os", "distro", "os_name"): [OSES[0].pretty_name],
        ("repository", "repo"): [top.repository],
        ("state", "status"): ["failed", "succeeded"] if path.startswith("/jobs") else ["Connected"],
        ("fixable", "has_fix", "fixed", "fix"): ["true"],
        ("kind",): ["scan"],
        ("trigger",): ["manual"],
        ("platform",): ["linux/arm64"],
        ("digest",): [top.digest],
        ("reference", "tag"): ["latest"],
        ("ecosystem",): ["deb"],
        ("source",): [data.sources[0]] if data.sources else [],
    }
    for names, values in table.items():
        if lname in names:
            return values
    return []


def harvest(route: RouteInfo, known: dict[str, str], name: str, links: set[str]) -> list[str]:
    """Values of a path parameter as the pages link to it: the route's path matched against every link seen."""
    pattern = ""
    for piece in re.split(r"({\w+(?::\w+)?})", route.path):
        match = re.fullmatch(r"{(\w+)(?::\w+)?}", piece)
        if match is None:
            pattern += re.escape(piece)
        elif match.group(1) == name:
            pattern += r"(?P<wanted>[^/?#]+)"
        elif match.group(1) in known:
            pattern += re.escape(known[match.group(1)])
        else:
            pattern += r"[^/?#]+"
    compiled = re.compile(pattern + r"$")
    found = (compiled.match(urlsplit(link).path) for link in sorted(links))
    return list(dict.fromkeys(m.group("wanted") for m in found if m is not None))


def path_values(route: RouteInfo, data: Dataset, links: set[str]) -> list[tuple[str, dict[str, str]]]:
    """(label, values of the path parameters) per variant; empty when a parameter is not understood."""
    by_vulns = sorted(data.images, key=lambda i: len(i.vulns))
    worst, median = by_vulns[-1], by_vulns[len(by_vulns) // 2]
    host_counts = Counter(i.integration for i in data.images)
    busiest = REGISTRIES[host_counts.most_common(1)[0][0]][0]
    choices: list[tuple[str, dict[str, str]]] = [("", {})]
    for name in route.path_params:
        lname = name.lower()
        options: list[tuple[str, str]]
        if "digest" in lname:
            options = [(f"worst: {len(worst.vulns)} findings", worst.digest)]
            if not route.path.endswith("}") or route.path.count("{") == 1:
                options.append((f"median: {len(median.vulns)} findings", median.digest))
        elif route.path.startswith("/jobs") and ("id" in lname or "job" in lname):
            options = [("failed, 4 attempts", str(data.jobs["failed"])), ("succeeded", str(data.jobs["succeeded"]))]
        elif "sync" in lname and data.syncs:
            options = [("its latest sync", str(data.syncs.get(busiest, max(data.syncs.values()))))]
        elif lname in ("name", "registry", "integration", "integration_name"):
            options = [(f"{host_counts.most_common(1)[0][1]} images", busiest)]
        elif "vuln" in lname or "cve" in lname or (route.path.startswith("/vulnerabilities") and lname == "id"):
            options = [("in most images", data.top_vuln)]
        elif "package" in lname:
            options = [("most findings", data.top_package)]
        elif "source" in lname:
            options = [("", data.sources[0])]
        elif lname in ("repository", "repo"):
            options = [("", worst.repository)]
        else:
            known = choices[0][1]
            options = [(value, value) for value in harvest(route, known, name, links)]
            if not options:
                return []
        choices = [
            ((f"{label}, {extra}" if label and extra else label or extra), {**values, name: value})
            for label, values in choices
            for extra, value in options
        ]
    return choices


def target_of(path: str) -> float:
    return IMAGES_TARGET_MS if path.rstrip("/") == "/images" else PAGE_TARGET_MS


def fetch(client: httpx.Client, url: str, links: set[str]) -> PageParser:
    parser = PageParser()
    response = client.get(url)
    if "html" in response.headers.get("content-type", ""):
        parser.feed(response.text)
    links.update(parser.links)
    links.update(parser.hrefs)
    return parser


def candidates_of(route: RouteInfo, data: Dataset, parser: PageParser, typed: bool) -> dict[str, list[str]]:
    """Query parameters to try on a page: the route's typed ones (when `typed`), its form's selects and inputs."""
    candidates: dict[str, list[str]] = {}
    detail = bool(route.path_params)
    if typed:
        for name, annotation in route.params.items():
            values = values_by_name(name, route.path, data, annotation, detail)
            if values:
                candidates[name] = values
    for name, options in parser.selects.items():
        if name in SKIP_PARAMS:
            continue
        options = [o for o in options if o]
        if name == "size" and all(o.isdigit() for o in options) and options:
            options = [max(options, key=int)]  # the largest page is the costly one
        picked = options if len(options) <= 4 else [options[0], options[-1]]
        candidates[name] = list(dict.fromkeys([*picked, *candidates.get(name, [])]))
    for name, (kind, value) in parser.inputs.items():
        if name in candidates or name in SKIP_PARAMS or kind in ("hidden", "submit", "button"):
            continue
        guessed = (
            [value or "1"] if kind in ("checkbox", "radio") else values_by_name(name, route.path, data, str, detail)
        )
        if guessed:
            candidates[name] = guessed
    return candidates


def variants_of(
    route: RouteInfo, data: Dataset, client: httpx.Client, links: set[str], skipped: list[str]
) -> list[Variant]:
    bases = path_values(route, data, links)
    if not bases:
        skipped.append(f"{route.path}: path parameters {route.path_params} not understood")
        return []
    target = target_of(route.path)
    shown_path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
    variants: list[Variant] = []
    for note, given in bases:
        path = route.path
        for name, value in given.items():
            path = re.sub(r"{" + name + r"(?::\w+)?}", value if "digest" in name else quote(value, safe=""), path)
        variants.append(Variant(shown_path + (f" ({note})" if note else ""), path, target))
    first = variants[0].url
    urls = {v.url for v in variants}

    def add(query: list[tuple[str, str]], label: str = "") -> None:
        url = f"{first}?{urlencode(query)}"
        if url not in urls and len(variants) < MAX_VARIANTS_PER_ROUTE:
            urls.add(url)
            label = label or f"{shown_path}?{'&'.join(f'{k}={v}' for k, v in query)}"
            variants.append(Variant(label, url, target))

    try:
        root = fetch(client, first, links)
    except httpx.HTTPError as error:
        skipped.append(f"{first}: {error}")
        return variants
    candidates = candidates_of(route, data, root, typed=True)
    # 1. each filter alone, with each of a few of its values
    for name, values in candidates.items():
        for value in values:
            add([(name, value)])
    # 2. the page's links to itself as they are (sort headers, tabs, next pages), and on a linked state with its own
    #    form (a tab's filters) each of those fields on top of the link's query
    own = urlsplit(first).path
    queries = list(
        dict.fromkeys(
            tuple(parse_qsl(urlsplit(link).query))
            for link in root.links
            if urlsplit(link).path in ("", own) and urlsplit(link).query
        )
    )
    for query in queries:
        add(list(query))
    for query in queries:
        if len(query) != 1 or query[0][0] not in ("tab", "view", "section"):
            continue
        try:
            sub = fetch(client, f"{first}?{urlencode(query)}", links)
        except httpx.HTTPError:
            continue
        taken = {name for name, _ in query}
        for name, values in candidates_of(route, data, sub, typed=False).items():
            if name in taken or name in root.selects or name in root.inputs:
                continue
            add([*query, (name, values[0])])
    # 3. all filters at once (first values), and a page past the end (the last page: the deepest offset)
    combined = [
        (name, values[0])
        for name, values in candidates.items()
        if not any(word in name.lower() for word in ("sort", "dir", "order", "page", "size")) and name != "q"
    ]
    if len(combined) > 1:
        add(combined, f"{shown_path}?{'&'.join(name for name, _ in combined)} (all filters, first values)")
    if "page" in route.params or any(name == "page" for query in queries for name, _ in query):
        add([("page", "100000")], f"{shown_path}?page=100000 (past the end: the last page)")
    return variants


# ------------------------------------------------------------------------------------------------ timing


def server_timing(header: str | None) -> float | None:
    """Milliseconds from a Server-Timing header: its `total` (or `app`) metric, else the sum of all."""
    if not header:
        return None
    metrics: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        match = re.search(r"dur=([\d.]+)", rest)
        if match:
            metrics[name] = float(match.group(1))
    if not metrics:
        return None
    return metrics.get("total", metrics.get("app", sum(metrics.values())))


def measure(client: httpx.Client, variant: Variant, requests: int, warmup: int, server: int, url: str) -> None:
    """--warmup requests (at most WARMUP_SECONDS), then --requests timed ones; a clear miss (p50 over twice the
    target) stops after MIN_REQUESTS once VARIANT_SECONDS have passed, over five times the target after 10."""
    started = time.perf_counter()
    for _ in range(warmup):
        client.get(variant.url)
        if time.perf_counter() - started > WARMUP_SECONDS:
            break
    gc.collect()
    gc.disable()  # the bench's own collections would show as server time
    db = backends(url)
    app_cpu, db_cpu = cpu_seconds([server]), cpu_seconds(db)
    try:
        started = time.perf_counter()
        for n in range(1, requests + 1):
            t0 = time.perf_counter()
            response = client.get(variant.url)
            body = response.content
            elapsed = (time.perf_counter() - t0) * 1000
            reported = server_timing(response.headers.get("server-timing"))
            if reported is not None:
                variant.timing = "Server-Timing"
            variant.samples.append(reported if reported is not None else elapsed)
            variant.statuses[response.status_code] += 1
            variant.size = len(body)
            if time.perf_counter() - started > VARIANT_SECONDS:
                p50 = statistics.median(variant.samples)
                if (n >= MIN_REQUESTS and p50 > 2 * variant.target) or (n >= 10 and p50 > 5 * variant.target):
                    break
        count = len(variant.samples)
        variant.server_cpu_ms = (cpu_seconds([server]) - app_cpu) * 1000 / count
        variant.db_cpu_ms = (cpu_seconds(db) - db_cpu) * 1000 / count
    finally:
        gc.enable()


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of these processes so far (from /proc; a process gone since counts nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def backends(url: str) -> list[int]:
    """The PostgreSQL backends serving the bench database (the server's pooled connections)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def sign_in(client: httpx.Client, password: str) -> None:
    page = client.get("/login")
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.text) or re.search(
        r'value="([^"]+)"\s+name="csrf_token"', page.text
    )
    assert match, "no csrf_token on /login"
    answer = client.post(
        "/login", data={"username": "admin", "password": password, "csrf_token": match.group(1), "next": "/"}
    )
    assert answer.status_code == 303 and answer.headers.get("location") == "/", f"sign-in failed: {answer.status_code}"
    assert "regscout_session" in client.cookies, "no session cookie after signing in"


def admin_password(log: str) -> str:
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if "console user" in line and "admin" in line and "created" in line:
            for following in lines[index + 1 :]:
                if following.strip():
                    return following.strip()
    raise RuntimeError("the server printed no console admin password:\n" + log)


# ------------------------------------------------------------------------------------------------ SQL per page


class Recorder:
    def __init__(self) -> None:
        self.statements: list[tuple[float, str, Any]] = []
        self.enabled = False

    def before(self, conn: Any, _cursor: Any, _statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(self, conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        started = conn.info["bench_started"].pop()
        if self.enabled and not many:
            self.statements.append(((time.perf_counter() - started) * 1000, statement, parameters))


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def missed(variant: Variant) -> bool:
    return bool(variant.samples) and percentile(variant.samples, 0.95) >= variant.target


def profile(variants: list[Variant], password: str, rounds: int = 3) -> list[tuple[str, list[str]]]:
    """Each variant in process: statements, SQL and app time per request. For each miss: EXPLAIN (ANALYZE, BUFFERS)
    of its slowest statement when SQL is a good part of its time, else where the Python time goes (cProfile)."""
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")  # its own deprecation note, not ours
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from regscout.api.app import create_app
    from regscout.runtime import Runtime

    runtime = Runtime.from_env()
    recorder = Recorder()
    event.listen(runtime.db.engine, "before_cursor_execute", recorder.before)
    event.listen(runtime.db.engine, "after_cursor_execute", recorder.after)
    signed = runtime.users.sign_in("admin", password)
    assert signed is not None
    findings: list[tuple[str, list[str]]] = []
    explained: dict[str, str] = {}
    with TestClient(create_app(runtime), base_url="http://127.0.0.1", follow_redirects=False) as client:
        client.cookies.set("regscout_session", signed[0])
        for variant in variants:
            client.get(variant.url)
            recorder.statements.clear()
            recorder.enabled = True
            walls = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                client.get(variant.url)
                walls.append((time.perf_counter() - t0) * 1000)
            recorder.enabled = False
            taken = recorder.statements
            variant.app_ms = statistics.median(walls)
            variant.statements = len(taken) / rounds
            variant.sql_ms = sum(t for t, _s, _p in taken) / rounds
            by_text: dict[str, list[tuple[float, Any]]] = {}
            for elapsed, statement, parameters in taken:
                by_text.setdefault(statement, []).append((elapsed, parameters))
            if by_text:
                statement, runs = max(by_text.items(), key=lambda item: max(t for t, _p in item[1]))
                slowest = max(runs, key=lambda run: run[0])
                variant.slowest = (slowest[0], statement, slowest[1])
                variant.parameters = {text: max(r, key=lambda run: run[0])[1] for text, r in by_text.items()}
                variant.breakdown = sorted(
                    ((sum(t for t, _p in r) / rounds, len(r) / rounds, text) for text, r in by_text.items()),
                    reverse=True,
                )
        for variant in variants:
            if not missed(variant) or variant.app_ms is None:
                continue
            sql_share = (variant.sql_ms or 0.0) / max(variant.app_ms, 0.001)
            title = (
                f"{variant.label}: p95 {percentile(variant.samples, 0.95):.0f} ms; in process {variant.app_ms:.0f} ms "
                f"of which SQL {variant.sql_ms or 0:.0f} ms in {variant.statements or 0:.0f} statements"
            )
            lines = ["statements per request (ms, times, text):"]
            lines += [f"  {ms:7.1f} x{times:g}  {one_line(text)[:140]}" for ms, times, text in variant.breakdown[:5]]
            if variant.slowest is not None and sql_share >= 0.3:
                # the slowest statement, and the next one too when it is a good part of the SQL time
                worst_text = variant.slowest[1]
                heavy = [worst_text] + [
                    text
                    for ms, _times, text in variant.breakdown[:2]
                    if text != worst_text and ms >= max(10.0, 0.25 * (variant.sql_ms or 0.0))
                ]
                for statement in heavy:
                    if statement in explained:
                        lines.append(f"{one_line(statement)[:60]}...: EXPLAINed above for {explained[statement]}")
                        continue
                    explained[statement] = variant.label
                    parameters = variant.parameters[statement]
                    with runtime.db.engine.connect() as conn:
                        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
                    lines += [f"EXPLAIN (ANALYZE, BUFFERS): {one_line(statement)[:1200]}", f"parameters: {parameters}"]
                    lines += [
                        "  " + str(row[0])
                        for row in rows
                        if not re.match(r"\s*(JIT|Functions|Options|Timing)", str(row[0]))
                    ]
            else:
                lines.append("SQL is a small part: where the app's Python time goes (stacks sampled every ms):")
                lines += python_profile(client, variant.url)
            findings.append((title, lines))
    runtime.db.dispose()
    return findings


def python_profile(client: Any, url: str, rounds: int = 10, top: int = 12) -> list[str]:
    """Where a request's Python time goes: the app runs in other threads (the test client's portal, the threadpool
    of sync endpoints), so their stacks are sampled every millisecond while `rounds` requests run. Inclusive share of
    the samples per function of the app and its libraries (a function counted once per sample)."""
    done = threading.Event()

    def run() -> None:
        for _ in range(rounds):
            client.get(url)
        done.set()

    requester = threading.Thread(target=run)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)  # the sampler needs the GIL: without this it would see mostly I/O waits
    requester.start()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    me = threading.get_ident()
    while not done.is_set():
        for ident, frame in sys._current_frames().items():
            if ident in (me, requester.ident):
                continue
            stack: list[str] = []
            current: Any = frame
            while current is not None:
                code = current.f_code
                where = code.co_filename
                if "/regscout/" in where or ("site-packages" in where and not re.search(SAMPLE_NOISE, where)):
                    short = where.split("site-packages/")[-1].split("/src/")[-1]
                    stack.append(f"{code.co_name} ({short}:{code.co_firstlineno})")
                current = current.f_back
            if not any("regscout/" in entry for entry in stack):
                continue
            samples += 1
            own[stack[0]] += 1
            for entry in set(stack):
                inclusive[entry] += 1
        time.sleep(0.001)
    requester.join()
    sys.setswitchinterval(interval)
    if not samples:
        return ["no samples"]
    lines = [f"{samples} samples; inclusive:"]
    shown = [(n, name) for name, n in inclusive.most_common() if n < samples * 0.97][:top]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for n, name in shown]
    lines.append("innermost (self):")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(6)]
    return lines


# ------------------------------------------------------------------------------------------------ main


def is_download(variant: Variant) -> bool:
    return "/download" in variant.label.split("?")[0]


def report(variants: list[Variant]) -> None:
    header = [*("page", "req", "p50 ms", "p95 ms", "max ms", "target", "result", "KB"), "cpu ms", "db cpu", "stmts"]
    header.append("sql ms")
    rows: list[Sequence[str]] = [header]
    worst: dict[bool, tuple[float, Variant]] = {}
    for v in variants:
        if not v.samples:
            continue
        p95 = percentile(v.samples, 0.95)
        odd = {code: n for code, n in v.statuses.items() if code != 200}
        result = "OK" if p95 < v.target else "MISSED"
        if odd:
            result += " HTTP " + ",".join(f"{code}x{n}" for code, n in sorted(odd.items()))
        rows.append(
            (
                v.label,
                str(len(v.samples)),
                f"{statistics.median(v.samples):.1f}",
                f"{p95:.1f}",
                f"{max(v.samples):.1f}",
                f"< {v.target:.0f}",
                result,
                f"{v.size / 1024:.0f}",
                f"{v.server_cpu_ms:.1f}" if v.server_cpu_ms is not None else "-",
                f"{v.db_cpu_ms:.1f}" if v.db_cpu_ms is not None else "-",
                f"{v.statements:.0f}" if v.statements is not None else "-",
                f"{v.sql_ms:.1f}" if v.sql_ms is not None else "-",
            )
        )
        kind = is_download(v)
        if all(code < 400 for code in v.statuses) and (kind not in worst or p95 / v.target > worst[kind][0]):
            worst[kind] = (p95 / v.target, v)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        cells = zip(row, widths, strict=True)
        print("  ".join(cell.ljust(w) if i in (0, 6) else cell.rjust(w) for i, (cell, w) in enumerate(cells)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    timings = {v.timing for v in variants if v.samples}
    source = (
        "the Server-Timing header"
        if timings == {"Server-Timing"}
        else "client-side, request sent to body read, over one keep-alive connection on localhost (the app sends no "
        "Server-Timing)"
    )
    print(f"p50/p95/max: {source}.")
    print(
        "cpu ms, db cpu: CPU time per request of the server process and of its PostgreSQL backends (/proc, while "
        "timing); stmts, sql ms: statements and their time per request, the same app in process."
    )
    for kind in sorted(worst, reverse=True):
        ratio, v = worst[kind]
        print(
            f"worst {'download (a report file, not a page)' if kind else 'page'}: {v.label} p95 "
            f"{percentile(v.samples, 0.95):.1f} ms against < {v.target:.0f} ms: {ratio:.2f}x the target "
            f"({'MISSED' if ratio >= 1 else 'OK'})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repositories", type=int, default=2_000)
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument("--vulns", type=int, default=5_000)
    parser.add_argument("--vuln-records", type=int, default=100_000, help="vuln_records rows (2 affected each)")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--database", default="regscout_bench_console")
    parser.add_argument("--only", action="append", default=[], help="time only routes starting with this path")
    parser.add_argument("--keep", action="store_true", help="keep the database and the server's home")
    args = parser.parse_args(argv)
    run_started = time.perf_counter()
    rng = random.Random(args.seed + 1)
    home = Path(tempfile.mkdtemp(prefix="bench-console-"))
    try:
        with database(args.database, args.keep) as url:
            os.environ.update(
                {
                    "REGSCOUT_HOME": str(home / "home"),
                    "REGSCOUT_DATABASE_URL": url,
                    "REGSCOUT_VULN_UPDATE_INTERVAL": "0",
                }
            )
            started = time.perf_counter()
            data = generate(args)
            data.vuln_records = args.vuln_records
            generated = time.perf_counter() - started
            from regscout.runtime import Runtime

            migrate_started = time.perf_counter()
            Runtime.from_env().db.dispose()  # migrates
            migrated = time.perf_counter() - migrate_started
            add_integrations(data, rng)
            times = {"migrate": migrated, "generate in memory": generated, **load(url, data, rng)}
            print(
                f"data: {len(data.images):,} images, {data.findings:,} findings, "
                f"{len({v for i in data.images for v in i.vulns}):,} vulnerability ids, "
                f"{len({(i.integration, i.repository) for i in data.images}):,} repositories on {len(REGISTRIES)} "
                f"registries; most frequent {data.top_vuln} in "
                f"{sum(1 for i in data.images if any(data.vulns[v].id == data.top_vuln for v in i.vulns)):,} images; "
                f"package {data.top_package}"
            )
            print("load: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items()))
            print(f"load total {sum(times.values()):.1f} s")
            server = Server(
                CliEnv(home / "home", extra={"REGSCOUT_DATABASE_URL": url, "REGSCOUT_LOG_LEVEL": "WARNING"})
            )
            try:
                password = admin_password(server.log.read_text())
                variants: list[Variant] = []
                skipped: list[str] = []
                links: set[str] = set()
                with httpx.Client(base_url=server.url, timeout=60) as client:
                    sign_in(client, password)
                    for route in console_routes():
                        if args.only and not any(route.path.startswith(prefix) for prefix in args.only):
                            continue
                        variants.extend(variants_of(route, data, client, links, skipped))
                    routes = {v.label.split("?")[0].split(" (")[0] for v in variants}
                    print(f"timing {len(variants)} variants of {len(routes)} routes")
                    load_before = os.getloadavg()[0]
                    timing_started = time.perf_counter()
                    for variant in variants:
                        measure(client, variant, args.requests, args.warmup, server.process.pid, url)
                    load_note = (
                        f"timing took {time.perf_counter() - timing_started:.0f} s; 1-minute load average "
                        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores, shared with whatever "
                        "else runs on this machine)"
                    )
            finally:
                log = server.stop()
            errors = [line for line in log.splitlines() if "Traceback" in line or " ERROR " in line]
            findings = profile(variants, password)
            for title, lines in findings:
                print(f"\nmissed: {title}")
                for line in lines[:80]:
                    print("  " + line)
                if len(lines) > 80:
                    print(f"    ... {len(lines) - 80} more lines")
            print()
            for note in skipped:
                print(f"skipped: {note}")
            if errors:
                print(f"server log: {len(errors)} error lines, e.g. {errors[0]}")
            print(load_note)
            if args.keep:
                print(f"kept: database {args.database}, server home {home}")
            print(f"run: {time.perf_counter() - run_started:.0f} s (data {sum(times.values()):.0f} s)\n")
            report(variants)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
