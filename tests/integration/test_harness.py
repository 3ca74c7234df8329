"""Tests of the test harness itself, against the real distribution registry binary."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import ssl
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.harness import registry as registry_module
from tests.harness.faults import CorruptBody, Hang, Redirect, ResetMidBody, Status
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Image,
    Pusher,
    PushError,
    TarEntry,
    base_layer,
    build_image,
    build_index,
    parse_www_authenticate,
    sha256_digest,
    small_image,
    tar_layer,
)
from tests.harness.registry import Account, RegistryStartError, RunningRegistry, start_registry
from tests.harness.token_issuer import AccessEntry

MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])
MODES = ["anonymous", "htpasswd", "token", "tls"]


def _registry(request: pytest.FixtureRequest, mode: str) -> RunningRegistry:
    registry = request.getfixturevalue(f"registry_{mode}")
    assert isinstance(registry, RunningRegistry)
    return registry


def _repo(request: pytest.FixtureRequest, suffix: str = "") -> str:
    """A repository name unique to the test (session registries are shared)."""
    name = request.node.name.lower()
    cleaned = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    return f"harness/{cleaned}{suffix}"


def _token(registry: RunningRegistry, user: str | None, *scopes: str) -> str:
    issuer = registry.token_issuer
    assert issuer is not None
    auth = registry.auth_for(user) if user is not None else None
    params = httpx.QueryParams({"service": issuer.service, "scope": list(scopes)})
    resp = httpx.get(issuer.url, params=params, auth=auth)
    resp.raise_for_status()
    token = resp.json()["token"]
    assert isinstance(token, str)
    return token


def _reader_headers(registry: RunningRegistry, repo: str) -> dict[str, str]:
    """Authorization for reading ``repo`` as the registry's pushing account."""
    admin = registry.admin_auth()
    if registry.mode == "token":
        assert admin is not None
        return {"Authorization": f"Bearer {_token(registry, admin[0], f'repository:{repo}:pull')}"}
    if admin is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{admin[0]}:{admin[1]}".encode()).decode()}


@pytest.fixture
def anon_pusher(registry_anonymous: RunningRegistry) -> Iterator[Pusher]:
    with Pusher(registry_anonymous) as pusher:
        yield pusher


# ---------------------------------------------------------------------------------------------
# Registry modes
# ---------------------------------------------------------------------------------------------


def test_anonymous_registry_answers_v2_with_200(registry_anonymous: RunningRegistry) -> None:
    resp = httpx.get(f"{registry_anonymous.url}/v2/")
    assert resp.status_code == 200
    assert resp.headers["docker-distribution-api-version"] == "registry/2.0"
    assert registry_anonymous.url == f"http://{registry_anonymous.host}"
    assert registry_anonymous.admin_auth() is None


@pytest.mark.parametrize("mode", ["htpasswd", "tls"])
def test_basic_modes_challenge_and_accept_the_default_account(request: pytest.FixtureRequest, mode: str) -> None:
    registry = _registry(request, mode)
    with httpx.Client(verify=registry.verify) as client:
        resp = client.get(f"{registry.url}/v2/")
        assert resp.status_code == 401
        scheme, params = parse_www_authenticate(resp.headers["www-authenticate"])
        assert (scheme, params) == ("basic", {"realm": "regscout-test"})
        assert resp.headers["www-authenticate"].startswith("Basic realm=")
        assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"
        assert client.get(f"{registry.url}/v2/", auth=("alice", "alice-secret-pw")).status_code == 200
        assert client.get(f"{registry.url}/v2/", auth=("alice", "wrong")).status_code == 401
    assert registry.admin_auth() == ("alice", "alice-secret-pw")
    assert registry.url.startswith("https://" if mode == "tls" else "http://")


def test_token_mode_challenges_with_bearer_realm_and_service(registry_token: RunningRegistry) -> None:
    issuer = registry_token.token_issuer
    assert issuer is not None
    resp = httpx.get(f"{registry_token.url}/v2/")
    assert resp.status_code == 401
    header = resp.headers["www-authenticate"]
    assert header.startswith("Bearer realm=")
    assert 'service="regscout-test"' in header
    scheme, params = parse_www_authenticate(header)
    assert scheme == "bearer"
    assert params["realm"] == issuer.url
    assert params["service"] == "regscout-test"
    token = _token(registry_token, "reader")
    ok = httpx.get(f"{registry_token.url}/v2/", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert registry_token.admin_auth() == ("writer", "writer-secret-pw")


@pytest.mark.parametrize("mode", MODES)
def test_pushed_image_round_trips_with_the_same_digest(request: pytest.FixtureRequest, mode: str) -> None:
    registry = _registry(request, mode)
    repo = _repo(request)
    image = build_image(
        [base_layer(), tar_layer({"app/hello.txt": b"hello " + mode.encode()})],
        labels={"mode": mode},
    )
    with Pusher(registry) as pusher:
        assert pusher.push(repo, "v1", image) == image.digest
        # A second push finds every blob already there.
        assert pusher.push(repo, "v2", image) == image.digest
    headers = _reader_headers(registry, repo)
    with httpx.Client(verify=registry.verify, headers=headers) as client:
        resp = client.get(f"{registry.url}/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_ACCEPT})
        assert resp.status_code == 200
        assert resp.headers["docker-content-digest"] == image.digest
        assert resp.headers["content-type"] == OCI_MANIFEST
        assert resp.content == image.manifest
        for blob in image.blobs:
            got = client.get(f"{registry.url}/v2/{repo}/blobs/{blob.digest}")
            assert got.status_code == 200
            assert sha256_digest(got.content) == blob.digest
        tags = client.get(f"{registry.url}/v2/{repo}/tags/list").json()
        assert sorted(tags["tags"]) == ["v1", "v2"]


@pytest.mark.parametrize("docker", [False, True])
def test_index_push_round_trips(registry_anonymous: RunningRegistry, anon_pusher: Pusher, docker: bool) -> None:
    amd = small_image("index-amd64", docker_media_types=docker)
    arm = build_image(
        [tar_layer({"etc/arch": b"arm64\n"})], architecture="arm64", variant="v8", docker_media_types=docker
    )
    index = build_index([amd, arm], docker_media_types=docker)
    repo = f"harness/index-{'docker' if docker else 'oci'}"
    assert anon_pusher.push(repo, "multi", index) == index.digest

    url = registry_anonymous.url
    resp = httpx.get(f"{url}/v2/{repo}/manifests/multi", headers={"Accept": MANIFEST_ACCEPT})
    assert resp.status_code == 200
    assert resp.headers["docker-content-digest"] == index.digest
    assert resp.headers["content-type"] == (DOCKER_MANIFEST_LIST if docker else OCI_INDEX)
    doc = json.loads(resp.content)
    assert [m["digest"] for m in doc["manifests"]] == [amd.digest, arm.digest]
    assert doc["manifests"][1]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    for child in (amd, arm):
        got = httpx.get(f"{url}/v2/{repo}/manifests/{child.digest}", headers={"Accept": MANIFEST_ACCEPT})
        assert got.headers["docker-content-digest"] == child.digest
        assert got.content == child.manifest


def test_docker_media_types_are_used_throughout(registry_anonymous: RunningRegistry, anon_pusher: Pusher) -> None:
    image = build_image([tar_layer({"f": b"x"})], docker_media_types=True)
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert manifest["layers"][0]["mediaType"] == DOCKER_LAYER_GZIP
    assert anon_pusher.push("harness/docker-types", "v", image) == image.digest
    resp = httpx.get(
        f"{registry_anonymous.url}/v2/harness/docker-types/manifests/v", headers={"Accept": DOCKER_MANIFEST}
    )
    assert resp.headers["content-type"] == DOCKER_MANIFEST


def test_catalog_rejects_n_above_maxentries(registry_anonymous: RunningRegistry) -> None:
    resp = httpx.get(f"{registry_anonymous.url}/v2/_catalog", params={"n": 1001})
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"
    assert httpx.get(f"{registry_anonymous.url}/v2/_catalog", params={"n": 1000}).status_code == 200


def test_small_maxentries_paginates_the_catalog_with_link_headers(tmp_path: Path) -> None:
    registry = start_registry("anonymous", tmp_path, catalog_max_entries=2)
    try:
        with Pusher(registry) as pusher:
            pusher.push_many((f"cat/r{i}", "v", small_image(f"cat{i}")) for i in range(5))
        too_many = httpx.get(f"{registry.url}/v2/_catalog?n=3")
        assert too_many.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"
        seen: list[str] = []
        next_url: str | None = "/v2/_catalog?n=2"
        pages = 0
        while next_url:
            resp = httpx.get(registry.url + next_url)
            seen += resp.json()["repositories"]
            link = resp.headers.get("link")
            next_url = link.split(";")[0].strip("<>") if link else None
            pages += 1
        assert seen == [f"cat/r{i}" for i in range(5)]
        assert pages == 3
    finally:
        registry.stop()
    assert not registry.running


# ---------------------------------------------------------------------------------------------
# Token issuer
# ---------------------------------------------------------------------------------------------


def test_token_reader_can_pull_but_the_registry_rejects_its_push(
    registry_token: RunningRegistry, request: pytest.FixtureRequest
) -> None:
    repo = _repo(request)
    image = small_image("token-reader")
    with Pusher(registry_token) as writer:
        writer.push(repo, "v1", image)

    with Pusher(registry_token, auth=registry_token.auth_for("reader")) as reader:
        with pytest.raises(PushError) as failure:
            reader.push(repo, "v2", small_image("token-reader-2"))
        assert failure.value.response is not None
        assert failure.value.response.status_code in (401, 403)

    # The same thing by hand: the reader's token holds pull only, and the registry says so.
    token = _token(registry_token, "reader", f"repository:{repo}:pull,push")
    auth = {"Authorization": f"Bearer {token}"}
    pulled = httpx.get(f"{registry_token.url}/v2/{repo}/manifests/v1", headers={**auth, "Accept": MANIFEST_ACCEPT})
    assert pulled.status_code == 200
    assert pulled.headers["docker-content-digest"] == image.digest
    upload = httpx.post(f"{registry_token.url}/v2/{repo}/blobs/uploads/", headers=auth)
    assert upload.status_code in (401, 403)
    assert 'error="insufficient_scope"' in upload.headers["www-authenticate"]


def test_token_access_is_the_intersection_of_scopes_and_grants(registry_token: RunningRegistry) -> None:
    issuer = registry_token.token_issuer
    assert issuer is not None
    scopes = ("repository:a/b:pull,push,delete", "registry:catalog:*")
    writer = issuer.decode(_token(registry_token, "writer", *scopes))
    assert writer["access"] == [
        {"type": "repository", "name": "a/b", "actions": ["pull", "push", "delete"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert (writer["iss"], writer["aud"], writer["sub"]) == ("regscout-harness", "regscout-test", "writer")
    assert writer["exp"] - writer["iat"] == 300
    assert {"nbf", "jti"} <= writer.keys()
    reader = issuer.decode(_token(registry_token, "reader", *scopes))
    assert reader["access"][0] == {"type": "repository", "name": "a/b", "actions": ["pull"]}
    anonymous = issuer.decode(_token(registry_token, None, *scopes))
    assert anonymous["access"] == []
    assert anonymous["sub"] == ""

    header = jwt.get_unverified_header(_token(registry_token, "reader"))
    assert header["alg"] == "RS256"
    assert len(header["x5c"]) == 1


def test_token_issuer_rejects_bad_credentials_with_json_errors(registry_token: RunningRegistry) -> None:
    issuer = registry_token.token_issuer
    assert issuer is not None
    resp = httpx.get(issuer.url, params={"service": "regscout-test"}, auth=("writer", "not-it"))
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["code"] == "UNAUTHORIZED"
    unknown = httpx.get(issuer.url, params={"service": "regscout-test"}, auth=("mallory", "x"))
    assert unknown.status_code == 401


def test_token_issuer_oauth2_post(registry_token: RunningRegistry) -> None:
    issuer = registry_token.token_issuer
    assert issuer is not None
    form = {
        "grant_type": "password",
        "username": "writer",
        "password": "writer-secret-pw",
        "service": "regscout-test",
        "scope": "repository:x/y:pull repository:x/z:push",
        "client_id": "regscout",
        "access_type": "offline",
    }
    resp = httpx.post(issuer.url, data=form)
    assert resp.status_code == 200
    body = resp.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    claims = issuer.decode(body["access_token"])
    assert [a["name"] for a in claims["access"]] == ["x/y", "x/z"]
    refreshed = httpx.post(
        issuer.url,
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "service": "regscout-test"},
    )
    assert refreshed.status_code == 200
    assert issuer.decode(refreshed.json()["token"])["sub"] == "writer"
    bad = httpx.post(issuer.url, data={**form, "password": "wrong"})
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert issuer.requests[-1].method == "POST"
    assert issuer.requests[-1].status == 401


def test_token_requests_are_recorded_and_the_pusher_caches_tokens(
    registry_token: RunningRegistry, request: pytest.FixtureRequest
) -> None:
    issuer = registry_token.token_issuer
    assert issuer is not None
    repo = _repo(request)
    before = len(issuer.requests)
    with Pusher(registry_token) as pusher:
        for i in range(3):
            pusher.push(repo, f"t{i}", small_image(f"cache-{i}"))
        assert pusher.token_fetches == 1
    new = issuer.requests[before:]
    assert len(new) == 1
    assert new[0].user == "writer"
    assert new[0].method == "GET"
    assert f"repository:{repo}:pull,push" in new[0].scopes
    assert new[0].granted == (AccessEntry("repository", repo, ("pull", "push")),)


def test_registry_accepts_tokens_minted_by_the_issuer_and_refuses_foreign_audience(
    registry_token: RunningRegistry,
) -> None:
    issuer = registry_token.token_issuer
    assert issuer is not None
    catalog = (AccessEntry("registry", "catalog", ("*",)),)
    good = issuer.mint("writer", catalog)
    wrong_aud = issuer.mint("writer", catalog, audience="another-service")
    expired = issuer.mint("writer", catalog, now=time.time() - 3600, expires_in=60)
    url = f"{registry_token.url}/v2/_catalog"
    assert httpx.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {wrong_aud}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_token_mode_with_anonymous_pull(tmp_path: Path) -> None:
    accounts = {"ci": Account("ci-pw", frozenset({"pull", "push"}), catalog=False)}
    registry = start_registry("token", tmp_path, accounts=accounts, anonymous_pull=True)
    try:
        image = small_image("anon-pull")
        with Pusher(registry) as pusher:
            pusher.push("pub/app", "1", image)
        token = _token(registry, None, "repository:pub/app:pull,push")
        auth = {"Authorization": f"Bearer {token}"}
        got = httpx.get(f"{registry.url}/v2/pub/app/manifests/1", headers={**auth, "Accept": MANIFEST_ACCEPT})
        assert got.headers["docker-content-digest"] == image.digest
        assert httpx.post(f"{registry.url}/v2/pub/app/blobs/uploads/", headers=auth).status_code == 401
        # catalog=False: the account is not granted registry:catalog:*
        ci = _token(registry, "ci", "registry:catalog:*")
        denied = httpx.get(f"{registry.url}/v2/_catalog", headers={"Authorization": f"Bearer {ci}"})
        assert denied.status_code == 401
    finally:
        registry.stop()


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------


def test_tls_registry_needs_the_harness_ca(registry_tls: RunningRegistry) -> None:
    assert registry_tls.ca_file is not None
    assert registry_tls.url.startswith("https://127.0.0.1:")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{registry_tls.url}/v2/")
    ctx = ssl.create_default_context(cafile=str(registry_tls.ca_file))
    assert httpx.get(f"{registry_tls.url}/v2/", verify=ctx).status_code == 401
    # The certificate also names localhost.
    by_name = f"https://localhost:{registry_tls.port}/v2/"
    assert httpx.get(by_name, verify=ctx, auth=registry_tls.admin_auth()).status_code == 200
    for name in ("ca.pem", "cert.pem", "key.pem"):
        assert (registry_tls.workdir / name).is_file()


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def test_tar_layers_are_deterministic_and_hold_every_entry_kind() -> None:
    files: dict[str, bytes | TarEntry] = {
        "etc": TarEntry.dir(0o700),
        "etc/passwd": b"root:x:0:0::/root:/bin/sh\n",
        "etc/link": TarEntry.symlink("passwd"),
        "etc/hard": TarEntry.hardlink("etc/passwd"),
        "usr/bin/tool": TarEntry.file(b"#!", 0o4755),
        "var/old": TarEntry.whiteout(),
        "opt/dir": TarEntry.opaque(),
    }
    layer = tar_layer(files)
    assert layer == tar_layer(dict(reversed(list(files.items()))))
    assert layer.media_type == OCI_LAYER_GZIP
    raw = gzip.decompress(layer.data)
    assert layer.diff_id == sha256_digest(raw)
    assert layer.digest == sha256_digest(layer.data) and layer.size == len(layer.data)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == sorted(
        ["etc", "etc/passwd", "etc/link", "etc/hard", "usr/bin/tool", "var/.wh.old", "opt/dir/.wh..wh..opq"]
    )
    assert members["etc"].isdir() and members["etc"].mode == 0o700
    assert members["etc/link"].issym() and members["etc/link"].linkname == "passwd"
    assert members["etc/hard"].islnk() and members["etc/hard"].linkname == "etc/passwd"
    assert members["usr/bin/tool"].mode == 0o4755
    assert all(m.mtime == 0 for m in members.values())

    plain = tar_layer({"a": b"1"}, "none")
    assert plain.media_type == OCI_LAYER and plain.digest == plain.diff_id
    zstd = tar_layer({"a": b"1"}, "zstd")
    assert zstd.media_type == OCI_LAYER_ZSTD
    unpacked = subprocess.run(["zstd", "-d", "-c"], input=zstd.data, capture_output=True, check=True).stdout
    assert sha256_digest(unpacked) == zstd.diff_id == plain.diff_id


def test_image_config_carries_the_expected_fields() -> None:
    layers = [base_layer(), tar_layer({"x": b"y"})]
    image = build_image(
        layers,
        created="2023-05-06T07:08:09Z",
        architecture="arm",
        variant="v7",
        config={"Cmd": ["/app"], "User": "1000"},
        labels={"org.opencontainers.image.source": "https://example.invalid/repo"},
        annotations={"org.opencontainers.image.created": "2023-05-06T07:08:09Z"},
    )
    cfg = image.config_json
    assert cfg["created"] == "2023-05-06T07:08:09Z"
    assert (cfg["architecture"], cfg["os"], cfg["variant"]) == ("arm", "linux", "v7")
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [la.diff_id for la in layers]}
    assert len(cfg["history"]) == 2
    assert cfg["config"]["Cmd"] == ["/app"] and cfg["config"]["User"] == "1000"
    assert cfg["config"]["Env"][0].startswith("PATH=")
    assert cfg["config"]["Labels"] == {"org.opencontainers.image.source": "https://example.invalid/repo"}
    manifest = json.loads(image.manifest)
    assert manifest["annotations"] == {"org.opencontainers.image.created": "2023-05-06T07:08:09Z"}
    assert image.platform == {"architecture": "arm", "os": "linux", "variant": "v7"}
    assert "created" not in build_image(layers, created=None).config_json


def test_small_images_differ_per_seed_and_share_the_base_layer() -> None:
    one, two = small_image("one"), small_image("two")
    assert one.digest != two.digest
    assert one.config.digest != two.config.digest
    assert one.layers == two.layers == (base_layer(),)
    assert small_image("one") == one


def test_push_many_pushes_everything(registry_anonymous: RunningRegistry, anon_pusher: Pusher) -> None:
    items: list[tuple[str, str, Image]] = [
        (f"harness/many-{r}", f"t{t}", small_image(f"many-{r}-{t}")) for r in range(5) for t in range(6)
    ]
    anon_pusher.push_many(items, workers=8)
    for r in range(5):
        tags = httpx.get(f"{registry_anonymous.url}/v2/harness/many-{r}/tags/list").json()["tags"]
        assert sorted(tags) == [f"t{t}" for t in range(6)]


# ---------------------------------------------------------------------------------------------
# Fault proxy
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def pushed(registry_anonymous: RunningRegistry, anon_pusher: Pusher) -> Image:
    """An image whose single layer is big enough to cut in the middle."""
    payload = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB, incompressible enough
    image = build_image([tar_layer({"blob.bin": payload}, "none")])
    anon_pusher.push("harness/faults", "v1", image)
    return image


def test_proxy_forwards_and_records_without_faults(
    registry_htpasswd: RunningRegistry, fault_proxy_factory: FaultProxyFactory
) -> None:
    proxy = fault_proxy_factory(registry_htpasswd)
    resp = httpx.get(f"{proxy.url}/v2/")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Basic realm="regscout-test"'
    # A full push through the proxy: upload Locations are built for the proxy's address.
    image = small_image("through-proxy")
    with Pusher(proxy.url, auth=registry_htpasswd.admin_auth()) as pusher:
        assert pusher.push("harness/via-proxy", "v1", image) == image.digest
    methods = [(r.method, r.target_path) for r in proxy.requests]
    assert ("PUT", "/v2/harness/via-proxy/manifests/v1") in methods
    assert any(m == "PUT" and "/blobs/uploads/" in p for m, p in methods)
    assert proxy.requests[0].headers["host"] == proxy.host
    assert "authorization" in proxy.requests[-1].headers
    assert all(r.fault is None for r in proxy.requests)


def test_proxy_passes_link_headers_unchanged(tmp_path: Path, fault_proxy_factory: FaultProxyFactory) -> None:
    registry = start_registry("anonymous", tmp_path, catalog_max_entries=1)
    try:
        with Pusher(registry) as pusher:
            pusher.push_many((f"link/r{i}", "v", small_image(f"link{i}")) for i in range(2))
        proxy = fault_proxy_factory(registry)
        resp = httpx.get(f"{proxy.url}/v2/_catalog?n=1")
        assert resp.headers["link"].startswith("</v2/_catalog?last=link")
        direct = httpx.get(f"{registry.url}/v2/_catalog?n=1")
        assert resp.headers["link"] == direct.headers["link"]
    finally:
        registry.stop()


def test_status_fault_fires_the_given_number_of_times(
    registry_anonymous: RunningRegistry, fault_proxy_factory: FaultProxyFactory
) -> None:
    proxy = fault_proxy_factory(registry_anonymous)
    proxy.add_fault(r"^/v2/$", Status(500, body=b"boom"), times=2)
    proxy.add_fault(r"^/v2/_catalog", Status(429, {"Retry-After": "1"}), times=1, method="GET")
    with httpx.Client() as client:
        first, second, third = (client.get(f"{proxy.url}/v2/") for _ in range(3))
        assert (first.status_code, first.content) == (500, b"boom")
        assert second.status_code == 500
        assert third.status_code == 200
        # method filter: the HEAD reaches the registry (which answers 405 to HEAD _catalog)
        assert client.head(f"{proxy.url}/v2/_catalog").status_code == 405
        limited = client.get(f"{proxy.url}/v2/_catalog")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert client.get(f"{proxy.url}/v2/_catalog").status_code == 200
    assert [r.fault for r in proxy.requests] == ["Status", "Status", None, None, "Status", None]
    assert proxy.pending_faults() == 0


def test_reset_mid_body_sends_headers_then_part_of_the_body(
    registry_anonymous: RunningRegistry, pushed: Image, fault_proxy_factory: FaultProxyFactory
) -> None:
    layer = pushed.layers[0]
    proxy = fault_proxy_factory(registry_anonymous)
    proxy.add_fault(r"/blobs/sha256:", ResetMidBody(after_bytes=1000), method="GET")
    url = f"{proxy.url}/v2/harness/faults/blobs/{layer.digest}"
    received = bytearray()
    with httpx.Client() as client:
        # A RST, not a clean close: httpx reports ECONNRESET as ReadError.
        with pytest.raises(httpx.ReadError, match="reset"), client.stream("GET", url) as resp:
            assert resp.status_code == 200
            assert int(resp.headers["content-length"]) == layer.size
            assert resp.headers["docker-content-digest"] == layer.digest
            for chunk in resp.iter_raw():
                received += chunk
        assert bytes(received) == layer.data[:1000]
        # Fired once: the next GET is whole.
        assert client.get(url).content == layer.data


def test_corrupt_body_flips_bytes_but_keeps_the_length(
    registry_anonymous: RunningRegistry, pushed: Image, fault_proxy_factory: FaultProxyFactory
) -> None:
    layer = pushed.layers[0]
    proxy = fault_proxy_factory(registry_anonymous)
    proxy.add_fault(r"/blobs/", CorruptBody())
    resp = httpx.get(f"{proxy.url}/v2/harness/faults/blobs/{layer.digest}")
    assert resp.status_code == 200
    assert len(resp.content) == layer.size == int(resp.headers["content-length"])
    assert resp.headers["docker-content-digest"] == layer.digest
    assert sha256_digest(resp.content) != layer.digest
    assert sum(a != b for a, b in zip(resp.content, layer.data, strict=True)) == 1


def test_hang_times_out_the_client_and_close_releases_it(
    registry_anonymous: RunningRegistry, fault_proxy_factory: FaultProxyFactory
) -> None:
    proxy = fault_proxy_factory(registry_anonymous)
    proxy.add_fault(r"^/v2/$", Hang(30), times=2)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{proxy.url}/v2/", timeout=0.3)

    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(httpx.get(f"{proxy.url}/v2/", timeout=20).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    started = time.monotonic()
    worker.start()
    proxy.wait_for_requests(2, timeout=5)
    proxy.close()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert time.monotonic() - started < 10
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)


def test_short_hang_then_forwards(registry_anonymous: RunningRegistry, fault_proxy_factory: FaultProxyFactory) -> None:
    proxy = fault_proxy_factory(registry_anonymous)
    proxy.add_fault(r"^/v2/$", Hang(0.3))
    started = time.monotonic()
    assert httpx.get(f"{proxy.url}/v2/", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_redirect_to_another_host_drops_the_authorization_header(
    registry_htpasswd: RunningRegistry, fault_proxy_factory: FaultProxyFactory, request: pytest.FixtureRequest
) -> None:
    repo = _repo(request)
    image = small_image("redirect")
    with Pusher(registry_htpasswd) as pusher:
        pusher.push(repo, "v1", image)
    admin = registry_htpasswd.admin_auth()
    assert admin is not None
    # B plays pre-signed blob storage: a different host name, reachable without credentials.
    proxy_b = fault_proxy_factory(registry_htpasswd, bind_host="localhost", upstream_auth=admin)
    proxy_a = fault_proxy_factory(registry_htpasswd)
    proxy_a.add_fault(r"/blobs/sha256:", Redirect(location_base=proxy_b.url), times=None, method="GET")
    assert proxy_b.url.startswith("http://localhost:")

    with httpx.Client(auth=admin, follow_redirects=True) as client:
        resp = client.get(f"{proxy_a.url}/v2/{repo}/blobs/{image.config.digest}")
    assert resp.status_code == 200
    assert resp.content == image.config.data
    assert [r.status_code for r in resp.history] == [307]
    assert resp.history[0].headers["location"] == f"{proxy_b.url}/v2/{repo}/blobs/{image.config.digest}"
    assert "authorization" in proxy_a.requests[0].headers
    assert len(proxy_b.requests) == 1
    assert "authorization" not in proxy_b.requests[0].headers
    assert proxy_b.requests[0].headers["host"] == proxy_b.host


def test_proxy_in_front_of_tls_registry(registry_tls: RunningRegistry, fault_proxy_factory: FaultProxyFactory) -> None:
    proxy = fault_proxy_factory(registry_tls)
    assert httpx.get(f"{proxy.url}/v2/", auth=registry_tls.admin_auth()).status_code == 200
    image = small_image("tls-proxy")
    with Pusher(proxy.url, auth=registry_tls.admin_auth()) as pusher:
        assert pusher.push("harness/tls-proxy", "v1", image) == image.digest
    uploads = [r for r in proxy.requests if r.method == "PUT" and "/blobs/uploads/" in r.path]
    assert uploads, "the upload Location must point back at the (plain http) proxy"


def test_proxy_answers_502_when_upstream_is_gone(fault_proxy_factory: FaultProxyFactory, tmp_path: Path) -> None:
    registry = start_registry("anonymous", tmp_path)
    proxy = fault_proxy_factory(registry)
    assert httpx.get(f"{proxy.url}/v2/").status_code == 200
    registry.stop()
    assert httpx.get(f"{proxy.url}/v2/").status_code == 502


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


def test_restart_keeps_port_and_content(tmp_path: Path) -> None:
    registry = start_registry("htpasswd", tmp_path)
    try:
        image = small_image("restart")
        with Pusher(registry) as pusher:
            pusher.push("harness/restart", "v1", image)
        url = registry.url
        registry.restart()
        assert registry.url == url and registry.running
        resp = httpx.get(
            f"{url}/v2/harness/restart/manifests/v1",
            auth=registry.admin_auth(),
            headers={"Accept": MANIFEST_ACCEPT},
        )
        assert resp.headers["docker-content-digest"] == image.digest
    finally:
        registry.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{registry.url}/v2/")


def test_startup_failure_reports_the_log_tail(tmp_path: Path) -> None:
    registry = start_registry("anonymous", tmp_path / "ok")
    try:
        # A second registry on the same port fails to bind; the error carries its log.
        config = json.loads(registry.config_file.read_text())
        config["storage"]["filesystem"]["rootdirectory"] = str(tmp_path / "other")
        bad_config = tmp_path / "bad.yml"
        bad_config.write_text(json.dumps(config))
        log = tmp_path / "bad.log"
        proc = registry_module._spawn(bad_config, log)
        with pytest.raises(RegistryStartError, match="address already in use"):
            registry_module._wait_ready(proc, "http://127.0.0.1:1", True, log, timeout=15)
    finally:
        registry.stop()
