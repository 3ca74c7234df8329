"""Fixtures for the OS analyzers; the rpm databases are built by tests/harness/rpm_fixtures.py."""

from __future__ import annotations

import pytest

from tests.harness.rpm_fixtures import FIXTURES, RpmDatabases
from tests.harness.rpm_fixtures import rpm_databases as build_rpm_databases


@pytest.fixture(scope="session")
def rpm_databases() -> RpmDatabases:
    return build_rpm_databases()


@pytest.fixture(scope="session")
def debian_status() -> bytes:
    """dpkg's status file of a real `mmdebstrap --variant=minbase bookworm` root (tests/fixtures/os/README.md)."""
    return (FIXTURES / "dpkg" / "status").read_bytes()
