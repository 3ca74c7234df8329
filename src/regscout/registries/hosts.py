"""Which registry type a host is, from its name alone: for integrations created from existing pull credentials
(`regscout registry import`). The first pattern that matches decides; anything else is a plain registry."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .docker_config import DOCKER_HUB


@dataclass(frozen=True)
class HostType:
    type: str
    vendor: str


_HOSTS: tuple[tuple[re.Pattern[str], HostType], ...] = tuple(
    (re.compile(pattern), HostType(type_name, vendor))
    for pattern, type_name, vendor in (
        (re.escape(DOCKER_HUB), "docker-hub", "Docker Hub"),
        (r"registry\.gitlab\.com|gitlab\.com", "gitlab", "GitLab.com"),
        (r"quay\.io", "quay", "quay.io"),
        (r"ghcr\.io", "ghcr", "GitHub Container Registry"),
        (r"registry\.redhat\.io|registry\.access\.redhat\.com|registry\.connect\.redhat\.com", "redhat", "Red Hat"),
        (r"[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?", "ecr", "Amazon ECR"),
        (r"public\.ecr\.aws", "ecr-public", "Amazon ECR Public"),
        (r"[a-z0-9-]+-docker\.pkg\.dev", "gar", "Google Artifact Registry"),
        (r"(?:[a-z]+\.)?gcr\.io", "gcr", "Google Container Registry"),
        (r"[a-z0-9]+\.azurecr\.(?:io|cn|us)", "acr", "Azure Container Registry"),
        (r"cr\.yandex|cr\.cloud\.yandex\.net", "yandex", "Yandex Container Registry"),
        (r"(?:[a-z]+\.)?icr\.io", "ibm", "IBM Cloud Container Registry"),
        (r"[a-z0-9-]+\.jfrog\.io", "artifactory", "JFrog Artifactory SaaS"),
        (r"(?:default-route-openshift-image-registry\.apps\..+|image-registry\.openshift-image-registry\.svc(?::\d+)?)",
         "openshift", "OpenShift"),
    )
)  # fmt: skip

GENERIC = HostType("docker-registry", "a Docker Registry v2 / OCI registry")


def host_type(host: str) -> HostType:
    """The type of the registry at `host` (`name[:port]`, lower case)."""
    name = host.lower()
    return next((kind for pattern, kind in _HOSTS if pattern.fullmatch(name)), GENERIC)
