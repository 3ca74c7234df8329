"""Builders for the policy tests: Finding, Inventory, ImageDetails and Subject objects made directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from regscout.analysis.details import ImageDetails
from regscout.analysis.merge import FoundPackage, Inventory, LayerRef
from regscout.analysis.model import OSRelease, Package
from regscout.policy import Criteria, Policy, Subject
from regscout.vulndb.matcher import Finding

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
LAYER = LayerRef(0, "sha256:" + "a" * 64, "sha256:" + "b" * 64, "ADD rootfs.tar /")
DIGEST = "sha256:" + "c" * 64

OPENSSL = Package(
    "libssl3",
    "3.0.1-1",
    "deb",
    "pkg:deb/debian/libssl3@3.0.1-1?arch=amd64&distro=debian-12",
    "var/lib/dpkg/status",
    source_name="openssl",
    source_version="3.0.1-1",
    licenses=("Apache-2.0",),
)
REQUESTS = Package(
    "requests",
    "2.25.1",
    "PyPI",
    "pkg:pypi/requests@2.25.1",
    "usr/lib/python3/dist-packages/requests-2.25.1.dist-info/METADATA",
    licenses=("Apache-2.0",),
)
LOG4J = Package(
    "org.apache.logging.log4j:log4j-core",
    "2.14.1",
    "Maven",
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    "app/lib/log4j-core-2.14.1.jar",
    licenses=("Apache-2.0",),
)
READLINE = Package(
    "libreadline8",
    "8.2-1",
    "deb",
    "pkg:deb/debian/libreadline8@8.2-1?arch=amd64&distro=debian-12",
    "var/lib/dpkg/status",
    source_name="readline",
    licenses=("GPL-3.0-or-later",),
)
PACKAGES = (OPENSSL, REQUESTS, LOG4J, READLINE)


def finding(
    ident: str = "CVE-2024-0001",
    package: Package = OPENSSL,
    *,
    severity: str = "HIGH",
    score: float | None = 7.5,
    fixed: Sequence[str] = ("3.0.13-1",),
    fix_state: str | None = None,
    aliases: Sequence[str] = (),
    advisories: Sequence[str] | None = None,
    lookup: str | None = None,
) -> Finding:
    lookups = {"deb": "Debian:12", "apk": "Alpine:v3.19", "rpm": "Red Hat:enterprise_linux:9::baseos"}
    return Finding(
        id=ident,
        advisories=tuple(advisories) if advisories is not None else (ident,),
        aliases=tuple(aliases),
        package=package.name,
        version=package.version,
        ecosystem=package.ecosystem,
        purl=package.purl,
        lookup_ecosystem=lookup or lookups.get(package.ecosystem, package.ecosystem),
        source_package=package.source_name if package.ecosystem in ("deb", "apk", "rpm") else None,
        fixed_versions=tuple(fixed),
        fix_state=fix_state or ("fixed" if fixed else "not fixed"),
        severity=severity,
        score=score,
        vector=None,
        severity_source="cvss_v3" if score is not None else "vendor",
        cwe_ids=(),
        summary="",
        links=(),
        layer_index=LAYER.index,
        layer_digest=LAYER.digest,
        layer_diff_id=LAYER.diff_id,
        layer_created_by=LAYER.created_by,
        location=package.location,
    )


def details(**overrides: Any) -> ImageDetails:
    base = ImageDetails(
        repository="team/app",
        reference="v1.2.0",
        digest=DIGEST,
        media_type="application/vnd.oci.image.manifest.v1+json",
        index_digest=None,
        platform="linux/amd64",
        config_digest="sha256:" + "d" * 64,
        created=datetime(2026, 1, 10, tzinfo=UTC),
        total_size=1000,
        layers=[],
        user="app",
        env={"PATH": "/usr/bin"},
        exposed_ports=["8080/tcp"],
        labels={"org.opencontainers.image.source": "https://example.com/app"},
        dockerfile=["ADD rootfs.tar /", "RUN apt-get update", 'CMD ["app"]'],
    )
    return replace(base, **overrides)


def inventory(
    packages: Sequence[Package] = PACKAGES, os: OSRelease | None = OSRelease("debian", "12", name="Debian GNU/Linux")
) -> Inventory:
    return Inventory(os, [FoundPackage(p, LAYER) for p in packages])


def subject(
    findings: Sequence[Finding] = (),
    *,
    packages: Sequence[Package] = PACKAGES,
    os: OSRelease | None = OSRelease("debian", "12", name="Debian GNU/Linux"),
    image: ImageDetails | str | None = "default",
    registry: str = "ghcr.io",
    repository: str = "team/app",
    tag: str = "v1.2.0",
    digest: str = DIGEST,
    scanned_at: datetime | None = NOW,
    dates: dict[str, tuple[date | datetime | None, date | datetime | None]] | None = None,
) -> Subject:
    return Subject(
        registry=registry,
        repository=repository,
        tag=tag,
        digest=digest,
        inventory=inventory(packages, os),
        findings=list(findings),
        details=details() if image == "default" else image,  # type: ignore[arg-type]
        scanned_at=scanned_at,
        dates=dates or {},
    )


def policy(name: str = "p", *, action: str = "warn", scope: dict[str, Any] | None = None, **criteria: Any) -> Policy:
    return Policy.model_validate(
        {"name": name, "action": action, "scope": scope or {}, "criteria": Criteria.model_validate(criteria)}
    )


def test_builders_agree_with_each_other() -> None:
    """A finding made for a package refers to that package as the inventory holds it."""
    f = finding(package=LOG4J)
    s = subject([f])
    assert (f.ecosystem, f.package, f.version, f.location) == LOG4J.key()
    assert [p.package for p in s.inventory.packages] == list(PACKAGES)
    assert s.details is not None and s.details.digest == s.digest
