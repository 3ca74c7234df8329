"""Harbor's pluggable scanner API: latency under 50 concurrent scans, and a warm scan against regscout's own.

Everything is real and on this machine: Debian's docker-registry in token mode (a pull-only robot account, as
Harbor creates per scan), `regscout serve` as a subprocess with its default settings (SQLite, the local executor's
REGSCOUT_WORKERS=2 scans at once), OSV records imported with `regscout db import` (no data is downloaded:
REGSCOUT_VULN_UPDATE_INTERVAL=0), and one httpx.AsyncClient playing Harbor with the registration's key in
X-ScannerAdapter-API-Key.

1. load: --images images (default 10) share a real Debian 12 minbase rootfs as their base layer, each with one
   small layer of its own; regscout has analysed none of them. --requests Harbor scans (default 50, spread evenly
   over the images) each do what Harbor's scan job does: GET /metadata, then POST /scan (all POSTs are released
   together, so they are in flight at once), wait 2 s, then GET the report and wait Refresh-After seconds after
   each 302 until a 200. Those are Harbor's real waits (job.go firstCheckInterval, client.go); --time-scale
   shortens them (0.1 = a tenth). Every call carries Harbor's 5 s client timeout. Prints p50/p99/max
   (nearest rank: the p99 of 50 calls is the slowest) of every POST and every report GET (targets: POST p99
   < 100 ms, report GET p99 < 50 ms), then of the GETs sent while a scan job still ran (before the last job's
   finished_at), how many scans reached 200, and the server's job durations and queue waits.
2. warm: an image of step 1 (its layers are in the cache) is scanned --warm-runs times through the Harbor API,
   polling the report every 20 ms to see when it is ready (not Harbor's polling), against `regscout image REF`
   (regscout's one-command scan, a new process each time, so Python's start-up and regscout's imports are in
   it) and the same scan repeated in one warm process (the in-process cost). Medians. The server side of the Harbor path
   is read from `regscout jobs list --json` (queue wait = started_at - created_at, job = finished_at -
   started_at). The last line is the ratio (Harbor POST -> report ready) / (`regscout image REF`), target <= 2.

Run: .venv/bin/python -m bench.harbor [--images 10] [--requests 50] [--time-scale 1.0] [--warm-runs 5] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from isal import igzip
from tests.harness.accounts import Account
from tests.harness.debian import debian_rootfs_tar
from tests.harness.harbor_standin import (
    DEFAULT_REFRESH_SECONDS,
    FIRST_CHECK_SECONDS,
    MIME_METADATA,
    MIME_OCI_MANIFEST,
    MIME_SCAN_REQUEST,
    MIME_SCAN_RESPONSE,
    MIME_VULN_REPORT,
    build_scan_request,
    harbor_refresh_after,
)
from tests.harness.images import Layer, Pusher, build_image, sha256_digest, tar_layer
from tests.harness.registry import RunningRegistry, start_registry
from tests.integration.cli_support import REGSCOUT, CliEnv, Server

ROBOT = "robot$bench+scan"
ROBOT_SECRET = "robot-secret-bench-0123456789"
WRITER = ("writer", "writer-secret-bench")
HARBOR_TIMEOUT_SECONDS = 5.0  # Harbor's http.Client Timeout for every call to a scanner (client.go)
READY_POLL_SECONDS = 0.02
PROBE_SECONDS = 0.05
POST_TARGET_MS, GET_TARGET_MS, RATIO_TARGET = 100.0, 50.0, 2.0
# Source packages of Debian 12 minbase with an unfixed record each, so every report has findings to render.
VULNERABLE_SOURCES = ("dpkg", "glibc", "e2fsprogs", "util-linux", "coreutils", "bash", "tar", "shadow", "systemd")
TRIVY_NOTE = (
    "harbor-scanner-trivy: no latency or scan-duration figure found in its documentation (README: "
    "SCANNER_TRIVY_TIMEOUT 5m0s, SCANNER_JOB_QUEUE_WORKER_CONCURRENCY 1); a user report, not documentation, "
    "aquasecurity/harbor-scanner-trivy#262: haproxy-alpine (9 MB) ~15 s, a 130 MB Java image ~1 min 5 s "
    "on Harbor 2.5.1 / Trivy 0.26.0"
)
IN_PROCESS = """
import asyncio, json, sys, time
from regscout.runtime import Runtime
ref, registry, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
runtime = Runtime.from_env()
async def main():
    await runtime.scans.scan(ref, registry=registry)  # imports, TLS context, SQL statements: a worker's state
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        outcome = await runtime.scans.scan(ref, registry=registry)
        times.append(time.perf_counter() - started)
    return times, len(outcome.findings), outcome.report.stats.layers_from_cache
times, findings, cached = asyncio.run(main())
print(json.dumps({"seconds": times, "findings": findings, "layers_from_cache": cached}))
"""


@dataclass
class Calls:
    """Every call of one kind: when it was sent (wall clock, to compare with the jobs' times), its latency in
    seconds (headers and body), and its outcome (the status, or the exception's name)."""

    sent_at: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    outcome: list[str] = field(default_factory=list)

    def add(self, sent_at: float, seconds: float, outcome: str) -> None:
        self.sent_at.append(sent_at)
        self.seconds.append(seconds)
        self.outcome.append(outcome)

    def before(self, moment: float) -> Calls:
        """The calls sent before `moment`."""
        kept = Calls()
        for sent, seconds, outcome in zip(self.sent_at, self.seconds, self.outcome, strict=True):
            if sent < moment:
                kept.add(sent, seconds, outcome)
        return kept

    def summary(self) -> str:
        if not self.seconds:
            return "no calls"
        values = self.seconds
        return (
            f"p50 {percentile(values, 0.5) * 1000:.1f} ms, p99 {percentile(values, 0.99) * 1000:.1f} ms, "
            f"max {max(values) * 1000:.1f} ms over {len(values)} calls {dict(Counter(self.outcome))}"
        )


@dataclass
class Load:
    metadata: Calls = field(default_factory=Calls)
    posts: Calls = field(default_factory=Calls)
    reports: Calls = field(default_factory=Calls)
    probe: Calls = field(default_factory=Calls)  # the extra report GETs every 50 ms, to sample the scans' time
    scan_ids: list[str] = field(default_factory=list)
    ready_after: list[float] = field(default_factory=list)  # POST sent -> 200 received, per scan
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    repository: str
    tag: str
    digest: str


@dataclass
class Bench:
    """What the run set up: the registry, regscout's home and server, the Harbor key, the pushed images."""

    registry: RunningRegistry
    cli: CliEnv
    server: Server
    key: str
    targets: list[Target]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- set-up -------------------------------------------------------------------------------------------------


def seed(registry: RunningRegistry, images: int) -> list[Target]:
    """`images` images: the Debian rootfs as the shared base layer, one small layer of their own each."""
    raw = debian_rootfs_tar().read_bytes()
    data = igzip.compress(raw, compresslevel=1)
    base = Layer(
        "application/vnd.oci.image.layer.v1.tar+gzip", data, sha256_digest(data), len(data), sha256_digest(raw)
    )
    items = []
    for number in range(images):
        own = tar_layer({f"srv/app{number}/build.txt": f"app {number}\n".encode() * 64})
        items.append((f"library/app{number:02d}", "1", build_image([base, own])))
    with Pusher(registry, auth=WRITER) as pusher:
        pusher.push_many(items, workers=4)
    return [Target(repo, tag, image.digest) for repo, tag, image in items]


def osv_record(ident: str, source: str) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": "2024-06-01T00:00:00Z",
        "published": "2024-05-01T00:00:00Z",
        "summary": f"{ident} in {source}",
        "upstream": [ident.removeprefix("DEBIAN-")],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": source},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }


def import_records(cli: CliEnv) -> None:
    records = cli.home.parent / "osv"
    records.mkdir()
    for number, source in enumerate(VULNERABLE_SOURCES):
        record = osv_record(f"DEBIAN-CVE-2099-{number:04d}", source)
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    cli.run("db", "import", str(records), "--source", "fixtures")


def robot_authorization() -> str:
    return "Basic " + base64.b64encode(f"{ROBOT}:{ROBOT_SECRET}".encode()).decode()


# ---- Harbor's side ------------------------------------------------------------------------------------------


async def timed(client: httpx.AsyncClient, method: str, url: str, calls: Calls, **kwargs: Any) -> httpx.Response | None:
    """One call under Harbor's timeout; its latency (headers and body) and outcome go into `calls`."""
    sent_at, started = time.time(), time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        calls.add(sent_at, time.perf_counter() - started, type(error).__name__)
        return None
    calls.add(sent_at, time.perf_counter() - started, str(response.status_code))
    return response


def scan_body(target: Target, registry: RunningRegistry) -> bytes:
    request = build_scan_request(
        target.repository,
        target.digest,
        registry_url=registry.url,
        registry_authorization=robot_authorization(),
        tag=target.tag,
        mime_type=MIME_OCI_MANIFEST,
    )
    return json.dumps(request, separators=(",", ":")).encode()


async def harbor_scan(
    client: httpx.AsyncClient,
    base: str,
    target: Target,
    registry: RunningRegistry,
    load: Load,
    together: asyncio.Barrier,
    scale: float,
    deadline: float,
) -> None:
    """What Harbor's scan job does for one artifact: metadata, POST, wait 2 s, poll every Refresh-After."""
    await timed(client, "GET", f"{base}/metadata", load.metadata, headers={"Accept": MIME_METADATA})
    body, headers = scan_body(target, registry), {"Content-Type": MIME_SCAN_REQUEST, "Accept": MIME_SCAN_RESPONSE}
    await together.wait()  # every POST leaves at the same moment
    sent = time.perf_counter()
    response = await timed(client, "POST", f"{base}/scan", load.posts, content=body, headers=headers)
    if response is None or response.status_code != 202:
        load.failures.append(f"POST {target.repository}: {response.status_code if response else 'no answer'}")
        return
    scan_id = response.json()["id"]
    load.scan_ids.append(scan_id)
    await asyncio.sleep(FIRST_CHECK_SECONDS * scale)
    while True:
        report = await timed(
            client, "GET", f"{base}/scan/{scan_id}/report", load.reports, headers={"Accept": MIME_VULN_REPORT}
        )
        if report is not None and report.status_code == 200:
            load.ready_after.append(time.perf_counter() - sent)
            return
        if report is None or report.status_code != 302:
            detail = report.text[:200] if report is not None else "no answer"
            load.failures.append(f"report {target.repository}: {report.status_code if report else ''} {detail}")
            return
        wait = harbor_refresh_after(report.headers.get("Refresh-After"))
        if time.perf_counter() + wait * scale > deadline:
            load.failures.append(f"report {target.repository}: still 302 at the deadline")
            return
        await asyncio.sleep((wait if wait > 0 else DEFAULT_REFRESH_SECONDS) * scale)


async def probe(client: httpx.AsyncClient, base: str, load: Load, stop: asyncio.Event) -> None:
    """GET the report of the first accepted scan every 50 ms until `stop`: with Harbor's real waits the scans can
    be over before Harbor's first poll, so this samples the report endpoint while the jobs run (not Harbor's
    behaviour)."""
    while not load.scan_ids and not stop.is_set():
        await asyncio.sleep(0.005)
    while not stop.is_set():
        url = f"{base}/scan/{load.scan_ids[0]}/report"
        await timed(client, "GET", url, load.probe, headers={"Accept": MIME_VULN_REPORT})
        await asyncio.sleep(PROBE_SECONDS)


async def run_load(bench: Bench, requests: int, scale: float, limit: float) -> tuple[Load, float]:
    """`requests` Harbor scans on one client, spread evenly over the images; (what they saw, wall seconds)."""
    load = Load()
    base = f"{bench.server.url}/harbor/api/v1"
    headers = {"X-ScannerAdapter-API-Key": bench.key, "User-Agent": "Go-http-client/1.1"}
    limits = httpx.Limits(max_connections=requests * 2, max_keepalive_connections=requests * 2)
    async with httpx.AsyncClient(
        headers=headers, timeout=HARBOR_TIMEOUT_SECONDS, limits=limits, follow_redirects=False, trust_env=False
    ) as client:
        together = asyncio.Barrier(requests)
        started = time.perf_counter()
        deadline = started + limit
        targets = bench.targets
        stop = asyncio.Event()
        sampling = asyncio.create_task(probe(client, base, load, stop))
        await asyncio.gather(
            *(
                harbor_scan(client, base, targets[n % len(targets)], bench.registry, load, together, scale, deadline)
                for n in range(requests)
            )
        )
        stop.set()
        await sampling
    return load, time.perf_counter() - started


async def warm_harbor(bench: Bench, target: Target, runs: int) -> tuple[list[float], list[float]]:
    """POST, then GET the report every 20 ms until it is 200: when is it ready. (POST -> ready, POST alone), in
    seconds per run."""
    base = f"{bench.server.url}/harbor/api/v1"
    times, posts = [], []
    body = scan_body(target, bench.registry)
    async with httpx.AsyncClient(
        headers={"X-ScannerAdapter-API-Key": bench.key}, timeout=HARBOR_TIMEOUT_SECONDS, trust_env=False
    ) as client:
        await client.get(f"{base}/metadata")  # Harbor's call before each scan: the connection is open already
        for _ in range(runs):
            started = time.perf_counter()
            response = await client.post(
                f"{base}/scan", content=body, headers={"Content-Type": MIME_SCAN_REQUEST, "Accept": MIME_SCAN_RESPONSE}
            )
            posts.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise SystemExit(f"warm POST /scan answered {response.status_code}: {response.text}")
            scan_id = response.json()["id"]
            while True:
                report = await client.get(f"{base}/scan/{scan_id}/report", headers={"Accept": MIME_VULN_REPORT})
                if report.status_code == 200:
                    break
                if report.status_code != 302:
                    raise SystemExit(f"warm report answered {report.status_code}: {report.text}")
                if time.perf_counter() - started > 60:
                    raise SystemExit("warm report not ready after 60 s")
                await asyncio.sleep(READY_POLL_SECONDS)
            times.append(time.perf_counter() - started)
    return times, posts


# ---- regscout's own scan and the server's jobs --------------------------------------------------------------


def own_command(cli: CliEnv, ref: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [*REGSCOUT, "image", ref, "--registry", "own"], capture_output=True, text=True, env=cli.env(), check=False
        )
        times.append(time.perf_counter() - started)
        if result.returncode != 0 or "CVE-2099-0000" not in result.stdout:
            raise SystemExit(f"regscout image {ref} failed ({result.returncode}): {result.stderr[-2000:]}")
    return times


def own_in_process(cli: CliEnv, ref: str, runs: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, ref, "own", str(runs)],
        capture_output=True,
        text=True,
        env=cli.env(),
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the in-process scan failed: {result.stderr[-2000:]}")
    document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


def harbor_jobs(cli: CliEnv) -> list[dict[str, Any]]:
    listed = json.loads(cli.run("jobs", "list", "--json", "--limit", "1000").stdout)
    return [job for job in listed if job["trigger"] == "harbor"]


def seconds_between(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def log_findings(log: Path) -> list[str]:
    """Warnings and errors of the server's log, counted by message (numbers and ids masked)."""
    counts: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if re.search(r"\b(WARNING|ERROR|CRITICAL|Traceback)\b", line):
            counts[re.sub(r"[0-9a-f]{8,}|\d+", "N", line.split(" ", 2)[-1])[:160]] += 1
    return [f"{count}x {line}" for line, count in counts.most_common(8)]


# ---- the run ------------------------------------------------------------------------------------------------


def load_phase(bench: Bench, requests: int, scale: float, limit: float) -> None:
    timing = "Harbor's real waits" if scale == 1 else f"Harbor's waits x {scale:g}"
    print(
        f"load: {requests} Harbor scans of {len(bench.targets)} images at once, none analysed before ({timing}: "
        f"first poll {FIRST_CHECK_SECONDS * scale:g} s after the POST, then Refresh-After x {scale:g}); "
        "server defaults: 2 scan workers, SQLite"
    )
    pid = bench.server.process.pid
    cpu_before = process_cpu_seconds(pid)
    load, wall = asyncio.run(run_load(bench, requests, scale, limit))
    server_cpu = process_cpu_seconds(pid) - cpu_before
    jobs = harbor_jobs(bench.cli)
    durations = [d for d in (seconds_between(j["started_at"], j["finished_at"]) for j in jobs) if d is not None]
    waits = [w for w in (seconds_between(j["created_at"], j["started_at"]) for j in jobs) if w is not None]
    finished = [datetime.fromisoformat(j["finished_at"]).timestamp() for j in jobs if j["finished_at"]]
    last_finished = max(finished, default=time.time())
    print(f"  GET /metadata: {load.metadata.summary()}")
    print(f"  POST /scan:    {load.posts.summary()} (target p99 < {POST_TARGET_MS:g} ms)")
    print(f"  GET report:    {load.reports.summary()} (target p99 < {GET_TARGET_MS:g} ms)")
    print(f"    of them sent while a scan job still ran: {load.reports.before(last_finished).summary()}")
    print(
        f"  GET report every {PROBE_SECONDS * 1000:g} ms on the same client while the jobs ran (a probe, not "
        f"Harbor's polling): {load.probe.before(last_finished).summary()}"
    )
    if load.ready_after:
        print(
            f"  {len(load.ready_after)} of {requests} scans reached 200 in {wall:.1f} s; POST -> 200 p50 "
            f"{percentile(load.ready_after, 0.5):.1f} s, max {max(load.ready_after):.1f} s; server CPU "
            f"{server_cpu:.1f} s on {os.cpu_count()} cores"
        )
    else:
        print(f"  0 of {requests} scans reached 200 in {wall:.1f} s")
    for failure in load.failures[:5]:
        print(f"  failed: {failure}")
    if durations and waits:
        print(
            f"  server: {len(jobs)} jobs for the {requests} requests {dict(Counter(j['state'] for j in jobs))}; "
            f"job duration p50 {percentile(durations, 0.5):.2f} s, max {max(durations):.2f} s; "
            f"queue wait p50 {percentile(waits, 0.5):.2f} s, max {max(waits):.2f} s"
        )


def warm_phase(bench: Bench, runs: int) -> tuple[float, float]:
    """(Harbor POST -> ready, `regscout image REF`) medians in seconds."""
    target = bench.targets[0]
    ref = f"{bench.registry.host}/{target.repository}@{target.digest}"
    harbor_times, post_times = asyncio.run(warm_harbor(bench, target, runs))
    warm_jobs = [j for j in harbor_jobs(bench.cli) if j["repository"] == target.repository][:runs]  # newest first
    job_times = [d for d in (seconds_between(j["started_at"], j["finished_at"]) for j in warm_jobs) if d is not None]
    queue_times = [w for w in (seconds_between(j["created_at"], j["started_at"]) for j in warm_jobs) if w is not None]
    command_times = own_command(bench.cli, ref, runs)
    in_process = own_in_process(bench.cli, ref, runs)
    harbor_median, command_median = statistics.median(harbor_times), statistics.median(command_times)
    in_process_median = statistics.median(in_process["seconds"])
    print(f"warm: {ref} (its layers cached by the load), medians of {runs} runs")
    print(
        f"  Harbor API, POST -> report ready (polled every {READY_POLL_SECONDS * 1000:g} ms): {harbor_median:.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in harbor_times)})"
    )
    print(f"    of it POST /scan: {statistics.median(post_times):.3f} s")
    if job_times and queue_times:
        print(
            f"    server side: queue wait {statistics.median(queue_times):.3f} s, "
            f"job {statistics.median(job_times):.3f} s (regscout jobs list --json)"
        )
    print(
        f"  regscout image REF (a new process: start-up and imports included): {command_median:.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in command_times)})"
    )
    print(
        f"  the same scan in a warm process (runtime.scans.scan): {in_process_median:.3f} s "
        f"({in_process['findings']} findings, {in_process['layers_from_cache']} layers from cache)"
    )
    print(f"  ratio (Harbor POST -> ready) / (the in-process scan): {harbor_median / in_process_median:.2f}x")
    return harbor_median, command_median


REDIS_BROKER = "redis://127.0.0.1:6379/11"
bench_worker: list[subprocess.Popen[bytes]] = []


def start_worker(cli: CliEnv) -> subprocess.Popen[bytes]:
    """`regscout worker` in a process of its own (the Celery executor with Redis): the scans' CPU work then shares
    no interpreter, and no GIL, with the server answering Harbor."""
    log = (cli.home.parent / "worker.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "regscout", "worker", "-c", "2"], env=cli.env(), stdout=log, stderr=subprocess.STDOUT
    )


def set_up(workdir: Path, images: int, workers_apart: bool = False) -> Bench:
    accounts = {
        WRITER[0]: Account(WRITER[1], frozenset({"pull", "push"})),
        ROBOT: Account(ROBOT_SECRET, frozenset({"pull"}), catalog=False, repositories=("library/*",)),
    }
    registry = start_registry("token", workdir / "registry", accounts=accounts)
    try:
        started = time.perf_counter()
        targets = seed(registry, images)
        print(
            f"pushed {len(targets)} images (Debian 12 minbase base layer + 1 own layer each) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        extra = {"REGSCOUT_EXECUTOR": "celery", "REGSCOUT_BROKER_URL": REDIS_BROKER} if workers_apart else {}
        cli = CliEnv(workdir / "home", extra=extra)
        import_records(cli)
        server = Server(cli)
        if workers_apart:
            bench_worker.append(start_worker(cli))
    except BaseException:
        registry.stop()
        raise
    bench = Bench(registry, cli, server, "", targets)
    added = cli.run("harbor", "add", "bench", "--registry-host", registry.host, "--json")
    bench.key = str(json.loads(added.stdout)["key"])
    cli.run(
        "registry", "add", "--name", "own", "--type", "docker-registry", "--url", registry.url,
        "--username", WRITER[0], "--password-stdin", stdin=WRITER[1] + "\n",
    )  # fmt: skip
    return bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10, help="images sharing the Debian base layer")
    parser.add_argument("--requests", type=int, default=50, help="Harbor scans at once, spread over the images")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="factor on Harbor's waits (2 s, then Refresh-After); 1 = real"
    )
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--load-limit", type=float, default=150.0, help="seconds the load phase may take")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server log, database)")
    parser.add_argument(
        "--workers-apart",
        action="store_true",
        help="run the scans in a `regscout worker` process (Celery with Redis on 127.0.0.1) instead of inside serve",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="regscout-bench-harbor-"))
    bench: Bench | None = None
    try:
        bench = set_up(workdir, args.images, args.workers_apart)
        load_phase(bench, args.requests, args.time_scale, args.load_limit)
        harbor_median, command_median = warm_phase(bench, args.warm_runs)
        findings = log_findings(bench.server.log)
        for finding in findings:
            print(f"server log: {finding}")
        if not findings:
            print("server log: no warnings or errors")
        print(TRIVY_NOTE)
        print(
            f"ratio (Harbor POST -> ready) / (regscout image REF), warm image: {harbor_median / command_median:.2f}x "
            f"(target <= {RATIO_TARGET:g}x)",
            flush=True,
        )
    finally:
        if bench is not None:
            if bench.server.process.poll() is None:
                bench.server.stop()
            bench.registry.stop()
        for worker in bench_worker:
            worker.terminate()
            worker.wait(timeout=30)
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
