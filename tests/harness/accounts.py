"""Registry accounts shared by the registry launcher and the token issuer."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Account"]


@dataclass
class Account:
    """A registry user.

    ``actions`` are the repository actions the user may perform on *every* repository
    (``pull``, ``push``, ``delete``, or ``*``). ``catalog`` grants ``registry:catalog:*``
    (token mode only: htpasswd auth has no authorisation, every valid user can do everything).
    """

    password: str
    actions: frozenset[str] = frozenset({"pull"})
    catalog: bool = True

    @property
    def can_push(self) -> bool:
        return "push" in self.actions or "*" in self.actions
