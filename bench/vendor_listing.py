"""Vendor registry listing: regscout's six vendor adapters against skopeo on the same real registry, in one run.

By default 1,000 tags (10 repositories bench/app000… × 100 tags, one distinct small image per tag, so no digest
repeats) are pushed to Debian's docker-registry (token auth). Each vendor API is the test harness's stand-in
(tests/harness/vendors), filled with the same repositories, tags, digests and push times; every /v2/ request goes
to the real registry. For each type (harbor, gitlab, artifactory, nexus, quay, ghcr) a fresh adapter, built as the
type's integration test builds it, lists every repository and tag with digest and created or push time
(`adapter.browse(with_tags=True)`): once untimed (warm-up: imports, the fakes' first connections, the registry's
caches), then once timed. The stand-ins answer with TCP_NODELAY, as Go's and nginx's servers do (see main).

The timed run's requests are counted: vendor-API requests from what the fake recorded, by kind, the tag pages
against the minimum of one per 100 tags of each repository; /v2/ requests from the registry's access log; token
requests from the adapter's client (their sum must be the client's own request count). skopeo then lists a subset
of the same tags (`skopeo list-tags` per repository, `skopeo inspect` per tag).

Prints one line per type: tags, seconds, ms/tag, vendor-API requests per 100 tags, /v2/ requests per tag and the
ratio skopeo time per tag / regscout time per tag; a type above its request targets says OVER, with the numbers.
The last line is the worst of those ratios. A tag without a digest, without a created or push time, with an error
or with another digest than was pushed stops the run.

Run: .venv/bin/python -m bench.vendor_listing [--tags 1000] [--skopeo-tags 50]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import re
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.harness.accounts import Account
from tests.harness.images import Image, Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.github_api import GitHubAPI, GitHubToken
from tests.harness.vendors.gitlab_api import REPORTER, GitLabAPI, GitLabToken
from tests.harness.vendors.nexus_api import NexusAPI, NexusUser

from regscout.registries.artifactory import ArtifactoryRegistry
from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryAdapter, RegistryConfig
from regscout.registries.ghcr import GhcrRegistry
from regscout.registries.gitlab import GitLabRegistry
from regscout.registries.harbor import HarborRegistry
from regscout.registries.nexus import NexusRegistry
from regscout.registries.quay import OAUTH_USERNAME, QuayRegistry
from regscout.secrets import Secret

# Imported at run time, unseen by mypy: under the project's strict settings these three stand-ins have type
# errors of their own (harbor_api.py:241, artifactory_api.py:383, quay_api.py:454), which a plain import would
# report against this file. The other three are imported normally.
harbor_api: Any = importlib.import_module("tests.harness.vendors.harbor_api")
artifactory_api: Any = importlib.import_module("tests.harness.vendors.artifactory_api")
quay_api: Any = importlib.import_module("tests.harness.vendors.quay_api")

NAMESPACE = "bench"  # Harbor project, GitLab group, Artifactory repository key, Quay organisation, GitHub owner
NEXUS_REPOSITORY = "bench-hosted"
TAGS_PER_REPOSITORY = 100
PAGE = 100  # the vendor APIs' page size: the target is one request per page of tags
BASE = datetime(2025, 1, 1, tzinfo=UTC)
V2_REQUEST = re.compile(r'"(?:GET|HEAD|POST|PUT|PATCH|DELETE) /v2/')

# One pull-only registry account per type (the registry's token service stands in for each vendor's), the
# same secret on the vendor API; "pusher" seeds the images, "skopeo" reads them.
HARBOR = ("harbor-reader", "harbor-reader-pw")
GITLAB = ("gitlab-reader", "glpat-bench-reader-0123456789")
ARTIFACTORY = ("art-reader", "art-reader-pw")
NEXUS = ("nexus-reader", "nexus-reader-pw")
QUAY = (OAUTH_USERNAME, "quay-bench-oauth-0123456789abcdef")
GHCR = ("gh-reader", "ghp_benchreader000000000000000000000000")
SKOPEO = ("skopeo", "skopeo-pw")
PUSHER = ("pusher", "pusher-pw")


@dataclass(frozen=True)
class Pushed:
    repository: str  # bench/app000
    tag: str
    image: Image
    pushed: datetime  # what the vendor API reports; the image config's created is an hour earlier

    @property
    def name(self) -> str:
        """The repository without the namespace (Harbor repository, Artifactory image, Quay/GitHub package)."""
        return self.repository.split("/", 1)[1]


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], RegistryAdapter]
    paths: Callable[[], list[str]]  # every request path the fake has recorded, in order
    kind: Callable[[str], str]  # what a recorded request asked for
    tag_kind: str  # the kind that pages through tags
    v2_expected: int  # the most /v2/ requests the listing should need
    page: int = PAGE  # the most tags the API gives per page


@dataclass(frozen=True)
class Result:
    name: str
    tags: int
    seconds: float
    vendor: Counter[str]
    tag_kind: str
    tag_pages_minimum: int
    page: int
    v2: int
    v2_expected: int
    tokens: int
    client_requests: int

    @property
    def ms_per_tag(self) -> float:
        return self.seconds / self.tags * 1000

    @property
    def vendor_total(self) -> int:
        return sum(self.vendor.values())


def iso(moment: datetime, *, millis: bool = False) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".000Z" if millis else "Z")


def accounts() -> dict[str, Account]:
    readers = {user: Account(secret) for user, secret in (HARBOR, GITLAB, ARTIFACTORY, NEXUS, QUAY, GHCR, SKOPEO)}
    return {**readers, PUSHER[0]: Account(PUSHER[1], frozenset({"*"}))}


def seed(registry: RunningRegistry, tags: int) -> list[Pushed]:
    items = []
    for n in range(tags):
        repository = f"{NAMESPACE}/app{n // TAGS_PER_REPOSITORY:03d}"
        tag = f"v{n % TAGS_PER_REPOSITORY:03d}"
        created = BASE + timedelta(minutes=n)
        items.append(
            Pushed(repository, tag, small_image(f"{repository}:{tag}", created=created), created + timedelta(hours=1))
        )
    with Pusher(registry, auth=PUSHER) as pusher:
        pusher.push_many(((p.repository, p.tag, p.image) for p in items), workers=16)
    return items


def repositories(pushed: list[Pushed]) -> dict[str, int]:
    return dict(Counter(p.repository for p in pushed))


def tag_pages_minimum(pushed: list[Pushed], page: int = PAGE) -> int:
    return sum(math.ceil(count / page) for count in repositories(pushed).values())


def credentials(account: tuple[str, str]) -> Credentials:
    return Credentials(account[0], Secret(account[1]))


# ---- the six worlds: a fake API holding what was pushed, and the adapter as its integration test makes it ----


def harbor_case(stack: ExitStack, registry: RunningRegistry, pushed: list[Pushed]) -> Case:
    users = {HARBOR[0]: harbor_api.HarborUser(HARBOR[1], {NAMESPACE: 5})}  # role 5: Limited Guest
    api = stack.enter_context(harbor_api.HarborAPI(users))
    api.add_project(NAMESPACE)
    for p in pushed:
        api.add_artifact(p.repository, p.image, {p.tag: iso(p.pushed)}, iso(p.pushed))

    def make() -> RegistryAdapter:
        options = {"api_url": api.api_url}
        return HarborRegistry(RegistryConfig("harbor", registry.url, credentials(HARBOR), TlsSettings(), options))

    def kind(path: str) -> str:
        return path.rsplit("/", 1)[-1]  # projects, repositories, artifacts

    return Case("harbor", make, lambda: [r.path for r in list(api.requests)], kind, "artifacts", 0)


def gitlab_case(stack: ExitStack, registry: RunningRegistry, pushed: list[Pushed]) -> Case:
    api = stack.enter_context(GitLabAPI(registry.host))
    api.add_group(NAMESPACE)
    for repository in repositories(pushed):
        api.add_project(repository)
    for p in pushed:
        api.add_tag(p.repository, "", p.tag, p.image.digest)
    api.add_token(GITLAB[1], GitLabToken("personal", GITLAB[0], memberships={NAMESPACE: REPORTER}))

    def make() -> RegistryAdapter:
        options = {"api_url": api.url, "groups": [NAMESPACE]}
        return GitLabRegistry(RegistryConfig("gitlab", registry.url, credentials(GITLAB), TlsSettings(), options))

    def kind(path: str) -> str:
        if path.endswith("/registry/repositories"):
            return "repositories"
        if path == "/api/graphql":
            return "graphql tags"
        return "rest tags" if path.endswith("/tags") else path

    # GraphQL gives digests and times, 20 tags a page (GitLab's max_page_size for this field): no /v2/ request.
    return Case("gitlab", make, lambda: [r.path for r in api.requests], kind, "graphql tags", 0, page=20)


def artifactory_case(stack: ExitStack, registry: RunningRegistry, pushed: list[Pushed]) -> Case:
    users = {ARTIFACTORY[0]: artifactory_api.ArtUser(ARTIFACTORY[1])}  # Read on every repository
    api = stack.enter_context(artifactory_api.ArtifactoryAPI(users))
    api.add_repository(NAMESPACE)
    for p in pushed:
        api.add_tag(NAMESPACE, p.name, p.tag, p.image, iso(p.pushed, millis=True))

    def make() -> RegistryAdapter:
        options = {"api_url": api.url, "repository_keys": [NAMESPACE]}
        config = RegistryConfig("artifactory", registry.url, credentials(ARTIFACTORY), TlsSettings(), options)
        return ArtifactoryRegistry(config)

    def kind(path: str) -> str:
        for suffix, name in (("/tags/list", "tags"), ("/_catalog", "catalog"), ("/api/search/aql", "aql")):
            if path.endswith(suffix):
                return name
        return "repositories" if path.endswith("/api/repositories") else path

    return Case("artifactory", make, lambda: [r.path for r in api.requests], kind, "tags", 0)


def nexus_case(stack: ExitStack, registry: RunningRegistry, pushed: list[Pushed]) -> Case:
    api = stack.enter_context(NexusAPI({NEXUS[0]: NexusUser(NEXUS[1], ["docker-reader"])}))
    api.add_repository(NEXUS_REPOSITORY, http_port=8082)
    api.add_role("docker-reader", ["nx-repository-view-docker-*-browse", "nx-repository-view-docker-*-read"])
    for p in pushed:
        api.add_component(NEXUS_REPOSITORY, p.repository, p.tag, p.image, iso(p.pushed))

    def make() -> RegistryAdapter:
        options = {"api_url": api.url, "repository": NEXUS_REPOSITORY}
        return NexusRegistry(RegistryConfig("nexus", registry.url, credentials(NEXUS), TlsSettings(), options))

    def kind(path: str) -> str:
        return "components" if path.endswith("/v1/components") else path  # images and tags in one list

    return Case("nexus", make, lambda: [r.path for r in api.requests], kind, "components", 0)


def quay_case(stack: ExitStack, registry: RunningRegistry, pushed: list[Pushed]) -> Case:
    api = stack.enter_context(quay_api.QuayAPI())
    api.add_organization(NAMESPACE)
    api.add_user("quay-reader", quay_api.QuayUser(repo_roles=dict.fromkeys(repositories(pushed), "read")))
    api.add_token(QUAY[1], "quay-reader", {"repo:read"})
    for p in pushed:
        api.add_tag(NAMESPACE, p.name, p.tag, p.image, int(p.pushed.timestamp()))

    def make() -> RegistryAdapter:
        options = {"api_url": api.api_url, "namespaces": [NAMESPACE]}
        return QuayRegistry(RegistryConfig("quay", registry.url, credentials(QUAY), TlsSettings(), options))

    def kind(path: str) -> str:
        if path.endswith("/tag/"):
            return "tags"
        return "repositories" if path.endswith("/api/v1/repository") else path

    return Case("quay", make, lambda: [r.path for r in api.requests], kind, "tags", 0)


def ghcr_case(stack: ExitStack, registry: RunningRegistry, pushed: list[Pushed]) -> Case:
    api = stack.enter_context(GitHubAPI({GHCR[1]: GitHubToken(GHCR[0])}))
    api.add_owner(NAMESPACE, members=(GHCR[0],))
    for p in pushed:
        api.add_version(NAMESPACE, p.name, p.image.digest, iso(p.pushed), (p.tag,))

    def make() -> RegistryAdapter:
        options = {"api_url": api.url, "owner": NAMESPACE}
        return GhcrRegistry(RegistryConfig("ghcr", registry.url, credentials(GHCR), TlsSettings(), options))

    def kind(path: str) -> str:
        for suffix, name in (("/versions", "versions"), ("/packages", "packages"), (f"/users/{NAMESPACE}", "owner")):
            if path.endswith(suffix):
                return name
        return path

    return Case("ghcr", make, lambda: [r.raw_path for r in api.requests], kind, "versions", 0)


CASES = (harbor_case, gitlab_case, artifactory_case, nexus_case, quay_case, ghcr_case)


# ---- measuring -------------------------------------------------------------------------------------------------


def v2_requests(log_file: Path, offset: int) -> int:
    with log_file.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return sum(1 for line in text.splitlines() if V2_REQUEST.search(line))


def wait_for_log(log_file: Path) -> None:
    """Until the registry's log stops growing (an access log line may come just after its answer), at most 1 s."""
    size = log_file.stat().st_size
    for _ in range(50):
        time.sleep(0.02)
        now = log_file.stat().st_size
        if now == size:
            return
        size = now


async def listing(case: Case, pushed: list[Pushed]) -> tuple[float, int, int]:
    """Seconds, client requests and token requests of one browse; checks every tag."""
    started = time.perf_counter()
    async with case.make() as adapter:
        listings = await adapter.browse(with_tags=True)
        stats = adapter.client.stats
        client_requests, tokens = stats.requests, stats.token_requests
    elapsed = time.perf_counter() - started
    expected = {(p.repository, p.tag): p.image.digest for p in pushed}
    problems = [f"{r.name}: {r.error}" for r in listings if r.error]
    seen: dict[tuple[str, str], str | None] = {}
    for repository in listings:
        for info in repository.tags or []:
            seen[(repository.name, info.tag)] = info.digest
            if info.error or not info.digest or not (info.created or info.pushed):
                problems.append(f"{repository.name}:{info.tag} digest={info.digest} created={info.created} "
                                f"pushed={info.pushed} error={info.error}")  # fmt: skip
            elif info.digest != expected.get((repository.name, info.tag)):
                problems.append(f"{repository.name}:{info.tag} has digest {info.digest}, pushed as another")
    missing = sorted(set(expected) - set(seen))
    if missing:
        problems.append(f"{len(missing)} pushed tags not listed, e.g. {missing[0][0]}:{missing[0][1]}")
    if problems:
        shown = "\n  ".join(problems[:10])
        raise SystemExit(f"{case.name}: {len(seen)} tags listed, {len(problems)} problem(s):\n  {shown}")
    return elapsed, client_requests, tokens


def measure(case: Case, registry: RunningRegistry, pushed: list[Pushed]) -> Result:
    asyncio.run(listing(case, pushed))  # warm-up, checked but not counted
    wait_for_log(registry.log_file)
    vendor_before = len(case.paths())
    log_before = registry.log_file.stat().st_size
    elapsed, client_requests, tokens = asyncio.run(listing(case, pushed))
    wait_for_log(registry.log_file)
    v2 = v2_requests(registry.log_file, log_before)
    vendor = Counter(case.kind(path) for path in case.paths()[vendor_before:])
    minimum = tag_pages_minimum(pushed, case.page)
    return Result(
        case.name,
        len(pushed),
        elapsed,
        vendor,
        case.tag_kind,
        minimum,
        case.page,
        v2,
        case.v2_expected,
        tokens,
        client_requests,
    )


def skopeo_listing(registry: RunningRegistry, pushed: list[Pushed]) -> tuple[float, int]:
    common = ["--tls-verify=false", "--creds", f"{SKOPEO[0]}:{SKOPEO[1]}"]
    wanted: dict[str, set[str]] = {}
    for p in pushed:
        wanted.setdefault(p.repository, set()).add(p.tag)
    started = time.perf_counter()
    count = 0
    for repository, tags in wanted.items():
        out = subprocess.run(
            ["skopeo", "list-tags", *common, f"docker://{registry.host}/{repository}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for tag in json.loads(out)["Tags"]:
            if tag not in tags:
                continue
            info = json.loads(
                subprocess.run(
                    ["skopeo", "inspect", *common, f"docker://{registry.host}/{repository}:{tag}"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            if not info.get("Digest") or not info.get("Created"):
                raise SystemExit(f"skopeo gave no digest or created for {repository}:{tag}")
            count += 1
    if count != len(pushed):
        raise SystemExit(f"skopeo inspected {count} of {len(pushed)} tags")
    return time.perf_counter() - started, count


def report(result: Result, skopeo_per_tag: float) -> tuple[str, float]:
    ratio = skopeo_per_tag / (result.seconds / result.tags)
    breakdown = ", ".join(f"{kind} {count}" for kind, count in sorted(result.vendor.items()))
    tag_pages = result.vendor[result.tag_kind]
    flags = []
    if tag_pages > result.tag_pages_minimum:
        flags.append(
            f"{tag_pages} {result.tag_kind} requests > {result.tag_pages_minimum} (one per page of {result.page} tags)"
        )
    if result.v2 > result.v2_expected:
        flags.append(f"/v2 {result.v2} > {result.v2_expected} expected")
    accounted = result.vendor_total + result.v2 + result.tokens
    if accounted != result.client_requests:
        flags.append(f"client counted {result.client_requests} requests, vendor + /v2 + token = {accounted}")
    line = (
        f"{result.name:<12} {result.tags} tags in {result.seconds:.3f} s = {result.ms_per_tag:.3f} ms/tag; "
        f"vendor API {result.vendor_total / result.tags * 100:.2f} requests/100 tags ({result.vendor_total}: "
        f"{breakdown}); /v2 {result.v2 / result.tags:.3f} requests/tag ({result.v2}; {result.tokens} token "
        f"requests besides); ratio {ratio:.1f}x" + (f"; OVER: {'; '.join(flags)}" if flags else "")
    )
    return line, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=1000, help="tags to push, 100 per repository (default 1000)")
    parser.add_argument("--skopeo-tags", type=int, default=50, help="tags skopeo lists and inspects (default 50)")
    args = parser.parse_args()
    if args.tags < 1 or not 1 <= args.skopeo_tags <= args.tags:
        parser.error("need --tags >= 1 and 1 <= --skopeo-tags <= --tags")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="regscout-bench-") as workdir:
        registry = start_registry("token", Path(workdir), accounts=accounts())
        try:
            started = time.perf_counter()
            pushed = seed(registry, args.tags)
            count = len(repositories(pushed))
            print(f"pushed {len(pushed)} tags ({count} repositories, one image each) in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            with ExitStack() as stack:
                for build in CASES:
                    results.append(measure(build(stack, registry, pushed), registry, pushed))
            theirs, their_tags = skopeo_listing(registry, pushed[: args.skopeo_tags])
        finally:
            registry.stop()
    skopeo_per_tag = theirs / their_tags
    print(
        f"skopeo       {their_tags} tags in {theirs:.2f} s = {skopeo_per_tag * 1000:.2f} ms/tag "
        "(list-tags per repository, inspect per tag); ratio below = skopeo time per tag / regscout time per tag"
    )
    ratios: dict[str, float] = {}
    for result in results:
        line, ratios[result.name] = report(result, skopeo_per_tag)
        print(line)
    worst = min(ratios, key=lambda name: ratios[name])
    print(f"worst ratio (skopeo time per tag / regscout time per tag): {ratios[worst]:.1f}x ({worst}) (target >= 20x)")


if __name__ == "__main__":
    main()
