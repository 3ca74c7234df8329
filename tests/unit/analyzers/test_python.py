from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.python import PythonAnalyzer, normalize_name
from tests.harness.lang_fixtures import captured, tree

SITE = "usr/local/lib/python3.11/site-packages"
DIST = "usr/lib/python3/dist-packages"


def analyze_tree() -> dict[str, tuple[str, str, tuple[str, ...], str]]:
    analyzer = PythonAnalyzer()
    files = [f for f in tree("python") if analyzer.wants(f.path)]
    result = analyzer.analyze(files)
    assert result.warnings == []
    return {p.location: (p.name, p.version, p.licenses, p.purl) for p in result.packages}


def test_real_wheels_and_debian_egg_info() -> None:
    assert analyze_tree() == {
        f"{SITE}/six-1.16.0.dist-info/METADATA": ("six", "1.16.0", ("MIT",), "pkg:pypi/six@1.16.0"),
        f"{SITE}/typing_extensions-4.14.1.dist-info/METADATA": (
            "typing_extensions",
            "4.14.1",
            ("PSF-2.0",),
            "pkg:pypi/typing-extensions@4.14.1",
        ),
        f"{SITE}/zope_interface-8.7.dist-info/METADATA": (
            "zope.interface",
            "8.7",
            ("ZPL-2.1",),
            "pkg:pypi/zope.interface@8.7",
        ),
        f"{SITE}/packaging-25.0.dist-info/METADATA": (
            "packaging",
            "25.0",
            ("Apache Software License", "BSD License"),
            "pkg:pypi/packaging@25.0",
        ),
        f"{SITE}/idna-3.10.dist-info/METADATA": ("idna", "3.10", ("BSD License",), "pkg:pypi/idna@3.10"),
        f"{SITE}/tiny_egg.demo-0.3.1-py3.11.egg/EGG-INFO/PKG-INFO": (
            "tiny-egg.demo",
            "0.3.1",
            ("BSD-3-Clause",),
            "pkg:pypi/tiny-egg.demo@0.3.1",
        ),
        f"{DIST}/PyYAML-6.0.dist-info/METADATA": ("PyYAML", "6.0", ("MIT",), "pkg:pypi/pyyaml@6.0"),
        f"{DIST}/six-1.16.0.egg-info/PKG-INFO": ("six", "1.16.0", ("MIT",), "pkg:pypi/six@1.16.0"),
        f"{DIST}/python_apt-2.6.0.egg-info/PKG-INFO": (
            "python-apt",
            "2.6.0",
            ("GNU GPL",),
            "pkg:pypi/python-apt@2.6.0",
        ),
        f"{DIST}/gpg-1.18.0-py3.11.egg-info": (
            "gpg",
            "1.18.0",
            ("LGPL2.1+ (the library), GPL2+ (tests and examples)",),
            "pkg:pypi/gpg@1.18.0",
        ),
        f"{DIST}/pycairo-1.20.1.egg-info": (
            "pycairo",
            "1.20.1",
            ("LGPL-2.1-only OR MPL-1.1",),
            "pkg:pypi/pycairo@1.20.1",
        ),
    }


def test_declared_name_kept_and_normalised_form_in_extra() -> None:
    data = b"Metadata-Version: 2.1\nName: Zope_Interface.Extra\nVersion: 1.0\n"
    (package,) = PythonAnalyzer().analyze([captured(data, f"{SITE}/z-1.0.dist-info/METADATA")]).packages
    assert package.name == "Zope_Interface.Extra"
    assert dict(package.extra)["normalized_name"] == "zope-interface-extra"
    assert package.ecosystem == "PyPI"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("Friendly-Bard", "friendly-bard"), ("FRIENDLY_BARD", "friendly-bard"), ("friendly.._-bard", "friendly-bard")],
)
def test_pep503_normalisation(raw: str, normalized: str) -> None:
    assert normalize_name(raw) == normalized


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        (f"{SITE}/six-1.16.0.dist-info/METADATA", True),
        (f"{SITE}/six-1.16.0.dist-info/RECORD", False),
        (f"{SITE}/.dist-info/METADATA", False),
        ("METADATA", False),
        (f"{SITE}/foo/METADATA", False),
        (f"{DIST}/six-1.16.0.egg-info/PKG-INFO", True),
        (f"{DIST}/six-1.16.0.egg-info/SOURCES.txt", False),
        (f"{DIST}/gpg-1.18.0-py3.11.egg-info", True),
        (f"{DIST}/.egg-info", False),
        (f"{SITE}/x-1.0-py3.11.egg/EGG-INFO/PKG-INFO", True),
        ("EGG-INFO/PKG-INFO", True),
        (f"{SITE}/sdist-1.0/PKG-INFO", False),
    ],
)
def test_wants(path: str, wanted: bool) -> None:
    assert PythonAnalyzer().wants(path) is wanted


@pytest.mark.parametrize(
    ("headers", "licenses"),
    [
        ("License-Expression: MIT OR Apache-2.0\nLicense: BSD\n", ("MIT OR Apache-2.0",)),
        ("License: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\n", ("MIT License",)),
        ("License: Copyright (c) Someone\n        Permission is hereby granted\n", ()),
        (
            "License: " + "x" * 300 + "\nClassifier: License :: OSI Approved :: ISC License (ISCL)\n",
            ("ISC License (ISCL)",),
        ),
        ("Classifier: License :: OSI Approved\nClassifier: Programming Language :: Python\n", ()),
    ],
)
def test_licence_priority(headers: str, licenses: tuple[str, ...]) -> None:
    data = f"Metadata-Version: 2.4\nName: demo\nVersion: 1.0\n{headers}\nlong description\n".encode()
    (package,) = PythonAnalyzer().analyze([captured(data, f"{SITE}/demo-1.0.dist-info/METADATA")]).packages
    assert package.licenses == licenses


def test_headers_stop_at_the_body() -> None:
    data = b"Name: demo\nVersion: 1.0\n\nLicense: not a header, part of the description\n"
    (package,) = PythonAnalyzer().analyze([captured(data, f"{SITE}/demo-1.0.dist-info/METADATA")]).packages
    assert package.licenses == ()


def test_non_ascii_values_are_decoded_as_utf8() -> None:
    data = "Name: demo\nVersion: 1.0\nLicense: Licence française\n".encode()
    (package,) = PythonAnalyzer().analyze([captured(data, f"{SITE}/demo-1.0.dist-info/METADATA")]).packages
    assert package.licenses == ("Licence française",)


@pytest.mark.parametrize(
    "data", [b"", b"Name: demo\n", b"Version: 1.0\n", b"\x00\xff\xfe garbage", b"Name:\nVersion:\n"]
)
def test_incomplete_metadata_is_a_warning(data: bytes) -> None:
    result = PythonAnalyzer().analyze([captured(data, f"{SITE}/demo-1.0.dist-info/METADATA")])
    assert result.packages == []
    assert len(result.warnings) == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = PythonAnalyzer().analyze([captured(data, f"{SITE}/demo-1.0.dist-info/METADATA")])
    assert len(result.packages) + len(result.warnings) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=200))
def test_random_header_values_never_raise(name: str, version: str, licence: str) -> None:
    data = f"Name: {name}\nVersion: {version}\nLicense: {licence}\n".encode("utf-8", "surrogatepass")
    result = PythonAnalyzer().analyze([captured(data, f"{SITE}/demo-1.0.dist-info/METADATA")])
    assert len(result.packages) + len(result.warnings) == 1
