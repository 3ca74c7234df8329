"""Licences in SBOMs: any mix of declared licence texts gives CycloneDX 1.6 and SPDX 2.3 documents that their
official validators accept, and keeps every licence that was declared."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.dpkg import SPDX_NAMES
from regscout.analysis.details import ImageDetails, LayerDetail
from regscout.analysis.image import AnalysisStats, ImageReport
from regscout.analysis.licenses import Kind, SpdxLicenses, classify, cyclonedx_choice
from regscout.analysis.merge import FoundPackage, Inventory, LayerRef
from regscout.analysis.model import OSRelease, Package
from regscout.analysis.sbom import cyclonedx, spdx
from tests.harness.validators import cyclonedx_problems, spdx_problems

SPDX_IDS = [
    "MIT", "Apache-2.0", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-2.0+", "LGPL-2.1+", "BSD-3-Clause", "ISC",
    "Zlib", "MPL-2.0", "CC0-1.0", "Artistic-1.0-Perl", "GPL-3.0-or-later", "0BSD", "Unlicense", "X11",
    "mit", "apache-2.0", "bsd-2-clause", "GPL-2.0-with-classpath-exception", "eCos-2.0", "wxWindows",
]  # fmt: skip
EXCEPTIONS = ["Classpath-exception-2.0", "LLVM-exception", "GCC-exception-3.1", "Autoconf-exception-3.0"]
# What real packages declare that is not SPDX: rpm's Fedora names, Debian short names, prose, junk.
NAMES = [
    "GPLv2+", "GPLv2+ and LGPLv2+", "BSD", "Public Domain", "public-domain", "Artistic", "MIT-US", "GPL v2",
    "GPL/v2", "SEE LICENSE IN LICENSE.txt", "UNKNOWN", "Apache 2.0", "Copyright (c) 2024 Example Corp",
    "(MIT", "MIT AND", "MIT OR LicenseRef-x", "DocumentRef-a:LicenseRef-b", "GPL-2.0-only WITH MIT",
]  # fmt: skip

ids = st.sampled_from(SPDX_IDS)
refs = st.from_regex(r"LicenseRef-[A-Za-z0-9.-]{1,20}", fullmatch=True)


def _expressions() -> st.SearchStrategy[str]:
    simple = ids | st.builds(lambda i, e: f"{i} WITH {e}", ids, st.sampled_from(EXCEPTIONS))
    return st.recursive(
        simple,
        lambda inner: st.builds(
            lambda a, op, b, wrap: f"({a} {op} {b})" if wrap else f"{a} {op} {b}",
            inner,
            st.sampled_from(["AND", "OR", "and", "or"]),
            inner,
            st.booleans(),
        ),
        max_leaves=4,
    )


licence_text = st.one_of(
    ids,
    _expressions(),
    refs,
    st.sampled_from(NAMES),
    st.sampled_from(sorted(SPDX_NAMES)),
    st.text(max_size=30),  # anything at all: unicode, control characters, blanks, empty
    st.just(""),
)


@st.composite
def declared_licences(draw: st.DrawFn) -> tuple[str, ...]:
    """A package's declared licences, often with duplicates (as Debian copyright files repeat them)."""
    pool = draw(st.lists(licence_text, max_size=5))
    if not pool:
        return ()
    return tuple(draw(st.lists(st.sampled_from(pool), max_size=7)))


def _report(licences: list[tuple[str, ...]]) -> ImageReport:
    layer = LayerRef(0, "sha256:" + "a" * 64, "sha256:" + "b" * 64, "ADD rootfs.tar /")
    packages = [
        FoundPackage(
            Package(
                name=f"pkg{n}",
                version="1.0-1",
                ecosystem="deb",
                purl=f"pkg:deb/debian/pkg{n}@1.0-1?arch=amd64&distro=debian-12",
                location="var/lib/dpkg/status",
                licenses=declared,
            ),
            layer,
        )
        for n, declared in enumerate(licences)
    ]
    details = ImageDetails(
        repository="library/licences",
        reference="1",
        digest="sha256:" + "c" * 64,
        media_type="application/vnd.oci.image.manifest.v1+json",
        index_digest=None,
        platform="linux/amd64",
        config_digest="sha256:" + "d" * 64,
        created=datetime(2024, 1, 2, tzinfo=UTC),
        total_size=10,
        layers=[LayerDetail(0, layer.digest, layer.diff_id, 10, "application/vnd.oci.image.layer.v1.tar+gzip")],
    )
    inventory = Inventory(OSRelease("debian", "12", pretty_name="Debian GNU/Linux 12 (bookworm)"), packages)
    return ImageReport(details, inventory, AnalysisStats(), {"dpkg": 1})


E2FSPROGS = ("GPL-2.0-or-later", "LGPL-2.0-only", "BSD-3-Clause", "MIT-US", "LGPL-2.0-or-later OR BSD-3-Clause")


@settings(max_examples=150, deadline=None)
@given(st.lists(declared_licences(), min_size=1, max_size=5))
@example([E2FSPROGS])  # what e2fsprogs 1.47.0 declares in bookworm: ids, a name and an expression together
@example([("GPL-2.0-or-later OR MIT", "LicenseRef-public-domain"), ("LicenseRef-public-domain",), ()])
@example([("GPL v2", "GPL/v2", "GPL v2 ")])
def test_every_mix_validates_in_both_formats(licences: list[tuple[str, ...]]) -> None:
    report = _report(licences)

    cdx_text = cyclonedx(report, "registry.example")
    assert cyclonedx_problems(cdx_text) == []
    spdx_text = spdx(report, "registry.example")
    assert spdx_problems(spdx_text) == []

    components = {c["name"]: c for c in json.loads(cdx_text)["components"]}
    spdx_doc = json.loads(spdx_text)
    spdx_packages = {p["name"]: p for p in spdx_doc["packages"]}
    extracted_names = {info["name"] for info in spdx_doc.get("hasExtractedLicensingInfos", [])}
    for number, declared in enumerate(licences):
        entries = components[f"pkg{number}"].get("licenses", [])
        # never an expression beside other licences
        assert len(entries) <= 1 or all("license" in entry for entry in entries)
        cdx_names = {entry["license"].get("name") for entry in entries if "license" in entry}
        declared_terms = [t for text in declared if (t := classify(text)) is not None]
        assert bool(entries) == bool(declared_terms)
        assert (spdx_packages[f"pkg{number}"]["licenseDeclared"] == "NOASSERTION") == (not declared_terms)
        for term in declared_terms:  # a name that is not SPDX is kept, as declared, in both documents
            if term.kind is Kind.NAME:
                assert term.text in cdx_names
                assert term.text in extracted_names


def test_e2fsprogs_is_one_list_in_cyclonedx_and_one_expression_in_spdx() -> None:
    choice = cyclonedx_choice(E2FSPROGS)
    assert choice.expression is None
    assert choice.licences == (
        ("id", "GPL-2.0-or-later"),
        ("id", "LGPL-2.0-only"),
        ("id", "BSD-3-Clause"),
        ("name", "MIT-US"),
        ("name", "LGPL-2.0-or-later OR BSD-3-Clause"),
    )
    licenses = SpdxLicenses()
    assert licenses.declared(E2FSPROGS) == (
        "GPL-2.0-or-later AND LGPL-2.0-only AND BSD-3-Clause AND LicenseRef-MIT-US "
        "AND (LGPL-2.0-or-later OR BSD-3-Clause)"
    )
    assert licenses.extracted == {"LicenseRef-MIT-US": "MIT-US"}


def test_valid_spdx_only_becomes_one_expression_and_plain_ids_stay_a_list() -> None:
    assert cyclonedx_choice(["GPL-2.0+", "MIT OR Apache-2.0", "mit"]).expression == (
        "GPL-2.0-or-later AND (MIT OR Apache-2.0) AND MIT"
    )
    assert cyclonedx_choice(["MIT", "mit", " MIT "]).licences == (("id", "MIT"),)
    assert cyclonedx_choice(["LicenseRef-public-domain", "Zlib"]).licences == (
        ("name", "LicenseRef-public-domain"),
        ("id", "Zlib"),
    )
    assert cyclonedx_choice(["", "  "]) == cyclonedx_choice([])


def test_names_that_sanitise_alike_get_distinct_references() -> None:
    licenses = SpdxLicenses()
    first, second = licenses.declared(["GPL v2"]), licenses.declared(["GPL/v2"])
    assert first != second and first.startswith("LicenseRef-GPL-v2-") and second.startswith("LicenseRef-GPL-v2-")
    assert sorted(licenses.extracted.values()) == ["GPL v2", "GPL/v2"]
