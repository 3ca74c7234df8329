"""The OpenShift integrated registry, listed through the cluster's image streams.

The registry takes an OpenShift API token as the Basic password (any user name). With `api_url`
set, repositories and tags come from the Kubernetes API (image streams), which knows each tag's
digest and push or import time, and rights come from SelfSubjectAccessReviews: the same checks the
registry itself makes. Without it, the registry catalog is used, which needs cluster-wide list on
image streams.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from pydantic import Field, field_validator

from .base import (
    AdapterOptions,
    RegistryAdapter,
    RegistryConfig,
    RepositoryListing,
    Rights,
    RightsReport,
    TagRef,
    comma_list,
    http_url,
    parse_time,
    with_username,
)
from .distribution import ClientOptions
from .errors import AccessDeniedError, AuthenticationError, NotFoundError, ProtocolError, RegistryError

log = logging.getLogger(__name__)

DEFAULT_USERNAME = "regscout"
IMAGE_API = "/apis/image.openshift.io/v1"
REVIEW_API = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
LIST_LIMIT = 500
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class OpenShiftOptions(AdapterOptions):
    api_url: str | None = Field(default=None, description="Cluster API URL, e.g. https://api.cluster:6443")
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces (projects) to list; empty = all the token can see"
    )

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        return http_url(value, "https://api.cluster:6443")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("namespaces")
    @classmethod
    def _valid_namespaces(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _NAMESPACE.fullmatch(name):
                raise ValueError(f"{name!r} is not a namespace name (lower-case DNS label)")
        return value


def _host(reference: str) -> str | None:
    """The registry host of an image reference, None when it names Docker Hub implicitly."""
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return None


class OpenShiftRegistry(RegistryAdapter):
    type_name = "openshift"
    label = "OpenShift integrated registry"
    auth_kinds = ("password", "token")
    options_model = OpenShiftOptions
    least_rights = (
        "A service account (or user) token with the `registry-viewer` cluster role, or `system:image-puller` "
        "plus `view` in each namespace to watch (listing needs `list` on imagestreams). Not `registry-editor`, "
        "`system:image-builder` or `system:image-pruner`."
    )
    options: OpenShiftOptions

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        config = with_username(config, DEFAULT_USERNAME)
        super().__init__(config, client_options)
        self._streams: dict[str, dict[str, Any]] = {}
        self._skipped: dict[str, list[str]] = {}

    # ---- Kubernetes API ---------------------------------------------------------------------

    async def _api(self, method: str, path: str, body: Any = None, *, what: str) -> dict[str, Any]:
        assert self.options.api_url is not None
        url = self.options.api_url + path
        headers = {}
        if self.config.credentials is not None:
            headers["Authorization"] = f"Bearer {self.config.credentials.secret.reveal()}"
        try:
            data, _ = await self.client.api_json(method, url, headers=headers, json_body=body)
        except RegistryError as error:
            raise self._api_error(error, what) from None
        if not isinstance(data, dict):
            raise ProtocolError(f"the OpenShift API answered {what} with something that is not an object", url=url)
        return data

    def _api_error(self, error: RegistryError, what: str) -> RegistryError:
        if error.http_status == 401:
            return AuthenticationError(
                f"the OpenShift API rejected the token while trying to {what} (HTTP 401)",
                url=error.url,
                http_status=401,
                hint="Give a current token: user tokens (oc whoami -t) expire; a service account token does not",
            )
        if error.http_status == 403:
            return AccessDeniedError(
                f"the token may not {what} (HTTP 403)",
                url=error.url,
                http_status=403,
                hint="Grant the registry-viewer cluster role, or system:image-puller and view in each namespace",
            )
        if error.http_status == 404:
            return NotFoundError(
                f"the OpenShift API could not {what}: not found (HTTP 404)",
                url=error.url,
                http_status=404,
                hint="Check api_url (the cluster API, e.g. https://api.cluster:6443) and the namespace names",
            )
        return error

    def _streams_path(self, namespace: str | None, query: dict[str, str | int]) -> str:
        scope = f"/namespaces/{quote(namespace)}" if namespace else ""
        return f"{IMAGE_API}{scope}/imagestreams?{urlencode(query)}"

    async def _list_streams(self, namespace: str | None, limit: int = LIST_LIMIT) -> AsyncIterator[dict[str, Any]]:
        """Image streams of one namespace (None: all), through the API's `continue` chunks."""
        what = f"list imagestreams in namespace {namespace}" if namespace else "list imagestreams in all namespaces"
        query: dict[str, str | int] = {"limit": limit}
        while True:
            page = await self._api("GET", self._streams_path(namespace, query), what=what)
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    yield item
            metadata = page.get("metadata")
            token = metadata.get("continue") if isinstance(metadata, dict) else None
            if not isinstance(token, str) or not token:
                return
            query = {"limit": limit, "continue": token}

    @staticmethod
    def _stream_name(stream: dict[str, Any]) -> str | None:
        metadata = stream.get("metadata")
        if not isinstance(metadata, dict):
            return None
        namespace, name = metadata.get("namespace"), metadata.get("name")
        if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
            return f"{namespace}/{name}"
        return None

    def _local_hosts(self, stream: dict[str, Any]) -> set[str]:
        """Hosts that mean "this registry": the service name, the route, and the URL we use."""
        hosts = {urlsplit(self.client.base_url).netloc.lower()}
        status = stream.get("status")
        if isinstance(status, dict):
            for key in ("dockerImageRepository", "publicDockerImageRepository"):
                value = status.get(key)
                host = _host(value) if isinstance(value, str) else None
                if host:
                    hosts.add(host)
        return hosts

    def _stream_tags(self, repository: str, stream: dict[str, Any]) -> list[TagRef]:
        local = self._local_hosts(stream)
        refs: list[TagRef] = []
        skipped: list[str] = []
        status = stream.get("status")
        for entry in (status.get("tags") if isinstance(status, dict) else None) or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("tag"), str):
                continue
            items = [i for i in entry.get("items") or [] if isinstance(i, dict)]
            if not items:
                continue  # a tag whose import never succeeded has no image yet
            latest = items[0]
            reference = latest.get("dockerImageReference")
            host = _host(reference) if isinstance(reference, str) else None
            if host is None or host not in local:
                skipped.append(f"{entry['tag']} ({host or 'docker.io'})")
                continue
            digest = latest.get("image")
            pushed = parse_time(latest.get("created"))
            refs.append(TagRef(entry["tag"], digest if isinstance(digest, str) else None, pushed))
        if skipped:
            log.info("%s: skipped tags that point at other registries: %s", repository, ", ".join(skipped))
            self._skipped[repository] = skipped
        return refs

    # ---- connection test --------------------------------------------------------------------

    async def read_probe(self) -> str:
        if self.options.api_url is None:
            return await super().read_probe()
        namespace = self.options.namespaces[0] if self.options.namespaces else None
        what = f"list imagestreams in namespace {namespace}" if namespace else "list imagestreams in all namespaces"
        page = await self._api("GET", self._streams_path(namespace, {"limit": 1}), what=what)
        items = [i for i in page.get("items") or [] if isinstance(i, dict)]
        where = f"namespace {namespace}" if namespace else "the cluster"
        name = self._stream_name(items[0]) if items else None
        return f"listed image streams in {where}" + (f" (first: {name})" if name else "; none yet")

    async def rights(self) -> RightsReport:
        if self.options.api_url is None:
            return RightsReport(
                Rights.UNKNOWN,
                "without api_url regscout cannot ask the cluster what the token may do",
                "Set the api_url option so regscout can run SelfSubjectAccessReviews",
            )
        namespace = self.options.namespaces[0] if self.options.namespaces else None
        if namespace is None:
            first = await self.first_repository()
            namespace = first.split("/", 1)[0] if first else None
        if namespace is None:
            return RightsReport(Rights.UNKNOWN, "no namespace with image streams to check rights in")
        checks = {
            f"push to image streams in {namespace}": {
                "namespace": namespace,
                "verb": "update",
                "group": "image.openshift.io",
                "resource": "imagestreams",
                "subresource": "layers",
            },
            # The registry checks pruning (deleting) cluster-wide, so this review has no namespace.
            "delete images (prune)": {"verb": "delete", "group": "image.openshift.io", "resource": "images"},
        }
        allowed = [label for label, attributes in checks.items() if await self._review(attributes)]
        if allowed:
            return RightsReport(
                Rights.CAN_WRITE,
                "the cluster allows the token to " + " and ".join(allowed),
                "regscout only reads: use a token with registry-viewer or system:image-puller only",
            )
        return RightsReport(
            Rights.READ_ONLY, f"the cluster denies push in {namespace} and image deletion to this token"
        )

    async def _review(self, attributes: dict[str, str]) -> bool:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        review = await self._api("POST", REVIEW_API, body, what="create a SelfSubjectAccessReview")
        status = review.get("status")
        return isinstance(status, dict) and status.get("allowed") is True

    # ---- listing ----------------------------------------------------------------------------

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.api_url is None or self.options.repositories:
            async for listed in super().list_repositories(page_size):
                yield listed
            return
        namespaces: list[str | None] = [*self.options.namespaces] or [None]
        for namespace in namespaces:
            async for stream in self._list_streams(namespace, min(page_size, LIST_LIMIT)):
                name = self._stream_name(stream)
                if name:
                    self._streams[name] = stream
                    yield name

    async def list_tags(self, repository: str) -> list[TagRef]:
        if self.options.api_url is None:
            return await super().list_tags(repository)
        stream = self._streams.get(repository)
        if stream is None:
            namespace, _, name = repository.partition("/")
            stream = await self._api(
                "GET",
                f"{IMAGE_API}/namespaces/{quote(namespace)}/imagestreams/{quote(name, safe='')}",
                what=f"read image stream {repository}",
            )
        return self._stream_tags(repository, stream)

    async def browse(
        self, repositories: list[str] | None = None, *, with_tags: bool = True, concurrency: int | None = None
    ) -> list[RepositoryListing]:
        listings = await super().browse(repositories, with_tags=with_tags, concurrency=concurrency)
        noted: list[RepositoryListing] = []
        for listing in listings:
            skipped = self._skipped.get(listing.name)
            if skipped:
                note = f"skipped {len(skipped)} tag(s) that point at other registries: {', '.join(skipped)}"
                listing = dataclasses.replace(listing, notes=[*listing.notes, note])
            noted.append(listing)
        return noted
