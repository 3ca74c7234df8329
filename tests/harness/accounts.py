"""Registry accounts shared by the registry launcher and the token issuer."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

__all__ = ["Account"]


@dataclass
class Account:
    """A registry user.

    ``actions`` are the repository actions the user may perform on every repository, or only on those
    matching one of the ``repositories`` glob patterns (fnmatch) when they are given (``pull``, ``push``,
    ``delete``, or ``*``). ``catalog`` grants ``registry:catalog:*`` (token mode only: htpasswd auth has no
    authorisation, every valid user can do everything).
    """

    password: str
    actions: frozenset[str] = frozenset({"pull"})
    catalog: bool = True
    repositories: tuple[str, ...] | None = None

    def actions_on(self, repository: str) -> frozenset[str]:
        if self.repositories is None or any(fnmatch.fnmatchcase(repository, p) for p in self.repositories):
            return self.actions
        return frozenset()

    @property
    def can_push(self) -> bool:
        return "push" in self.actions or "*" in self.actions
