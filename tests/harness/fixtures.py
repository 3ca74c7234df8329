"""pytest plugin: real registries (one per mode, per session) and fault proxies.

Enable with ``pytest_plugins = ["tests.harness.fixtures"]`` in ``tests/conftest.py``.

Session registries are shared by every test that asks for them: use repository names unique to
the test (e.g. derived from ``request.node.name``) when pushing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .faults import FaultProxy
from .registry import Mode, RunningRegistry, start_registry

__all__ = [
    "FaultProxyFactory",
    "fault_proxy_factory",
    "registry_anonymous",
    "registry_htpasswd",
    "registry_tls",
    "registry_token",
]

FaultProxyFactory = Callable[..., FaultProxy]


def _session_registry(tmp_path_factory: pytest.TempPathFactory, mode: Mode) -> Iterator[RunningRegistry]:
    registry = start_registry(mode, tmp_path_factory.mktemp(f"registry-{mode}"))
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def registry_anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _session_registry(tmp_path_factory, "anonymous")


@pytest.fixture(scope="session")
def registry_htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _session_registry(tmp_path_factory, "htpasswd")


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _session_registry(tmp_path_factory, "token")


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _session_registry(tmp_path_factory, "tls")


@pytest.fixture
def fault_proxy_factory() -> Iterator[FaultProxyFactory]:
    """``make(upstream, *, upstream_ca=None, bind_host="127.0.0.1", upstream_auth=None)``.

    ``upstream`` may be a URL or a RunningRegistry (its URL and CA file are used). Every proxy
    made is closed when the test ends."""
    proxies: list[FaultProxy] = []

    def make(
        upstream: str | RunningRegistry,
        *,
        upstream_ca: Path | None = None,
        bind_host: str = "127.0.0.1",
        upstream_auth: tuple[str, str] | None = None,
    ) -> FaultProxy:
        if isinstance(upstream, RunningRegistry):
            if upstream_ca is None:
                upstream_ca = upstream.ca_file
            upstream = upstream.url
        proxy = FaultProxy(upstream, upstream_ca=upstream_ca, bind_host=bind_host, upstream_auth=upstream_auth)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
