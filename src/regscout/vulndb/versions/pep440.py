"""PyPI (PEP 440) order: ``packaging.version.Version`` is already a hashable, totally ordered key.

Legacy non-PEP 440 strings are invalid (skipped by the matcher), as in pip since packaging 22.
"""

from __future__ import annotations

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from .base import InvalidVersion, KeyedScheme


def pep440_key(version: str) -> Version:
    try:
        return Version(version)
    except _PackagingInvalid as exc:
        raise InvalidVersion(version) from exc


PEP440 = KeyedScheme("pep440", pep440_key)
