"""HTTP for vulnerability data: whole archives to a file (with a size cap), the `modified_id.csv`
change list, and single records. Every failure is a DownloadError that names the URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from .. import __version__
from .errors import DownloadError

CHUNK = 1 << 20


def http_client() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(30.0, read=120.0),
        follow_redirects=True,
        headers={"User-Agent": f"regscout/{__version__}"},
    )


@contextmanager
def _get(client: httpx.Client, url: str) -> Iterator[httpx.Response]:
    try:
        with client.stream("GET", url) as response:
            yield response
    except httpx.HTTPError as exc:
        raise DownloadError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc


def _expect_ok(response: httpx.Response, url: str) -> None:
    if response.status_code != 200:
        raise DownloadError(f"GET {url}: HTTP {response.status_code}")


def to_file(client: httpx.Client, url: str, target: Path, max_bytes: int) -> int:
    """Download `url` to `target` completely or raise: a cut connection, an HTTP error or a body over
    `max_bytes` never leaves a file that looks whole. Returns the size."""
    received = 0
    with _get(client, url) as response:
        _expect_ok(response, url)
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise DownloadError(f"GET {url}: {declared} bytes is over the limit of {max_bytes} bytes")
        with target.open("wb") as out:
            try:
                for chunk in response.iter_bytes(CHUNK):
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadError(f"GET {url}: the body is over the limit of {max_bytes} bytes")
                    out.write(chunk)
            except httpx.HTTPError as exc:
                raise DownloadError(
                    f"GET {url}: the download broke off after {received} bytes ({type(exc).__name__}: {exc})"
                ) from exc
    return received


def _timestamp(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def changed_since(client: httpx.Client, url: str, since: datetime, limit: int) -> list[tuple[datetime, str]] | None:
    """The (modified, id) lines of a `modified_id.csv` (newest first) modified at or after `since`.
    None when the list is missing (HTTP 404) or longer than `limit`: a full download is cheaper."""
    changes: list[tuple[datetime, str]] = []
    with _get(client, url) as response:
        if response.status_code == 404:
            return None
        _expect_ok(response, url)
        try:
            for number, line in enumerate(response.iter_lines(), start=1):
                if not line.strip():
                    continue
                stamp, _, record_id = line.partition(",")
                modified = _timestamp(stamp)
                if modified is None or not record_id.strip():
                    if number == 1:
                        continue  # a header line
                    raise DownloadError(f"{url}: line {number} is not `<modified>,<id>`: {line[:200]!r}")
                if modified < since:
                    break
                changes.append((modified, record_id.strip()))
                if len(changes) > limit:
                    return None
        except httpx.HTTPError as exc:
            raise DownloadError(f"GET {url}: the download broke off ({type(exc).__name__}: {exc})") from exc
    return changes


def record_json(client: httpx.Client, url: str, max_bytes: int) -> bytes | None:
    """One record's JSON, or None when it no longer exists (HTTP 404)."""
    with _get(client, url) as response:
        if response.status_code == 404:
            return None
        _expect_ok(response, url)
        body = bytearray()
        try:
            for chunk in response.iter_bytes(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise DownloadError(f"GET {url}: the record is over the limit of {max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise DownloadError(f"GET {url}: the download broke off ({type(exc).__name__}: {exc})") from exc
    return bytes(body)
