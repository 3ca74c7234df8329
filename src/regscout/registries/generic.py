"""Any Docker Registry v2 / OCI Distribution registry (CNCF distribution, Zot, registry mirrors)."""

from __future__ import annotations

from .base import RegistryAdapter


class GenericRegistry(RegistryAdapter):
    type_name = "docker-registry"
    label = "Docker Registry v2 / OCI registry"
    auth_kinds = ("anonymous", "password", "token")
    least_rights = (
        "With token authentication: an account granted only `pull` on the repositories to watch, "
        "plus `registry:catalog:*` if the catalog should be listed (otherwise set the "
        "`repositories` option). With htpasswd there are no per-user rights: any account can push."
    )
