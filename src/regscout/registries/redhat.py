"""Red Hat's registries: registry.redhat.io (login needed) and registry.access.redhat.com (anonymous).

Neither has a catalog, so the repositories to watch are configured. Nobody can push to them, so
the rights verdict needs no probe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .base import RegistryAdapter, Rights, RightsReport
from .errors import NotFoundError, RegistryError

PROBE_REPOSITORY = "ubi9/ubi"


class RedHatRegistry(RegistryAdapter):
    type_name = "redhat"
    label = "Red Hat registry (registry.redhat.io, registry.access.redhat.com)"
    default_url = "https://registry.redhat.io"
    auth_kinds = ("anonymous", "password", "token")
    has_catalog = False
    least_rights = (
        "Any Red Hat account or Registry Service Account (user name `<account number>|<name>`) can pull; "
        "nobody can push. registry.access.redhat.com needs no credentials."
    )

    async def first_repository(self) -> str:
        return self.options.repositories[0] if self.options.repositories else PROBE_REPOSITORY

    async def read_probe(self) -> str:
        repository = await self.first_repository()
        try:
            first = None
            async for tag in self.client.tags(repository, page_size=1):
                first = tag
                break
        except NotFoundError as error:
            raise NotFoundError(
                f"repository {repository} does not exist on this registry",
                url=error.url,
                http_status=error.http_status,
                hint="Check the repositories option; names are listed at catalog.redhat.com (e.g. ubi9/ubi)",
            ) from None
        if first is None:
            return f"{repository} has no tags"
        return f"read tags of {repository} (first: {first})"

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if not self.options.repositories:
            raise RegistryError(
                "the Red Hat registry has no catalog: the repositories to watch must be listed",
                reason="repositories_required",
                hint="Set the repositories option, e.g. -o repositories=ubi9/ubi,ubi9/ubi-minimal",
            )
        for name in self.options.repositories:
            yield name

    async def rights(self) -> RightsReport:
        return RightsReport(Rights.READ_ONLY, "registry.redhat.io is read-only for every account")
