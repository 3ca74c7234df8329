from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.php import PhpAnalyzer
from tests.harness.lang_fixtures import captured, fixture_bytes

INSTALLED = "srv/app/vendor/composer/installed.json"
REAL = fixture_bytes(f"php/{INSTALLED}")  # written by Debian's composer 2.5.5 (path repositories)

EXPECTED = {
    ("acme/greeter", "1.4.2", ("MIT",), "pkg:composer/acme/greeter@1.4.2", (("version_normalized", "1.4.2.0"),)),
    (
        "acme/util",
        "2.0.0-beta.1",
        ("GPL-2.0-only", "MIT"),
        "pkg:composer/acme/util@2.0.0-beta.1",
        (("version_normalized", "2.0.0.0-beta1"),),
    ),
    (
        "acme/testkit",
        "0.9.0",
        ("BSD-3-Clause",),
        "pkg:composer/acme/testkit@0.9.0",
        (("version_normalized", "0.9.0.0"), ("dev", "true")),
    ),
}


def found(
    data: bytes, path: str = INSTALLED
) -> set[tuple[str, str, tuple[str, ...], str, tuple[tuple[str, str], ...]]]:
    result = PhpAnalyzer().analyze([captured(data, path)])
    assert {p.location for p in result.packages} <= {path}
    assert {p.ecosystem for p in result.packages} <= {"Packagist"}
    return {(p.name, p.version, p.licenses, p.purl, p.extra) for p in result.packages}


def test_real_composer2_installed_json() -> None:
    assert found(REAL) == EXPECTED


def test_composer1_bare_array() -> None:
    # Composer 1 wrote the package array alone, with no dev-package-names: nothing is marked dev.
    packages = json.loads(REAL)["packages"]
    undev = {(n, v, lic, purl, tuple(e for e in extra if e[0] != "dev")) for n, v, lic, purl, extra in EXPECTED}
    assert found(json.dumps(packages).encode()) == undev


def test_versions_keep_their_v_prefix() -> None:
    document = {"packages": [{"name": "symfony/console", "version": "v6.4.0", "license": "MIT"}]}
    assert found(json.dumps(document).encode()) == {
        ("symfony/console", "v6.4.0", ("MIT",), "pkg:composer/symfony/console@v6.4.0", ())
    }


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        (INSTALLED, True),
        ("root/.config/composer/vendor/composer/installed.json", True),
        ("srv/app/vendor/composer/installed.php", False),
        ("srv/app/installed.json", False),
        ("srv/app/vendor/mycomposer/installed.json", False),
    ],
)
def test_wants(path: str, wanted: bool) -> None:
    assert PhpAnalyzer().wants(path) is wanted


@pytest.mark.parametrize(
    ("document", "packages", "warnings"),
    [
        ({"packages": [{"name": "novendor", "version": "1.0"}, {"name": "a/b", "version": "1.0"}]}, 1, 1),
        ({"packages": [{"name": "a/b/c", "version": "1.0"}, {"name": "a/b"}, 5]}, 0, 1),
        ({"packages": "nope"}, 0, 1),
        ({"other": []}, 0, 1),
        ("string", 0, 1),
    ],
)
def test_malformed_entries(document: Any, packages: int, warnings: int) -> None:
    result = PhpAnalyzer().analyze([captured(json.dumps(document).encode(), INSTALLED)])
    assert (len(result.packages), len(result.warnings)) == (packages, warnings)


def test_truncated_file_is_a_warning() -> None:
    result = PhpAnalyzer().analyze([captured(REAL[: len(REAL) // 2], INSTALLED)])
    assert result.packages == [] and len(result.warnings) == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = PhpAnalyzer().analyze([captured(data, INSTALLED)])
    assert result.packages == [] or result.warnings == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({"name": JSON, "version": JSON, "license": JSON}), max_size=5), JSON)
def test_random_entries_never_raise(entries: list[dict[str, Any]], dev: Any) -> None:
    data = json.dumps({"packages": entries, "dev-package-names": dev}).encode("utf-8", "surrogatepass")
    result = PhpAnalyzer().analyze([captured(data, INSTALLED)])
    assert len(result.packages) <= len(entries)
