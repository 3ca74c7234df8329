"""The registry type table: the one place that lists the types regscout supports."""

from __future__ import annotations

from .artifactory import ArtifactoryRegistry
from .base import RegistryAdapter
from .dockerhub import DockerHubRegistry
from .generic import GenericRegistry
from .ghcr import GhcrRegistry
from .gitlab import GitLabRegistry
from .harbor import HarborRegistry
from .nexus import NexusRegistry
from .openshift import OpenShiftRegistry
from .quay import QuayRegistry
from .redhat import RedHatRegistry

# One entry per line, so that a new type is a one-line change here.
_ADAPTERS: tuple[type[RegistryAdapter], ...] = (
    GenericRegistry,
    DockerHubRegistry,
    RedHatRegistry,
    OpenShiftRegistry,
    HarborRegistry,
    QuayRegistry,
    GhcrRegistry,
    GitLabRegistry,
    NexusRegistry,
    ArtifactoryRegistry,
)

REGISTRY_TYPES: dict[str, type[RegistryAdapter]] = {adapter.type_name: adapter for adapter in _ADAPTERS}


class UnknownRegistryType(ValueError):
    pass


def adapter_class(type_name: str) -> type[RegistryAdapter]:
    try:
        return REGISTRY_TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY_TYPES))
        raise UnknownRegistryType(f"unknown registry type {type_name!r}; known types: {known}") from None
