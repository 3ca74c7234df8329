"""A vendor's REST API beside its registry (Harbor, GitLab, Artifactory, Nexus, Quay, GitHub): JSON calls with
the API's own auth header, and the three ways these APIs page.

Calls go through RegistryClient.api_json, so they share the registry's retries, TLS settings, error classes
and request accounting, and never carry the registry's own Authorization. A next-page URL that leaves the
API's origin is refused: the API's credentials go with every page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from .distribution import RegistryClient
from .errors import ProtocolError

HeaderSource = Callable[[], Awaitable[Mapping[str, str]]]
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?', re.IGNORECASE)


def next_link(headers: httpx.Headers) -> str | None:
    """The target of `Link: <…>; rel="next"`, if any (RFC 8288; several links, several rels per link)."""
    for value in headers.get_list("link"):
        for target, params in _LINK.findall(value):
            rels = {rel.lower() for match in _REL_NEXT.findall(params) for rel in match.split()}
            if "next" in rels:
                return str(target)
    return None


async def _no_headers() -> Mapping[str, str]:
    return {}


class VendorApi:
    """One vendor API at `base_url` (e.g. https://harbor.example/api/v2.0)."""

    def __init__(
        self, client: RegistryClient, base_url: str, headers: HeaderSource = _no_headers, *, name: str
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.name = name
        self._headers = headers
        self._origin = urlsplit(self.base_url)[:2]

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode({k: v for k, v in params.items() if v is not None})
        return url

    async def call(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, *, json_body: Any = None
    ) -> tuple[Any, httpx.Headers]:
        url = self.url(path, params)
        self._same_origin(url)
        return await self.client.api_json(method, url, headers=dict(await self._headers()), json_body=json_body)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, httpx.Headers]:
        return await self.call("GET", path, params)

    async def get_object(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data, _ = await self.get(path, params)
        if not isinstance(data, dict):
            raise ProtocolError(f"the {self.name} API answered {path} with something that is not an object")
        return data

    def _same_origin(self, url: str) -> None:
        if urlsplit(url)[:2] != self._origin:
            raise ProtocolError(
                f"the {self.name} API pointed to another origin, which its credentials must not reach", url=url
            )

    async def numbered_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int,
        size_param: str = "per_page",
        page_param: str = "page",
        items: Callable[[Any], list[Any]] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list paged with `page` and a page size (Harbor, GitLab, GitHub, Quay tags). Follows
        `Link: rel="next"` where the API sends it; otherwise asks for the next page number until a page comes
        back short or empty (`X-Next-Page: ""` and `X-Total-Count` are honoured too)."""
        extract = items or _list_body
        url: str | None = self.url(path, {**(params or {}), size_param: page_size, page_param: 1})
        page = 1
        seen: set[str] = set()
        counted = 0
        while url is not None:
            if url in seen:
                raise ProtocolError(f"the {self.name} API's pagination loops", url=url)
            seen.add(url)
            data, headers = await self.get(url)
            entries = [entry for entry in extract(data) if isinstance(entry, dict)]
            counted += len(entries)
            for entry in entries:
                yield entry
            linked = next_link(headers)
            total = headers.get("x-total-count") or headers.get("x-total")
            if linked:
                url = urljoin(url, linked)
            elif "x-next-page" in headers:
                following = headers["x-next-page"].strip()
                url = (
                    self.url(path, {**(params or {}), size_param: page_size, page_param: following})
                    if following
                    else None
                )
            elif (total and total.isdigit() and counted >= int(total)) or len(entries) < page_size:
                url = None
            else:
                page += 1
                url = self.url(path, {**(params or {}), size_param: page_size, page_param: page})

    async def token_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        items_field: str,
        token_field: str,
        token_param: str,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list paged with an opaque token in the body (Nexus `continuationToken`, Quay
        `next_page`)."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            query = {**(params or {}), token_param: token} if token else dict(params or {})
            data, _ = await self.get(path, query)
            if not isinstance(data, dict):
                raise ProtocolError(f"the {self.name} API answered {path} with something that is not an object")
            for entry in data.get(items_field) or []:
                if isinstance(entry, dict):
                    yield entry
            following = data.get(token_field)
            if not isinstance(following, str) or not following:
                return
            if following in seen:
                raise ProtocolError(f"the {self.name} API's pagination loops", url=self.url(path))
            seen.add(following)
            token = following


def _list_body(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    raise ProtocolError("the API answered a list request with something that is not a list")
