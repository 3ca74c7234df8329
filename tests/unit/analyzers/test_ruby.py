from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.ruby import RubyAnalyzer
from tests.harness.lang_fixtures import captured, tree

SPECS = "usr/lib/ruby/gems/3.1.0/specifications"


def test_real_debian_gemspecs() -> None:
    analyzer = RubyAnalyzer()
    files = [f for f in tree("ruby") if analyzer.wants(f.path)]
    assert len(files) == 7
    result = analyzer.analyze(files)
    assert result.warnings == []
    found = {(p.location, p.name, p.version, p.licenses, p.purl, p.extra) for p in result.packages}
    default = (("default_gem", "true"),)
    assert found == {
        (
            "usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec",
            "rack",
            "2.2.22",
            ("MIT",),
            "pkg:gem/rack@2.2.22",
            (),
        ),
        (f"{SPECS}/rake-13.0.6.gemspec", "rake", "13.0.6", ("MIT",), "pkg:gem/rake@13.0.6", ()),
        (f"{SPECS}/minitest-5.15.0.gemspec", "minitest", "5.15.0", ("MIT",), "pkg:gem/minitest@5.15.0", ()),
        (f"{SPECS}/default/openssl-3.0.1.gemspec", "openssl", "3.0.1", ("Ruby",), "pkg:gem/openssl@3.0.1", default),
        (f"{SPECS}/default/json-2.6.1.gemspec", "json", "2.6.1", ("Ruby",), "pkg:gem/json@2.6.1", default),
        (
            f"{SPECS}/default/bundler-2.3.27.gemspec",
            "bundler",
            "2.3.27",
            ("MIT",),
            "pkg:gem/bundler@2.3.27",
            default,
        ),
        (
            f"{SPECS}/default/digest-3.1.0.gemspec",
            "digest",
            "3.1.0",
            ("Ruby", "BSD-2-Clause"),
            "pkg:gem/digest@3.1.0",
            default,
        ),
    }
    assert {p.ecosystem for p in result.packages} == {"RubyGems"}


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        (f"{SPECS}/rake-13.0.6.gemspec", True),
        (f"{SPECS}/default/json-2.6.1.gemspec", True),
        ("specifications/rake-13.0.6.gemspec", True),
        ("usr/lib/ruby/gems/3.1.0/gems/rake-13.0.6/rake.gemspec", False),  # the gem's own source gemspec
        (f"{SPECS}/default/nested/x.gemspec", False),
        ("default/x.gemspec", False),
        (f"{SPECS}/rake-13.0.6.gemspec.orig", False),
    ],
)
def test_wants(path: str, wanted: bool) -> None:
    assert RubyAnalyzer().wants(path) is wanted


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('s.name = %q{legacy}\ns.version = "0.9.1"\ns.license = %q{MIT}\n', ("legacy", "0.9.1", ("MIT",))),
        ("s.name = 'single'.freeze\ns.version = '1.0.0.pre'.freeze\n", ("single", "1.0.0.pre", ())),
        (
            's.name = "multi".freeze\ns.version = "2.0"\ns.licenses = ["Ruby".freeze, "BSDL".freeze, "PSFL".freeze]\n',
            ("multi", "2.0", ("Ruby", "BSDL", "PSFL")),
        ),
        (
            's.required_rubygems_version = Gem::Requirement.new(">= 0")\ns.rubygems_version = "3.3.27".freeze\n'
            's.name = "order".freeze\ns.version = "1.2.3"\n',
            ("order", "1.2.3", ()),
        ),
    ],
)
def test_gemspec_literal_forms(body: str, expected: tuple[str, str, tuple[str, ...]]) -> None:
    data = f"Gem::Specification.new do |s|\n{body}end\n".encode()
    (package,) = RubyAnalyzer().analyze([captured(data, f"{SPECS}/x.gemspec")]).packages
    assert (package.name, package.version, package.licenses) == expected


@pytest.mark.parametrize(
    "body",
    [
        "s.name = name_from_somewhere\ns.version = VERSION\n",
        's.version = "1.0"\n',
        's.name = "x"\n',
        's.name = "bad name"\ns.version = "1.0"\n',
        '# s.name = "x" in a comment? no: anchored assignment only\n',
    ],
)
def test_unusable_gemspecs_are_warnings(body: str) -> None:
    result = RubyAnalyzer().analyze([captured(body.encode(), f"{SPECS}/x.gemspec")])
    assert result.packages == []
    assert len(result.warnings) == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = RubyAnalyzer().analyze([captured(data, f"{SPECS}/x.gemspec")])
    assert len(result.packages) + len(result.warnings) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=60))
def test_random_assignments_never_raise(name: str, version: str, licenses: str) -> None:
    data = f"s.name = {name}\ns.version = {version}\ns.licenses = {licenses}\n".encode("utf-8", "surrogatepass")
    result = RubyAnalyzer().analyze([captured(data, f"{SPECS}/x.gemspec")])
    assert len(result.packages) + len(result.warnings) == 1


@pytest.mark.parametrize("field", ["name", "version", "licenses"])
@pytest.mark.parametrize("value", ['"\\' * 100_000, "%q{" * 100_000, "'" * 200_000])
def test_long_hostile_values_finish(field: str, value: str) -> None:
    data = f"s.{field} = {value}\n".encode()
    started = time.perf_counter()
    RubyAnalyzer().analyze([captured(data, f"{SPECS}/x.gemspec")])
    assert time.perf_counter() - started < 1
