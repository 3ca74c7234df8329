"""Scan throughput: the local executor against Celery, on the same images in one run.

200 small images (one distinct layer each) and 20 images built on the same Debian 12 base (the Debian minbase
layer, shared, plus one small distinct layer each) are pushed to Debian's docker-registry (htpasswd auth). Each
executor then scans all of them, as a user would run it:

1. local: a fresh REGSCOUT_HOME with SQLite; `regscout registry add`, `regscout serve` (the embedded executor,
   REGSCOUT_WORKERS scans at once), then `regscout registry sync`, which queues every image.
2. celery: a fresh PostgreSQL database (dropped afterwards) and a Redis broker; `regscout registry add`, two
   `regscout worker` processes, then `regscout registry sync`, which queues every image and sends the wake-ups.

For each: images per minute from the moment the jobs were queued to the moment the last one ended (both read from
the jobs table), every job's state (any failure is reported loudly and makes the exit code 1), and the layer
bytes fetched (sum of the jobs' bytes_fetched) as a fraction of the total layer bytes of all images, where the
shared Debian layer counts once per image that has it. Fetching each distinct layer exactly once is the ideal.
The vulnerability database stays empty: this measures pull and analysis, not matching.

Run: .venv/bin/python -m bench.throughput [--small 200] [--debian 20] [--local-workers 2]
     [--celery-processes 2] [--celery-concurrency 1] [--only local|celery]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from tests.harness.debian import debian_rootfs_tar
from tests.harness.images import Image, Layer, Pusher, TarEntry, build_image, sha256_digest, tar_layer
from tests.harness.registry import RunningRegistry, start_registry

from regscout.store.db import Database
from regscout.store.jobs_models import ScanJob

REGSCOUT = [sys.executable, "-m", "regscout"]
INTEGRATION = "bench"
DEBIAN_REPO = "bench/debian-app"
PASSWORD_ENV = "BENCH_REGISTRY_PASSWORD"
POSTGRES_ADMIN = os.environ.get("REGSCOUT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER = os.environ.get("REGSCOUT_BENCH_BROKER", "redis://127.0.0.1:6379/14")
JOBS_TIMEOUT = 1800.0  # seconds for all jobs of one run to end; a stuck run fails instead of hanging


# ------------------------------------------------------------------------------------------------ images


@dataclass(frozen=True)
class Workload:
    items: list[tuple[str, str, Image]]
    debian: Layer

    @property
    def total_layer_bytes(self) -> int:
        """Every image's layers, a shared layer counted once per image that has it."""
        return sum(layer.size for _, _, image in self.items for layer in image.layers)

    @property
    def distinct_layer_bytes(self) -> int:
        """What a scanner that fetches each distinct layer once has to fetch."""
        sizes = {layer.digest: layer.size for _, _, image in self.items for layer in image.layers}
        return sum(sizes.values())


def gzip_layer(raw_tar: Path) -> Layer:
    raw = raw_tar.read_bytes()
    data = gzip.compress(raw, compresslevel=6, mtime=0)  # what image builders write (Go default level)
    return Layer(
        "application/vnd.oci.image.layer.v1.tar+gzip", data, sha256_digest(data), len(data), sha256_digest(raw)
    )


def small_layer(seed: str) -> Layer:
    """A small application layer of its own: an os-release, a Python requirements file and 16 KiB of data."""
    rng = random.Random(seed)
    requirements = "".join(f"{name}=={rng.randint(1, 9)}.{rng.randint(0, 20)}.0\n" for name in ("flask", "requests"))
    return tar_layer(
        {
            "etc": TarEntry.dir(),
            "etc/os-release": b'ID=regscout-bench\nVERSION_ID="1.0"\nPRETTY_NAME="regscout bench"\n',
            "opt": TarEntry.dir(),
            "opt/app": TarEntry.dir(),
            "opt/app/requirements.txt": requirements.encode(),
            "opt/app/main.py": f"print({seed!r})\n".encode(),
            "opt/app/data.bin": rng.randbytes(16 * 1024),
        }
    )


def app_layer(seed: str) -> Layer:
    """The small distinct layer on top of the Debian base."""
    return tar_layer(
        {
            "opt": TarEntry.dir(),
            "opt/app": TarEntry.dir(),
            "opt/app/requirements.txt": b"flask==3.0.0\n",
            "opt/app/main.py": f"print({seed!r})\n".encode(),
        }
    )


def workload(small: int, debian_images: int) -> Workload:
    debian = gzip_layer(debian_rootfs_tar())
    items: list[tuple[str, str, Image]] = []
    for i in range(small):
        seed = f"small-{i}"
        items.append((f"bench/small-{i // 10:02d}", f"v{i % 10}", build_image([small_layer(seed)])))
    for i in range(debian_images):
        items.append((DEBIAN_REPO, f"v{i:02d}", build_image([debian, app_layer(f"debian-{i}")])))
    return Workload(items, debian)


# ------------------------------------------------------------------------------------------------ processes


@dataclass
class Env:
    """The environment of the regscout commands of one run."""

    home: Path
    extra: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGSCOUT_")}
        env.update(
            {
                "REGSCOUT_HOME": str(self.home),
                "REGSCOUT_LOG_LEVEL": "INFO",
                "REGSCOUT_VULN_UPDATE_INTERVAL": "0",  # no vulnerability downloads: pull + analysis only
                "REGSCOUT_JOB_POLL_SECONDS": "0.2",
                "COLUMNS": "200",
                "NO_COLOR": "1",
            }
        )
        env.update(self.extra)
        return env

    def run(self, *args: str) -> str:
        result = subprocess.run([*REGSCOUT, *args], capture_output=True, text=True, env=self.env(), timeout=600)
        if result.returncode != 0:
            raise SystemExit(
                f"regscout {' '.join(args)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def spawn(self, log: Path, *args: str) -> Process:
        handle = log.open("w")
        process = subprocess.Popen(
            [*REGSCOUT, *args], env=self.env(), stdout=handle, stderr=subprocess.STDOUT, text=True
        )
        return Process(process, log, handle)


@dataclass
class Process:
    process: subprocess.Popen[str]
    log: Path
    handle: Any

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"{self.process.args} exited with {self.process.returncode}:\n{self.tail()}")

    def problems(self) -> list[str]:
        """Lines of its log that report errors or warnings."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if " ERROR " in line or " WARNING " in line or "Traceback" in line]

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM to this process (by its pid), then SIGKILL if it does not end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.handle.close()


def wait_until(condition: Callable[[], bool], seconds: float, what: str, interval: float = 0.1) -> None:
    """Poll a condition of another process until it holds; what is awaited is the condition, not the time."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(interval)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU that regscout's scanning processes and the registry used between start() and stop()."""

    regscout: list[int]
    registry: int
    before: tuple[float, float] = (0.0, 0.0)
    used: tuple[float, float] = (0.0, 0.0)
    load: float = 0.0

    def _read(self) -> tuple[float, float]:
        return sum(process_cpu_seconds(pid) for pid in self.regscout), process_cpu_seconds(self.registry)

    def start(self) -> None:
        self.load = os.getloadavg()[0]
        self.before = self._read()

    def stop(self) -> None:
        after = self._read()
        self.used = (after[0] - self.before[0], after[1] - self.before[1])


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_integration(env: Env, registry: RunningRegistry) -> None:
    user, password = registry.admin_auth() or ("", "")
    env.extra[PASSWORD_ENV] = password
    env.run(
        "registry", "add", "--name", INTEGRATION, "--type", "docker-registry", "--url", registry.url,
        "--username", user, "--password-env", PASSWORD_ENV,
    )  # fmt: skip


def sync(env: Env, expected: int) -> float:
    """`regscout registry sync`: list the registry and queue every image; returns the command's wall time."""
    started = time.perf_counter()
    outcome = json.loads(env.run("registry", "sync", INTEGRATION, "--json"))
    elapsed = time.perf_counter() - started
    if outcome["queued"] != expected:
        raise SystemExit(f"the sync queued {outcome['queued']} images, expected {expected}: {outcome}")
    return elapsed


# ------------------------------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class RunResult:
    label: str
    images: int
    seconds: float
    states: Counter[str]
    failures: Counter[str]
    retried: int
    bytes_fetched: int
    debian_fetches: int
    sync_seconds: float
    first_start: float  # seconds from queueing to the first job's start
    cpu: CpuMeter
    log_problems: list[str]
    median_scan: dict[str, float]  # kind of image -> median seconds from a job's start to its end

    @property
    def per_minute(self) -> float:
        return self.images / self.seconds * 60


def wait_for_jobs(db: Database, expected: int, processes: list[Process]) -> None:
    def ended() -> bool:
        for process in processes:
            process.check_alive()
        with db.session() as session:
            states = session.execute(select(ScanJob.state)).scalars().all()
        return len(states) == expected and all(state in ("succeeded", "failed", "cancelled") for state in states)

    wait_until(ended, JOBS_TIMEOUT, f"{expected} jobs to end", interval=0.2)


def measure(label: str, db: Database, sync_seconds: float, cpu: CpuMeter, processes: list[Process]) -> RunResult:
    with db.session() as session:
        rows = session.execute(
            select(
                ScanJob.repository, ScanJob.state, ScanJob.reason, ScanJob.attempts, ScanJob.created_at,
                ScanJob.started_at, ScanJob.finished_at, ScanJob.bytes_fetched, ScanJob.summary,
            )
        ).all()  # fmt: skip
    queued_at = min(row.created_at for row in rows)
    last = max(row.finished_at for row in rows if row.finished_at is not None)
    debian_fetches = 0
    for row in rows:
        if row.repository == DEBIAN_REPO and row.summary:
            # Its own app layer is always fetched (distinct); anything more is the shared Debian layer.
            debian_fetches += int(row.summary.get("layers_fetched", 0)) - 1
    scans: dict[str, list[float]] = {"small": [], "Debian": []}
    for row in rows:
        if row.started_at is not None and row.finished_at is not None:
            kind = "Debian" if row.repository == DEBIAN_REPO else "small"
            scans[kind].append((row.finished_at - row.started_at).total_seconds())
    return RunResult(
        label=label,
        images=len(rows),
        seconds=(last - queued_at).total_seconds(),
        states=Counter(row.state for row in rows),
        failures=Counter(str(row.reason) for row in rows if row.state != "succeeded"),
        retried=sum(1 for row in rows if row.attempts > 1),
        bytes_fetched=sum(row.bytes_fetched for row in rows),
        debian_fetches=debian_fetches,
        sync_seconds=sync_seconds,
        first_start=(min(row.started_at for row in rows if row.started_at) - queued_at).total_seconds(),
        median_scan={kind: statistics.median(values) for kind, values in scans.items() if values},
        cpu=cpu,
        log_problems=[line for process in processes for line in process.problems()],
    )


# ------------------------------------------------------------------------------------------------ the runs


def run_local(registry: RunningRegistry, work: Workload, workdir: Path, workers: int) -> RunResult:
    home = workdir / "local-home"
    env = Env(home, {"REGSCOUT_WORKERS": str(workers)})
    add_integration(env, registry)
    port = free_port()
    server = env.spawn(workdir / "local-serve.log", "serve", "--port", str(port))
    db = Database(f"sqlite:///{home / 'regscout.db'}")
    try:

        def ready() -> bool:
            server.check_alive()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 60, "regscout serve to answer")
        cpu = CpuMeter([server.process.pid], registry.process_id)
        cpu.start()
        sync_seconds = sync(env, len(work.items))
        wait_for_jobs(db, len(work.items), [server])
        cpu.stop()
        return measure(f"local ({workers} workers)", db, sync_seconds, cpu, [server])
    finally:
        db.dispose()
        server.stop()


@contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = "regscout_bench_" + secrets.token_hex(4)
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_queue(broker: str, queue: str) -> None:
    """Remove the run's queue and, on Redis, kombu's binding sets for it (wake-ups left over are useless)."""
    if broker.startswith("redis"):
        import redis

        try:
            client = redis.Redis.from_url(broker, socket_connect_timeout=3)
            for key in list(client.scan_iter(match=f"*{queue}*")):  # the queue, its bindings, priority lists
                client.delete(key)
            client.close()
        except redis.RedisError as error:  # cleanup only: leftover keys of a unique queue harm nothing
            print(f"(could not delete the broker queue {queue}: {error})", file=sys.stderr)
        return
    from kombu import Connection
    from kombu.exceptions import KombuError

    connection = Connection(broker, connect_timeout=3)
    errors = (*connection.connection_errors, *connection.channel_errors, KombuError, OSError)
    try:
        with connection:
            connection.default_channel.queue_delete(queue)
    except errors as error:  # cleanup only: a leftover empty queue harms nothing
        print(f"(could not delete the broker queue {queue}: {error})", file=sys.stderr)


def celery_unavailable() -> str | None:
    """Why the Celery executor cannot run here, or None."""
    result = subprocess.run([*REGSCOUT, "worker", "--help"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return f"`regscout worker --help` exited with {result.returncode}: {result.stderr.strip()[-300:]}"
    return None


def run_celery(registry: RunningRegistry, work: Workload, workdir: Path, processes: int, concurrency: int) -> RunResult:
    queue = "regscout-bench-" + secrets.token_hex(4)
    with postgres_database() as db_url:
        env = Env(
            workdir / "celery-home",
            {
                "REGSCOUT_DATABASE_URL": db_url,
                "REGSCOUT_EXECUTOR": "celery",
                "REGSCOUT_BROKER_URL": BROKER,
                "REGSCOUT_CELERY_QUEUE": queue,
                "REGSCOUT_WORKERS": str(concurrency),
            },
        )
        add_integration(env, registry)  # also migrates the database before the workers start
        workers: list[Process] = []
        db = Database(db_url)
        try:
            for index in range(processes):
                workers.append(env.spawn(workdir / f"celery-worker-{index}.log", "worker"))
            for worker in workers:

                def ready(worker: Process = worker) -> bool:
                    worker.check_alive()
                    return " ready." in worker.log.read_text(errors="replace")

                wait_until(ready, 60, f"regscout worker to be ready (log {worker.log})")
            cpu = CpuMeter([worker.process.pid for worker in workers], registry.process_id)
            cpu.start()
            sync_seconds = sync(env, len(work.items))
            wait_for_jobs(db, len(work.items), workers)
            cpu.stop()
            broker = BROKER.split("://", 1)[0]
            label = f"celery ({processes} workers × {concurrency} scan, {broker})"
            return measure(label, db, sync_seconds, cpu, workers)
        finally:
            db.dispose()
            for worker in workers:
                worker.stop()
            delete_queue(BROKER, queue)


# ------------------------------------------------------------------------------------------------ output


def report(result: RunResult, work: Workload) -> str:
    total, distinct = work.total_layer_bytes, work.distinct_layer_bytes
    once = "yes" if result.bytes_fetched == distinct else "no"
    line = (
        f"{result.label}: {result.images} images in {result.seconds:.1f} s = {result.per_minute:.0f} images/min; "
        f"layer bytes fetched {result.bytes_fetched / total:.3f} of {total / 1e9:.2f} GB "
        f"(ideal {distinct / total:.3f}; shared layers fetched once: {once}, Debian layer fetched "
        f"{result.debian_fetches} times); sync command {result.sync_seconds:.1f} s"
    )
    states = ", ".join(f"{count} {state}" for state, count in sorted(result.states.items()))
    line += f"\n  jobs: {states}; {result.retried} needed more than one attempt"
    medians = ", ".join(f"{kind} {seconds * 1000:.0f} ms" for kind, seconds in result.median_scan.items())
    line += f"\n  median scan time per image: {medians}; first job started {result.first_start:.2f} s after queueing"
    scanners, served = (seconds / result.images * 1000 for seconds in result.cpu.used)
    line += (
        f"\n  CPU per image: regscout scanning processes {scanners:.0f} ms, registry {served:.0f} ms "
        f"(sync command and database server not counted); load average {result.cpu.load:.1f} on "
        f"{os.cpu_count()} cores when the run began"
    )
    if result.log_problems:
        line += f"\n  !!! {len(result.log_problems)} error/warning lines in the logs of the scanning processes, e.g.:"
        line += "".join(f"\n  !!!   {problem[:300]}" for problem in result.log_problems[:5])
    if result.states.get("succeeded", 0) != result.images:
        line += "\n  !!! NOT EVERY JOB SUCCEEDED — the figures above include failed scans !!!"
        for reason, count in result.failures.most_common():
            line += f"\n  !!! {count} × {reason}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=200, help="small images, one distinct layer each")
    parser.add_argument("--debian", type=int, default=20, help="images on the shared Debian base")
    parser.add_argument("--local-workers", type=int, default=2, help="REGSCOUT_WORKERS of regscout serve")
    parser.add_argument("--celery-processes", type=int, default=2, help="regscout worker processes")
    parser.add_argument("--celery-concurrency", type=int, default=1, help="scans at once per worker process")
    parser.add_argument("--only", choices=("local", "celery"))
    args = parser.parse_args()
    started = time.perf_counter()
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="regscout-bench-") as tmp:
        workdir = Path(tmp)
        registry = start_registry("htpasswd", workdir / "registry")
        try:
            work = workload(args.small, args.debian)
            pushing = time.perf_counter()
            with Pusher(registry) as pusher:
                pusher.push_many(work.items, workers=8)
            print(
                f"pushed {len(work.items)} images ({args.small} small, {args.debian} on the Debian base of "
                f"{work.debian.size / 1e6:.1f} MB) in {time.perf_counter() - pushing:.1f} s; layer bytes "
                f"{work.total_layer_bytes / 1e9:.2f} GB in all, {work.distinct_layer_bytes / 1e6:.1f} MB distinct"
            )
            print("vulnerability data: none loaded (this measures pull + analysis; matching has nothing to match)")
            if args.only != "celery":
                results.append(run_local(registry, work, workdir, args.local_workers))
                print(report(results[-1], work), flush=True)
            if args.only != "local":
                why = celery_unavailable()
                if why is None:
                    results.append(run_celery(registry, work, workdir, args.celery_processes, args.celery_concurrency))
                    print(report(results[-1], work), flush=True)
                else:
                    print(f"celery: not measured (executor not available: {why})")
        finally:
            registry.stop()
    failed = [r for r in results if r.states.get("succeeded", 0) != r.images]
    figures = "; ".join(
        f"{r.label.split(' ')[0]} {r.per_minute:.0f} images/min, fetched {r.bytes_fetched / work.total_layer_bytes:.3f}"
        for r in results
    )
    if len(results) == 2:
        figures += f"; celery/local {results[1].per_minute / results[0].per_minute:.2f}x"
    verdict = f"FAILED JOBS in {', '.join(r.label for r in failed)}" if failed else "all jobs succeeded"
    print(
        f"throughput: {figures} (ideal fraction {work.distinct_layer_bytes / work.total_layer_bytes:.3f}); "
        f"{verdict}; benchmark took {time.perf_counter() - started:.0f} s"
    )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
