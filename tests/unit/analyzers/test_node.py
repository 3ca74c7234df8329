from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.node import NodeAnalyzer
from tests.harness.lang_fixtures import captured, tree

APP = "srv/app/node_modules"


def manifest(document: Any, path: str = f"{APP}/demo/package.json") -> list[tuple[str, str, tuple[str, ...]]]:
    result = NodeAnalyzer().analyze([captured(json.dumps(document).encode(), path)])
    return [(p.name, p.version, p.licenses) for p in result.packages]


def test_real_npm_install_tree() -> None:
    analyzer = NodeAnalyzer()
    files = [f for f in tree("node") if analyzer.wants(f.path)]
    result = analyzer.analyze(files)
    assert result.warnings == []
    found = {(p.location, p.name, p.version, p.licenses, p.purl) for p in result.packages}
    assert found == {
        (f"{APP}/ms/package.json", "ms", "2.1.3", ("MIT",), "pkg:npm/ms@2.1.3"),
        (f"{APP}/debug/package.json", "debug", "2.6.9", ("MIT",), "pkg:npm/debug@2.6.9"),
        (f"{APP}/debug/node_modules/ms/package.json", "ms", "2.0.0", ("MIT",), "pkg:npm/ms@2.0.0"),
        (f"{APP}/exit/package.json", "exit", "0.1.2", ("MIT",), "pkg:npm/exit@0.1.2"),
        (f"{APP}/json-schema/package.json", "json-schema", "0.2.3", ("AFLv2.1", "BSD"), "pkg:npm/json-schema@0.2.3"),
        (
            f"{APP}/@isaacs/string-locale-compare/package.json",
            "@isaacs/string-locale-compare",
            "1.1.0",
            ("ISC",),
            "pkg:npm/%40isaacs/string-locale-compare@1.1.0",
        ),
    }
    assert {p.ecosystem for p in result.packages} == {"npm"}


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("srv/app/package.json", False),  # the application itself, not a dependency
        (f"{APP}/ms/package.json", True),
        (f"{APP}/@isaacs/string-locale-compare/package.json", True),
        (f"{APP}/debug/node_modules/ms/package.json", True),
        (f"{APP}/ms/test/fixtures/package.json", False),
        (f"{APP}/debug/lib/package.json", False),
        (f"{APP}/@isaacs/package.json", False),
        (f"{APP}/.bin/package.json", False),
        (f"{APP}/.pnpm/ms@2.1.3/node_modules/ms/package.json", True),
        (f"{APP}/@/x/package.json", False),
        ("usr/local/lib/node_modules/npm/node_modules/semver/package.json", True),
        ("node_modules/package.json", False),
        (f"{APP}/ms/package.json.bak", False),
    ],
)
def test_wants_only_package_roots(path: str, wanted: bool) -> None:
    assert NodeAnalyzer().wants(path) is wanted


@pytest.mark.parametrize(
    ("document", "licenses"),
    [
        ({"license": "(MIT OR Apache-2.0)"}, ("(MIT OR Apache-2.0)",)),
        ({"license": {"type": "BSD-3-Clause", "url": "https://example.org"}}, ("BSD-3-Clause",)),
        ({"licenses": [{"type": "MIT"}, "ISC", {"url": "no type"}, 7]}, ("MIT", "ISC")),
        ({"license": "MIT", "licenses": [{"type": "GPL"}]}, ("MIT",)),
        ({"license": ["MIT"]}, ()),
        ({}, ()),
    ],
)
def test_licence_forms(document: dict[str, Any], licenses: tuple[str, ...]) -> None:
    assert manifest({"name": "demo", "version": "1.0.0", **document}) == [("demo", "1.0.0", licenses)]


@pytest.mark.parametrize(
    "document",
    [
        {"name": "demo"},
        {"version": "1.0.0"},
        {"name": "", "version": "1.0.0"},
        {"name": "demo", "version": 1},
        {"name": "@scope/", "version": "1.0.0"},
        {"name": "bad name", "version": "1.0.0"},
        ["not", "an", "object"],
        "string",
    ],
)
def test_unusable_manifests_are_warnings(document: Any) -> None:
    result = NodeAnalyzer().analyze([captured(json.dumps(document).encode(), f"{APP}/demo/package.json")])
    assert result.packages == []
    assert len(result.warnings) == 1


def test_deeply_nested_json_is_a_warning() -> None:
    data = b"[" * 100_000 + b"]" * 100_000
    result = NodeAnalyzer().analyze([captured(data, f"{APP}/demo/package.json")])
    assert result.packages == [] and len(result.warnings) == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = NodeAnalyzer().analyze([captured(data, f"{APP}/demo/package.json")])
    assert len(result.packages) + len(result.warnings) == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.text(max_size=20), JSON, JSON)
def test_random_manifests_never_raise(name: str, version: str, license_: Any, licenses: Any) -> None:
    document = {"name": name, "version": version, "license": license_, "licenses": licenses}
    data = json.dumps(document).encode("utf-8", "surrogatepass")
    result = NodeAnalyzer().analyze([captured(data, f"{APP}/demo/package.json")])
    assert len(result.packages) + len(result.warnings) == 1
