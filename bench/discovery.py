"""Registry enumeration: regscout against skopeo on the same real registry, in one run.

200 repositories × 10 tags are pushed to Debian's docker-registry (token auth, a pull-only
account). regscout lists every repository and tag with digest and created time; skopeo does the
same (`skopeo list-tags`, then `skopeo inspect` per tag) over a subset of the same tags. Prints
seconds per tag for both, regscout's HTTP requests per tag, and the ratio on the last line.

Run: .venv/bin/python -m bench.discovery [--repos 200] [--tags 10] [--skopeo-repos 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry

from regscout.registries.auth import Credentials
from regscout.registries.base import RegistryConfig
from regscout.registries.generic import GenericRegistry
from regscout.secrets import Secret


def seed(registry: RunningRegistry, repos: int, tags: int) -> list[tuple[str, str]]:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    items = []
    for r in range(repos):
        for t in range(tags):
            created = base + timedelta(hours=r * tags + t)
            items.append((f"bench/app{r:03d}", f"v{t}", small_image(f"{r}-{t}", created=created)))
    with Pusher(registry) as pusher:
        pusher.push_many(items, workers=16)
    return [(repo, tag) for repo, tag, _ in items]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def regscout_listing(registry: RunningRegistry) -> tuple[float, int, int]:
    account = registry.accounts["reader"]
    config = RegistryConfig("docker-registry", registry.url, Credentials("reader", Secret(account.password)))
    started = time.perf_counter()
    async with GenericRegistry(config) as adapter:
        listings = await adapter.browse(with_tags=True)
        requests = adapter.client.stats.requests
    elapsed = time.perf_counter() - started
    tags = [t for listing in listings for t in listing.tags or []]
    complete = [t for t in tags if t.digest and t.created and not t.error]
    if len(complete) != len(tags):
        raise SystemExit(f"regscout listed {len(tags)} tags but only {len(complete)} with digest and created")
    return elapsed, len(tags), requests


def skopeo_listing(registry: RunningRegistry, repos: list[str]) -> tuple[float, int]:
    account = registry.accounts["reader"]
    common = ["--tls-verify=false", "--creds", f"reader:{account.password}"]
    started = time.perf_counter()
    count = 0
    for repo in repos:
        out = subprocess.run(
            ["skopeo", "list-tags", *common, f"docker://{registry.host}/{repo}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for tag in json.loads(out)["Tags"]:
            info = json.loads(
                subprocess.run(
                    ["skopeo", "inspect", *common, f"docker://{registry.host}/{repo}:{tag}"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            if not info.get("Digest") or not info.get("Created"):
                raise SystemExit(f"skopeo gave no digest or created for {repo}:{tag}")
            count += 1
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--skopeo-repos", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="regscout-bench-") as workdir:
        registry = start_registry("token", Path(workdir))
        try:
            started = time.perf_counter()
            pushed = seed(registry, args.repos, args.tags)
            print(f"pushed {len(pushed)} tags in {time.perf_counter() - started:.1f} s")
            registry_pid = registry.process_id
            registry_cpu_before, client_cpu_before = process_cpu_seconds(registry_pid), time.process_time()
            ours, our_tags, requests = asyncio.run(regscout_listing(registry))
            client_cpu = time.process_time() - client_cpu_before
            registry_cpu = process_cpu_seconds(registry_pid) - registry_cpu_before
            subset = sorted({repo for repo, _ in pushed})[: args.skopeo_repos]
            theirs, their_tags = skopeo_listing(registry, subset)
        finally:
            registry.stop()
    ours_per_tag, theirs_per_tag = ours / our_tags, theirs / their_tags
    print(
        f"regscout: {our_tags} tags in {ours:.2f} s = {ours_per_tag * 1000:.2f} ms/tag, "
        f"{requests / our_tags:.2f} HTTP requests/tag (token requests included)"
    )
    print(
        f"CPU during the regscout listing: regscout {client_cpu / our_tags * 1000:.2f} ms/tag "
        f"(token issuer thread included), registry {registry_cpu / our_tags * 1000:.2f} ms/tag, "
        f"on {os.cpu_count()} cores"
    )
    print(f"skopeo:   {their_tags} tags in {theirs:.2f} s = {theirs_per_tag * 1000:.2f} ms/tag")
    print(f"ratio (skopeo time per tag / regscout time per tag): {theirs_per_tag / ours_per_tag:.1f}x")


if __name__ == "__main__":
    main()
