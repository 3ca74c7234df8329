"""SBOM documents for an analysed image: CycloneDX 1.6 JSON, SPDX 2.3 JSON, and regscout's JSON."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from .. import __version__
from ..jsonable import plain
from .image import ImageReport
from .licenses import SpdxLicenses, cyclonedx_choice
from .merge import OS_ECOSYSTEMS, FoundPackage

FORMATS = ("cyclonedx", "spdx", "json")


def image_purl(report: ImageReport, registry_host: str) -> str:
    details = report.details
    name = details.repository.rsplit("/", 1)[-1]
    qualifiers = {"repository_url": f"{registry_host}/{details.repository}", "arch": details.platform.split("/")[1]}
    return PackageURL("oci", None, name, details.digest, qualifiers).to_string()


def _properties(found: FoundPackage) -> list[Property]:
    package = found.package
    properties = [
        Property(name="regscout:ecosystem", value=package.ecosystem),
        Property(name="regscout:location", value=package.location),
        Property(name="regscout:layer:digest", value=found.layer.digest),
        Property(name="regscout:layer:diff_id", value=found.layer.diff_id),
    ]
    if package.source_name:
        properties.append(Property(name="regscout:source:name", value=package.source_name))
    if package.source_version:
        properties.append(Property(name="regscout:source:version", value=package.source_version))
    return properties


def cyclonedx_licenses(declared: tuple[str, ...]) -> list[License]:
    choice = cyclonedx_choice(declared)
    if choice.expression is not None:
        return [LicenseExpression(choice.expression)]
    return [
        DisjunctiveLicense(id=value) if kind == "id" else DisjunctiveLicense(name=value)
        for kind, value in choice.licences
    ]


def cyclonedx_bom(report: ImageReport, registry_host: str) -> tuple[Bom, list[Component]]:
    """The BOM, and the component of each package in inventory order (for attaching vulnerabilities)."""
    details = report.details
    bom = Bom()
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="regscout", version=__version__))
    root = Component(
        type=ComponentType.CONTAINER,
        name=details.repository,
        version=details.digest,
        bom_ref=details.digest,
        purl=PackageURL.from_string(image_purl(report, registry_host)),
        properties=[Property(name="regscout:platform", value=details.platform)],
    )
    bom.metadata.component = root
    components: list[Component] = []
    package_components: list[Component] = []
    if report.inventory.os is not None:
        os = report.inventory.os
        os_component = Component(
            type=ComponentType.OPERATING_SYSTEM,
            name=os.id,
            version=os.version_id or None,
            bom_ref=f"os:{os.id}:{os.version_id}",
            description=os.pretty_name or None,
        )
        bom.components.add(os_component)
        components.append(os_component)
    for number, found in enumerate(report.inventory.packages):
        package = found.package
        try:
            purl = PackageURL.from_string(package.purl)
        except ValueError:
            purl = None
        component = Component(
            type=ComponentType.LIBRARY if package.ecosystem not in OS_ECOSYSTEMS else ComponentType.APPLICATION,
            name=package.name,
            version=package.version or None,
            purl=purl,
            bom_ref=f"{package.purl}#{number}",
            licenses=cyclonedx_licenses(package.licenses),
            properties=_properties(found),
        )
        bom.components.add(component)
        components.append(component)
        package_components.append(component)
    bom.register_dependency(root, components)
    return bom, package_components


def cyclonedx(report: ImageReport, registry_host: str) -> str:
    bom, _ = cyclonedx_bom(report, registry_host)
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def _spdx_id(text: str) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")[:120]


def spdx(report: ImageReport, registry_host: str) -> str:
    details = report.details
    licenses = SpdxLicenses()
    image_id = "SPDXRef-Image"
    packages: list[dict[str, Any]] = [
        {
            "name": details.repository,
            "SPDXID": image_id,
            "versionInfo": details.digest,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "primaryPackagePurpose": "CONTAINER",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": image_purl(report, registry_host),
                }
            ],
        }
    ]
    relationships = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}
    ]
    if report.inventory.os is not None:
        os = report.inventory.os
        packages.append(
            {
                "name": os.id,
                "SPDXID": "SPDXRef-OperatingSystem",
                "versionInfo": os.version_id or "",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "primaryPackagePurpose": "OPERATING_SYSTEM",
            }
        )
        relationships.append(
            {"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-OperatingSystem"}
        )
    for number, found in enumerate(report.inventory.packages):
        package = found.package
        spdx_id = _spdx_id(f"Package-{number}-{package.ecosystem}-{package.name}")
        entry: dict[str, Any] = {
            "name": package.name,
            "SPDXID": spdx_id,
            "versionInfo": package.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": licenses.declared(package.licenses),
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "sourceInfo": f"found in {package.location}, layer {found.layer.index} ({found.layer.diff_id})",
            "externalRefs": [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": package.purl}
            ],
        }
        packages.append(entry)
        relationships.append({"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": spdx_id})
    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{details.repository}@{details.digest}",
        "documentNamespace": f"https://regscout.invalid/spdx/{details.repository}/{details.digest}/{uuid.uuid4()}",
        "creationInfo": {
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: regscout-{__version__}"],
        },
        "packages": packages,
        "relationships": relationships,
    }
    if licenses.extracted:
        document["hasExtractedLicensingInfos"] = licenses.extracted_licensing_infos()
    return json.dumps(document, indent=2)


def native(report: ImageReport) -> dict[str, Any]:
    """regscout's own JSON: details, OS, packages with their layer, cache statistics, warnings."""
    inventory = report.inventory
    return {
        "image": plain(report.details),
        "os": plain(inventory.os),
        "packages": [{**plain(found.package), "layer": plain(found.layer)} for found in inventory.packages],
        "dropped_owned_by_os": inventory.owned_by_os,
        "analyzers": report.analyzers,
        "stats": plain(report.stats),
        "warnings": inventory.warnings,
    }


def render(report: ImageReport, fmt: str, registry_host: str) -> str:
    if fmt == "cyclonedx":
        return cyclonedx(report, registry_host)
    if fmt == "spdx":
        return spdx(report, registry_host)
    if fmt == "json":
        return json.dumps(native(report), indent=2, sort_keys=True)
    raise ValueError(f"unknown SBOM format {fmt!r}; choose one of {', '.join(FORMATS)}")
