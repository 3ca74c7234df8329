"""Installed Ruby gems: the `specifications/*.gemspec` and `specifications/default/*.gemspec` files
RubyGems writes at install time (Ruby source like `s.name = "rake".freeze`).

The files are Ruby, but RubyGems generates them from a fixed template, so line-anchored
assignments and string literals are enough; nothing is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB

_ASSIGNMENT = r"^[ \t]*\w+\.{field}[ \t]*=[ \t]*(?P<value>[^\n]*)$"
_NAME = re.compile(_ASSIGNMENT.format(field="name"), re.MULTILINE)
_VERSION = re.compile(_ASSIGNMENT.format(field="version"), re.MULTILINE)
_LICENSES = re.compile(_ASSIGNMENT.format(field="licenses?"), re.MULTILINE)
_LITERAL = re.compile(
    r'"(?P<dq>[^"\\\n]*(?:\\.[^"\\\n]*)*)"'
    r"|'(?P<sq>[^'\\\n]*(?:\\.[^'\\\n]*)*)'"
    r"|%q\{(?P<brace>[^}\n]*)\}|%q<(?P<angle>[^>\n]*)>|%q\((?P<paren>[^)\n]*)\)|%q\[(?P<bracket>[^\]\n]*)\]"
)
_MAX_VALUE = 4096
_GEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_GEM_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]*")


def is_gemspec_path(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 2 or not parts[-1].endswith(".gemspec"):
        return False
    if parts[-2] == "specifications":
        return True
    return len(parts) >= 3 and parts[-2] == "default" and parts[-3] == "specifications"


def _literals(value: str) -> list[str]:
    # Unterminated literals make the scan quadratic; real name/version/licence values are short.
    return [
        next(group for group in match.groups() if group is not None) for match in _LITERAL.finditer(value[:_MAX_VALUE])
    ]


def _first_literal(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    if match is None:
        return None
    values = _literals(match.group("value"))
    return values[0].strip() if values else None


def parse_gemspec(data: bytes, location: str) -> Package | None:
    text = data.decode("utf-8", errors="replace")
    name = _first_literal(_NAME, text)
    version = _first_literal(_VERSION, text)
    if name is None or version is None or not _GEM_NAME.fullmatch(name) or not _GEM_VERSION.fullmatch(version):
        return None
    licenses_line = _LICENSES.search(text)
    licenses = tuple(v.strip() for v in _literals(licenses_line.group("value")) if v.strip()) if licenses_line else ()
    return Package(
        name=name,
        version=version,
        ecosystem="RubyGems",
        purl=PackageURL(type="gem", name=name, version=version).to_string(),
        location=location,
        licenses=licenses,
        extra=(("default_gem", "true"),) if "/specifications/default/" in f"/{location}" else (),
    )


class RubyAnalyzer(Analyzer):
    name = "ruby"
    version = 1
    interest = Interest(suffixes=(".gemspec",), max_size=4 * MiB, per_file=True)

    def wants(self, path: str) -> bool:
        return is_gemspec_path(path)

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for file in files:
            package = parse_gemspec(file.data, file.path)
            if package is None:
                result.warnings.append(f"{file.path}: gemspec without a usable name and version")
            else:
                result.packages.append(package)
        return result
