"""Merge per-layer results into the image's inventory, applying the OCI layer semantics.

Layers are applied bottom to top. Before a layer's own results go in, everything it removes from
the layers below is taken out: whiteouts, opaque directories (which apply before the layer's own
entries wherever the marker sits), and files below a path the layer replaced with a file or a
symlink. A package database found again in an upper layer replaces the lower one wholesale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from packageurl import PackageURL

from .analyzers.apk import apk_purl
from .analyzers.dpkg import deb_purl
from .analyzers.rpm import rpm_purl
from .layer import LayerStructure
from .model import AnalyzerResult, OSRelease, Package, package_from_json, package_to_json

OS_ECOSYSTEMS = frozenset({"deb", "apk", "rpm"})


@dataclass(frozen=True)
class LayerRef:
    index: int
    digest: str
    diff_id: str
    created_by: str = ""


@dataclass(frozen=True)
class FoundPackage:
    package: Package
    layer: LayerRef  # the layer that first brought this exact package at this location


@dataclass
class Inventory:
    os: OSRelease | None
    packages: list[FoundPackage]
    warnings: list[str] = field(default_factory=list)
    owned_by_os: int = 0  # language packages dropped because an OS package owns their files


@dataclass
class _Entry:
    layer: LayerRef
    packages: list[Package]


def merge_layers(layers: list[tuple[LayerRef, LayerStructure, dict[str, AnalyzerResult]]]) -> Inventory:
    accumulated: dict[tuple[str, str], _Entry] = {}  # (analyzer, location) -> what is there now
    first_seen: dict[tuple[str, str, str, str, str], LayerRef] = {}
    os_by_layer: list[tuple[LayerRef, OSRelease]] = []
    warnings: list[str] = []
    owned: set[str] = set()  # files that OS packages own, for language-package de-duplication
    for ref, structure, results in layers:
        for key in [k for k in accumulated if structure.hides(k[1])]:
            del accumulated[key]
        warnings.extend(f"layer {ref.index}: {w}" for w in structure.warnings)
        for analyzer, result in results.items():
            warnings.extend(f"layer {ref.index}: {analyzer}: {w}" for w in result.warnings)
            if result.os is not None:
                os_by_layer.append((ref, result.os))
            by_location: dict[str, list[Package]] = {}
            for package in result.packages:
                by_location.setdefault(package.location, []).append(package)
            for location, packages in by_location.items():
                accumulated[(analyzer, location)] = _Entry(ref, packages)
                for package in packages:
                    first_seen.setdefault((analyzer, *package.key()), ref)
            owned |= result.owned_files
    os = _topmost_os(os_by_layer, layers)
    found: list[FoundPackage] = []
    dropped = 0
    for (analyzer, _location), entry in accumulated.items():
        for package in entry.packages:
            if package.ecosystem not in OS_ECOSYSTEMS and package.location in owned:
                dropped += 1
                continue
            layer = first_seen.get((analyzer, *package.key()), entry.layer)
            found.append(FoundPackage(with_os_purl(package, os), layer))
    found.sort(key=lambda f: (f.package.ecosystem, f.package.name.lower(), f.package.version, f.package.location))
    return Inventory(os, found, warnings, dropped)


def _topmost_os(
    os_by_layer: list[tuple[LayerRef, OSRelease]],
    layers: list[tuple[LayerRef, LayerStructure, dict[str, AnalyzerResult]]],
) -> OSRelease | None:
    """The OS of the highest layer that declares one in a file not removed later. An os-release
    file wins over a distro release file (a later layer touching only etc/debian_version does not
    replace what os-release says)."""
    surviving = []
    for ref, os in os_by_layer:
        later = [structure for r, structure, _ in layers if r.index > ref.index]
        if not os.source or not any(structure.hides(os.source) for structure in later):
            surviving.append(os)
    from_os_release = [os for os in surviving if os.source.endswith("os-release")]
    chosen = from_os_release or surviving
    return chosen[-1] if chosen else None


OS_PURLS: dict[str, Callable[[Package, str | None], str]] = {"deb": deb_purl, "apk": apk_purl, "rpm": rpm_purl}


def with_os_purl(package: Package, os: OSRelease | None) -> Package:
    """OS packages get the distro's namespace (each ecosystem's own rule) and a `distro=`
    qualifier once the image's OS is known."""
    build = OS_PURLS.get(package.ecosystem)
    if build is None or os is None:
        return package
    try:
        purl = PackageURL.from_string(build(package, os.id))
    except ValueError:
        return package
    qualifiers = dict(purl.qualifiers or {})
    qualifiers["distro"] = f"{os.id}-{os.version_id}" if os.version_id else os.id
    updated = PackageURL(purl.type, purl.namespace, purl.name, purl.version, qualifiers, purl.subpath)
    return replace(package, purl=updated.to_string())


def inventory_to_json(inventory: Inventory) -> dict[str, Any]:
    """What re-matching needs later without pulling anything: the OS and every package with its layer."""
    os = inventory.os
    return {
        "os": None if os is None else {**os.__dict__, "id_like": list(os.id_like)},
        "packages": [{**package_to_json(f.package), "layer": dict(f.layer.__dict__)} for f in inventory.packages],
        "warnings": inventory.warnings,
        "owned_by_os": inventory.owned_by_os,
    }


def inventory_from_json(data: dict[str, Any]) -> Inventory:
    os_data = data.get("os")
    os = OSRelease(**{**os_data, "id_like": tuple(os_data.get("id_like", ()))}) if os_data else None
    packages = []
    layers: dict[tuple[Any, ...], LayerRef] = {}  # an image has a few layers and hundreds of packages
    for entry in data.get("packages", []):
        fields = {k: v for k, v in entry.items() if k != "layer"}
        layer_data = entry["layer"]
        key = tuple(layer_data.values())
        layer = layers.get(key)
        if layer is None:
            layer = layers[key] = LayerRef(**layer_data)
        packages.append(FoundPackage(package_from_json(fields), layer))
    return Inventory(os, packages, list(data.get("warnings", [])), int(data.get("owned_by_os", 0)))
