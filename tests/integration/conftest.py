"""Product-level fixtures: a Runtime on a fresh database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from regscout.registries.distribution import ClientOptions
from regscout.runtime import Runtime
from regscout.secrets import generate_key
from regscout.services.integrations import IntegrationService
from regscout.settings import Settings
from tests.services import postgres_database

# Retries without long waits: the backoff is real, only its base is small.
FAST = ClientOptions(backoff_base=0.01, backoff_max=0.05, attempts=3, connect_timeout=3, read_timeout=10)


def make_runtime(home: Path, database_url: str | None = None, secret_key: str | None = None) -> Runtime:
    return Runtime(
        Settings(
            home=home,
            database_url=database_url or f"sqlite:///{home / 'regscout.db'}",
            secret_key=secret_key,
            bind_host="127.0.0.1",
            bind_port=0,
            log_level="DEBUG",
        )
    )


@pytest.fixture(params=["sqlite", "postgres"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """A Runtime on SQLite and, as a second run of the same test, on PostgreSQL."""
    if request.param == "sqlite":
        rt = make_runtime(tmp_path / "home")
        yield rt
        rt.db.dispose()
        return
    with postgres_database() as url:
        rt = make_runtime(tmp_path / "home", url)
        yield rt
        rt.db.dispose()


@pytest.fixture
def sqlite_runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "home", secret_key=generate_key())
    yield rt
    rt.db.dispose()


@pytest.fixture
def service(sqlite_runtime: Runtime) -> IntegrationService:
    return IntegrationService(sqlite_runtime.db, sqlite_runtime.box, FAST)
