"""Access to the services running on the machine (PostgreSQL, Redis, RabbitMQ).

Tests that need one call `require_service`. Where the service is missing they skip with the
reason, except when REGSCOUT_REQUIRE_SERVICES=1 (set by .ci/run), where they fail instead."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ADMIN_URL = os.environ.get("REGSCOUT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def require_service(name: str, error: Exception) -> None:
    message = f"{name} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("REGSCOUT_REQUIRE_SERVICES") == "1":
        pytest.fail(message + "; REGSCOUT_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(message + "; set REGSCOUT_REQUIRE_SERVICES=1 to fail instead")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    import psycopg

    name = "regscout_test_" + secrets.token_hex(4)
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", exc)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


REDIS_URL = os.environ.get("REGSCOUT_TEST_REDIS", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("REGSCOUT_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
BROKERS = {"redis": ("Redis", REDIS_URL), "rabbitmq": ("RabbitMQ", RABBITMQ_URL)}


def broker_url(kind: str) -> str:
    """The URL of the running Redis or RabbitMQ ("redis" or "rabbitmq"), after checking that it answers."""
    from kombu import Connection
    from kombu.exceptions import KombuError

    name, url = BROKERS[kind]
    connection = Connection(url, connect_timeout=3)
    try:
        with connection:
            connection.ensure_connection(max_retries=1)
    except (KombuError, OSError, *connection.connection_errors) as exc:
        require_service(name, exc)
    return url
