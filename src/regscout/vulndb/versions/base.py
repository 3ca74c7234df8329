"""The version-scheme protocol and the cached scheme every ecosystem module is built from."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

# Entries per scheme: a cached dpkg key costs ~0.8 KB, so this bounds one scheme's cache near 50 MB.
CACHE_SIZE = 1 << 16


class InvalidVersion(ValueError):
    """The string is not a version this scheme can order."""


class VersionScheme(Protocol):
    name: str

    def key(self, version: str) -> Any:
        """A totally ordered, hashable key; equal keys mean equal versions. Raises InvalidVersion."""
        ...

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1. Raises InvalidVersion."""
        ...


class KeyedScheme:
    """A scheme defined by a parser from a version string to a key; raising ValueError marks the string invalid."""

    __slots__ = ("_cached", "_parse", "name")

    def __init__(self, name: str, parse: Callable[[str], Any], cache_size: int = CACHE_SIZE) -> None:
        self.name = name
        self._parse = parse

        def parse_or_none(version: str) -> Any:
            try:
                return parse(version)
            except ValueError:
                # Cached as None: rematching meets the same malformed version on every pass.
                return None

        self._cached = lru_cache(maxsize=cache_size)(parse_or_none)

    def key(self, version: str) -> Any:
        if not isinstance(version, str):
            raise InvalidVersion(f"{version!r} is not a string")
        k = self._cached(version)
        if k is None:
            raise InvalidVersion(f"{version!r} is not a valid {self.name} version")
        return k

    def parse(self, version: str) -> Any:
        """``key`` without the cache: for versions seen once (at import), which would only evict others."""
        if not isinstance(version, str):
            raise InvalidVersion(f"{version!r} is not a string")
        try:
            return self._parse(version)
        except ValueError as exc:
            raise InvalidVersion(f"{version!r} is not a valid {self.name} version") from exc

    def compare(self, a: str, b: str) -> int:
        ka, kb = self.key(a), self.key(b)
        return int(ka > kb) - int(ka < kb)

    def cache_clear(self) -> None:
        self._cached.cache_clear()

    def __repr__(self) -> str:
        return f"<version scheme {self.name}>"
