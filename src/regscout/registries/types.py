"""The registry type table: the one place that lists the types regscout supports."""

from __future__ import annotations

from .base import RegistryAdapter
from .dockerhub import DockerHubRegistry
from .generic import GenericRegistry
from .openshift import OpenShiftRegistry
from .redhat import RedHatRegistry

REGISTRY_TYPES: dict[str, type[RegistryAdapter]] = {
    adapter.type_name: adapter for adapter in (GenericRegistry, DockerHubRegistry, RedHatRegistry, OpenShiftRegistry)
}


class UnknownRegistryType(ValueError):
    pass


def adapter_class(type_name: str) -> type[RegistryAdapter]:
    try:
        return REGISTRY_TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY_TYPES))
        raise UnknownRegistryType(f"unknown registry type {type_name!r}; known types: {known}") from None
