"""OCI / Docker images built in memory, and a pusher that uploads them over the real registry API.

Everything is deterministic: tar entries have mtime 0 and are sorted, gzip has mtime 0, JSON is
compact with a fixed key order, and the default ``created`` is a fixed timestamp. The same inputs
therefore always give the same digests.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import re
import shutil
import ssl
import subprocess
import tarfile
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from .registry import RunningRegistry

__all__ = [
    "DEFAULT_CREATED",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "Blob",
    "Compression",
    "Image",
    "Index",
    "Layer",
    "PushError",
    "Pusher",
    "TarEntry",
    "base_layer",
    "build_image",
    "build_index",
    "make_blob",
    "make_layer",
    "parse_www_authenticate",
    "sha256_digest",
    "small_image",
    "tar_layer",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

DEFAULT_CREATED = "2024-01-02T03:04:05Z"
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_OCI_TO_DOCKER_LAYER = {OCI_LAYER_GZIP: DOCKER_LAYER_GZIP, OCI_LAYER: DOCKER_LAYER}

Compression = Literal["gzip", "zstd", "none"]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Blobs and layers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes = field(repr=False)
    digest: str
    size: int

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Layer(Blob):
    diff_id: str  # sha256 of the uncompressed tar


def make_blob(data: bytes, media_type: str = "application/octet-stream") -> Blob:
    return Blob(media_type, data, sha256_digest(data), len(data))


def make_layer(data: bytes, media_type: str, diff_id: str | None = None) -> Layer:
    """A layer from raw bytes (e.g. deliberately broken content). ``diff_id`` defaults to the
    digest of ``data`` (right for uncompressed layers)."""
    digest = sha256_digest(data)
    return Layer(media_type, data, digest, len(data), diff_id or digest)


EntryKind = Literal["file", "dir", "symlink", "hardlink", "whiteout", "opaque", "fifo", "char", "block"]

_TAR_TYPES: dict[str, bytes] = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "whiteout": tarfile.REGTYPE,
    "opaque": tarfile.REGTYPE,
    "fifo": tarfile.FIFOTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
}
_DEFAULT_MODES = {"dir": 0o755, "symlink": 0o777}


@dataclass(frozen=True)
class TarEntry:
    """One entry of a layer tar (the mapping key passed to :func:`tar_layer` is its path).

    * ``file``: regular file with ``data``.
    * ``dir``, ``fifo``, ``char``/``block`` (``devmajor``/``devminor``).
    * ``symlink`` / ``hardlink``: ``target`` is the link name.
    * ``whiteout``: the key is the path being deleted; the entry written is ``dir/.wh.name``.
    * ``opaque``: the key is a directory; the entry written is ``dir/.wh..wh..opq``.

    Paths are used exactly as given (no normalisation), so tests can write absolute paths,
    ``../`` escapes and other hostile names.
    """

    kind: EntryKind = "file"
    data: bytes = b""
    mode: int | None = None
    target: str = ""
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: int = 0
    devmajor: int = 0
    devminor: int = 0
    pax_headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def file(cls, data: bytes, mode: int = 0o644, *, uid: int = 0, gid: int = 0) -> TarEntry:
        return cls("file", data, mode, uid=uid, gid=gid)

    @classmethod
    def dir(cls, mode: int = 0o755, *, uid: int = 0, gid: int = 0) -> TarEntry:
        return cls("dir", mode=mode, uid=uid, gid=gid)

    @classmethod
    def symlink(cls, target: str) -> TarEntry:
        return cls("symlink", target=target)

    @classmethod
    def hardlink(cls, target: str) -> TarEntry:
        return cls("hardlink", target=target)

    @classmethod
    def whiteout(cls) -> TarEntry:
        return cls("whiteout")

    @classmethod
    def opaque(cls) -> TarEntry:
        return cls("opaque")

    def tar_name(self, path: str) -> str:
        if self.kind in ("whiteout", "opaque"):
            stripped = path.rstrip("/")
            head, sep, tail = stripped.rpartition("/")
            if self.kind == "whiteout":
                return f"{head}{sep}.wh.{tail}"
            return f"{stripped}/.wh..wh..opq"
        return path

    def tarinfo(self, path: str) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.tar_name(path))
        info.type = _TAR_TYPES[self.kind]
        info.mode = self.mode if self.mode is not None else _DEFAULT_MODES.get(self.kind, 0o644)
        info.uid, info.gid = self.uid, self.gid
        info.uname, info.gname = self.uname, self.gname
        info.mtime = self.mtime
        info.linkname = self.target
        info.devmajor, info.devminor = self.devmajor, self.devminor
        info.size = len(self.data) if self.kind == "file" else 0
        if self.pax_headers:
            info.pax_headers = dict(self.pax_headers)
        return info


def _compress(raw: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.compress(raw, compresslevel=6, mtime=0)
    if compression == "zstd":
        zstd = shutil.which("zstd")
        if zstd is None:
            raise RuntimeError("zstd compression needs the zstd command line tool")
        out = subprocess.run([zstd, "-q", "-c", "-3", "--no-progress"], input=raw, capture_output=True, check=True)
        return out.stdout
    if compression == "none":
        return raw
    raise ValueError(f"unknown compression {compression!r}")


_LAYER_TYPES: dict[str, str] = {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}


def tar_bytes(files: Mapping[str, bytes | TarEntry], *, sort: bool = True) -> bytes:
    """An uncompressed, deterministic tar of ``files`` (path -> content or :class:`TarEntry`)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        items = sorted(files.items()) if sort else list(files.items())
        for path, value in items:
            entry = value if isinstance(value, TarEntry) else TarEntry.file(value)
            info = entry.tarinfo(path)
            tar.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    return buf.getvalue()


def tar_layer(
    files: Mapping[str, bytes | TarEntry],
    compression: Compression = "gzip",
    *,
    sort: bool = True,
) -> Layer:
    """A layer holding ``files``. ``sort=False`` keeps the mapping's order (e.g. to put a
    hardlink before its target). The media type is the OCI one; :func:`build_image` maps it
    to the Docker type when ``docker_media_types=True``."""
    raw = tar_bytes(files, sort=sort)
    data = _compress(raw, compression)
    return Layer(_LAYER_TYPES[compression], data, sha256_digest(data), len(data), sha256_digest(raw))


# --------------------------------------------------------------------------------------------
# Images and indexes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    manifest: bytes = field(repr=False)
    media_type: str
    digest: str
    config: Blob
    layers: tuple[Layer, ...]

    @property
    def size(self) -> int:
        return len(self.manifest)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)

    @property
    def config_json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.config.data)
        return parsed

    @property
    def platform(self) -> dict[str, str]:
        cfg = self.config_json
        platform = {"architecture": str(cfg.get("architecture", "")), "os": str(cfg.get("os", ""))}
        for key, out in (("variant", "variant"), ("os.version", "os.version")):
            if cfg.get(key):
                platform[out] = str(cfg[key])
        return platform

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Index:
    manifest: bytes = field(repr=False)
    media_type: str
    digest: str
    images: tuple[Image, ...]

    @property
    def size(self) -> int:
        return len(self.manifest)


def _created_str(created: str | dt.datetime) -> str:
    if isinstance(created, str):
        return created
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return created.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def build_image(
    layers: Sequence[Layer],
    *,
    created: str | dt.datetime | None = DEFAULT_CREATED,
    os: str = "linux",
    architecture: str = "amd64",
    variant: str | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    docker_media_types: bool = False,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> Image:
    """An image manifest + config for ``layers``.

    * ``created=None`` leaves ``created`` out of the config (and out of default history).
    * ``history`` defaults to one entry per layer.
    * ``config`` is merged over the default container config section
      (``Env`` with PATH, ``Cmd`` ``["/bin/sh"]``); ``labels`` go to ``config.Labels``.
    * ``annotations`` become manifest annotations.
    * ``extra_config`` is merged into the top-level config JSON last (a ``None`` value deletes
      the key), for tests that need odd configs.
    """
    created_s = None if created is None else _created_str(created)
    section: dict[str, Any] = {"Env": [DEFAULT_PATH_ENV], "Cmd": ["/bin/sh"]}
    if config:
        section.update(config)
    if labels:
        section["Labels"] = {**section.get("Labels", {}), **labels}
    if history is None:
        hist: list[dict[str, Any]] = []
        for i, layer in enumerate(layers):
            entry: dict[str, Any] = {}
            if created_s is not None:
                entry["created"] = created_s
            entry["created_by"] = f"/bin/sh -c #(nop) ADD file:{layer.diff_id[7:19]} in / # {i}"
            hist.append(entry)
    else:
        hist = [dict(h) for h in history]

    cfg: dict[str, Any] = {}
    if created_s is not None:
        cfg["created"] = created_s
    cfg["architecture"] = architecture
    if variant is not None:
        cfg["variant"] = variant
    cfg["os"] = os
    cfg["config"] = section
    cfg["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    cfg["history"] = hist
    for key, value in (extra_config or {}).items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value

    if docker_media_types:
        manifest_type, config_type = DOCKER_MANIFEST, DOCKER_CONFIG
        layers = [replace(la, media_type=_OCI_TO_DOCKER_LAYER.get(la.media_type, la.media_type)) for la in layers]
    else:
        manifest_type, config_type = OCI_MANIFEST, OCI_CONFIG
    config_blob = make_blob(_json(cfg), config_type)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config_blob.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    raw = _json(manifest)
    return Image(raw, manifest_type, sha256_digest(raw), config_blob, tuple(layers))


def build_index(
    images: Sequence[Image],
    *,
    docker_media_types: bool = False,
    annotations: Mapping[str, str] | None = None,
    platforms: Sequence[Mapping[str, str] | None] | None = None,
) -> Index:
    """An OCI image index (or Docker manifest list) over ``images``.

    Each entry's ``platform`` comes from the image config unless ``platforms`` gives one
    (``None`` in that list leaves the platform out, like attestation manifests)."""
    media_type = DOCKER_MANIFEST_LIST if docker_media_types else OCI_INDEX
    entries: list[dict[str, Any]] = []
    for i, image in enumerate(images):
        desc = image.descriptor()
        platform = image.platform if platforms is None else platforms[i]
        if platform is not None:
            desc["platform"] = dict(platform)
        entries.append(desc)
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    if annotations:
        doc["annotations"] = dict(annotations)
    raw = _json(doc)
    return Index(raw, media_type, sha256_digest(raw), tuple(images))


@functools.cache
def base_layer(compression: Compression = "gzip") -> Layer:
    """The base layer every :func:`small_image` shares (a tiny os-release style filesystem)."""
    return tar_layer(
        {
            "etc": TarEntry.dir(),
            "etc/os-release": b'ID=regscout-test\nVERSION_ID="1.0"\nPRETTY_NAME="regscout test base"\n',
            "bin": TarEntry.dir(),
            "bin/sh": TarEntry.file(b"#!fake shell\n", 0o755),
        },
        compression,
    )


def small_image(
    seed: str,
    created: str | dt.datetime | None = DEFAULT_CREATED,
    *,
    docker_media_types: bool = False,
) -> Image:
    """A tiny image unique to ``seed`` (only the config differs) on the shared :func:`base_layer`."""
    return build_image(
        [base_layer()],
        created=created,
        config={"Env": [DEFAULT_PATH_ENV, f"REGSCOUT_SEED={seed}"]},
        labels={"org.regscout.test.seed": seed},
        docker_media_types=docker_media_types,
    )


# --------------------------------------------------------------------------------------------
# Pushing
# --------------------------------------------------------------------------------------------


def _ssl_verify(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx 0.28 deprecates ``verify=<path>``: turn a CA file path into an SSLContext."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


class PushError(RuntimeError):
    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        detail = ""
        if response is not None:
            detail = (
                f" -> {response.status_code} {response.request.method} {response.request.url}: {response.text[:500]}"
            )
        super().__init__(message + detail)
        self.response = response


_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


class Pusher:
    """Uploads :class:`Image` / :class:`Index` objects with the distribution push protocol.

    Auth is discovered from the first 401: Basic (sends ``auth``) or Bearer (asks the realm for
    ``repository:<repo>:pull,push`` plus any scope the challenge names, with ``auth`` as Basic
    credentials if given; tokens are cached per repository). Thread-safe; one shared
    ``httpx.Client`` with a connection pool.
    """

    def __init__(
        self,
        registry: RunningRegistry | str,
        auth: tuple[str, str] | None = None,
        verify: bool | str | ssl.SSLContext = True,
        *,
        timeout: float = 30.0,
    ) -> None:
        """``registry``: a RunningRegistry (then ``auth`` defaults to ``admin_auth()`` and the
        registry's CA is trusted) or a base URL. ``verify``: True, False, a CA file path or an
        SSLContext; it only matters for https URLs (ignored for http ones)."""
        if isinstance(registry, RunningRegistry):
            self.base_url = registry.url
            if auth is None:
                auth = registry.admin_auth()
            if verify is True and registry.ca_file is not None:
                verify = str(registry.ca_file)
        else:
            self.base_url = registry.rstrip("/")
        self.auth = auth
        self._client = httpx.Client(
            verify=_ssl_verify(verify) if self.base_url.startswith("https://") else True,
            timeout=timeout,
            trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._lock = threading.Lock()
        self._scheme: str | None = None  # learnt from the first 401: "basic" or "bearer"
        self._tokens: dict[str, str] = {}
        self._known_blobs: set[tuple[str, str]] = set()
        self._blob_locks: dict[tuple[str, str], threading.Lock] = {}
        self.token_fetches = 0

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _basic_header(self) -> str:
        assert self.auth is not None
        raw = f"{self.auth[0]}:{self.auth[1]}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _auth_header(self, repo: str) -> dict[str, str]:
        with self._lock:
            scheme, token = self._scheme, self._tokens.get(repo)
        if scheme == "basic" and self.auth is not None:
            return {"Authorization": self._basic_header()}
        if scheme == "bearer" and token is not None:
            return {"Authorization": f"Bearer {token}"}
        return {}

    def _fetch_token(self, repo: str, challenge: dict[str, str]) -> str:
        realm = challenge.get("realm")
        if not realm:
            raise PushError(f"Bearer challenge without realm: {challenge}")
        scopes = [f"repository:{repo}:pull,push"]
        extra = challenge.get("scope")
        if extra:
            scopes += [s for s in extra.split() if s not in scopes]
        params: list[tuple[str, str]] = []
        if "service" in challenge:
            params.append(("service", challenge["service"]))
        params += [("scope", s) for s in scopes]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(params)
        headers = {"Authorization": self._basic_header()} if self.auth is not None else {}
        resp = self._client.get(url, headers=headers)
        with self._lock:
            self.token_fetches += 1
        if resp.status_code != 200:
            raise PushError("token request failed", resp)
        body = resp.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise PushError("token response without a token", resp)
        with self._lock:
            self._tokens[repo] = token
        return token

    def _request(
        self,
        method: str,
        url: str,
        repo: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        if not url.startswith(("http://", "https://")):
            url = self.base_url + url
        hdrs = dict(headers or {})
        resp = self._client.request(method, url, headers={**hdrs, **self._auth_header(repo)}, content=content)
        if resp.status_code != 401:
            return resp
        scheme, params = parse_www_authenticate(resp.headers.get("www-authenticate", ""))
        if scheme == "basic":
            if self.auth is None:
                return resp
            with self._lock:
                self._scheme = "basic"
            retry = {"Authorization": self._basic_header()}
        elif scheme == "bearer":
            with self._lock:
                self._scheme = "bearer"
            retry = {"Authorization": f"Bearer {self._fetch_token(repo, params)}"}
        else:
            return resp
        return self._client.request(method, url, headers={**hdrs, **retry}, content=content)

    # -- blobs and manifests -----------------------------------------------------------------
    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", repo)
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        raise PushError(f"HEAD blob {digest}", resp)

    def push_blob(self, repo: str, blob: Blob) -> None:
        """Upload ``blob`` unless the registry already has it in ``repo`` (HEAD first).

        Monolithic upload: ``POST /v2/<repo>/blobs/uploads/`` then ``PUT <Location>&digest=``.

        Uploads of one digest into one repository are serialised: distribution 2.8's filesystem
        driver rewrites the repository's blob link file in place, and a concurrent HEAD can read
        it half-written and answer 500 "invalid checksum digest format"."""
        key = (repo, blob.digest)
        with self._lock:
            if key in self._known_blobs:
                return
            blob_lock = self._blob_locks.setdefault(key, threading.Lock())
        with blob_lock:
            self._push_blob_locked(repo, blob, key)

    def _push_blob_locked(self, repo: str, blob: Blob, key: tuple[str, str]) -> None:
        with self._lock:
            if key in self._known_blobs:
                return
        if not self.blob_exists(repo, blob.digest):
            start = self._request("POST", f"/v2/{repo}/blobs/uploads/", repo)
            if start.status_code != 202:
                raise PushError(f"start upload of {blob.digest}", start)
            location = urllib.parse.urljoin(str(start.url), start.headers["location"])
            put_url = httpx.URL(location).copy_merge_params({"digest": blob.digest})
            done = self._request(
                "PUT",
                str(put_url),
                repo,
                headers={"Content-Type": "application/octet-stream"},
                content=blob.data,
            )
            if done.status_code != 201:
                raise PushError(f"finish upload of {blob.digest}", done)
        with self._lock:
            self._known_blobs.add(key)

    def push_manifest(self, repo: str, ref: str, manifest: bytes, media_type: str) -> str:
        """PUT raw manifest bytes; returns the registry's Docker-Content-Digest."""
        resp = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            repo,
            headers={"Content-Type": media_type},
            content=manifest,
        )
        if resp.status_code != 201:
            raise PushError(f"PUT manifest {repo}:{ref}", resp)
        return resp.headers.get("docker-content-digest") or sha256_digest(manifest)

    def delete_manifest(self, repo: str, digest: str) -> None:
        resp = self._request("DELETE", f"/v2/{repo}/manifests/{digest}", repo)
        if resp.status_code != 202:
            raise PushError(f"DELETE manifest {repo}@{digest}", resp)

    def _push_image(self, repo: str, ref: str, image: Image) -> str:
        for blob in image.blobs:
            self.push_blob(repo, blob)
        digest = self.push_manifest(repo, ref, image.manifest, image.media_type)
        if digest != image.digest:
            raise PushError(f"registry says {repo}:{ref} is {digest}, expected {image.digest}")
        return digest

    def push(self, repo: str, ref: str, artifact: Image | Index) -> str:
        """Push ``artifact`` (with its blobs / child manifests) as ``repo:ref``; returns its digest.

        ``ref`` may be a tag or the artifact's own digest."""
        if isinstance(artifact, Image):
            return self._push_image(repo, ref, artifact)
        for image in artifact.images:
            self._push_image(repo, image.digest, image)
        digest = self.push_manifest(repo, ref, artifact.manifest, artifact.media_type)
        if digest != artifact.digest:
            raise PushError(f"registry says {repo}:{ref} is {digest}, expected {artifact.digest}")
        return digest

    def push_many(self, items: Iterable[tuple[str, str, Image | Index]], workers: int = 8) -> None:
        """Push many (repo, ref, artifact) on a thread pool; raises the first failure."""
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pusher") as pool:
            futures = [pool.submit(self.push, repo, ref, art) for repo, ref, art in items]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    for other in futures:
                        other.cancel()
                    raise exc
