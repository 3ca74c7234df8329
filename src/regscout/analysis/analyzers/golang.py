"""Go binaries: the build info the Go linker embeds (`debug/buildinfo`).

The 32-byte header `\\xff Go buildinf:` sits 16-byte aligned in the `.go.buildinfo` section (ELF),
`__go_buildinfo` (Mach-O) or the first writable data section (PE). Section file offsets keep that
alignment, so one `bytes.find` pass over the file finds it without parsing the container format.
Since Go 1.18 (flags bit 1) the Go version and the module info follow the header inline as two
uvarint-length-prefixed strings; older binaries hold pointers instead and are only warned about.

Reported: `stdlib` at the toolchain version (without "go", as OSV's Go data names it), the main
module and every dependency (a `=>` replacement by another module is reported as that module).
Versions Go stamps as `(devel)` (the main module before Go 1.24, directory replacements) are
reported as "(devel)" with ("unmatchable", ...) in `extra`: they name no release, so the matcher
must skip them. The main module takes a `-X main.version=` from the build's ldflags instead when
that looks like a release version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB

MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_FLAG_INLINE = 0x2
_EXECUTABLE_MAGICS = (
    b"\x7fELF",
    b"MZ",  # PE
    b"\xfe\xed\xfa\xce",  # Mach-O 32, 64, both byte orders, and fat binaries
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
_MAX_VERSION = 256
_MAX_MODINFO = 16 * MiB
_DEVEL = "(devel)"
_MODULE_PATH = re.compile(r"[A-Za-z0-9._~+-]+(?:/[A-Za-z0-9._~+-]+)*")
_LDFLAGS_VERSION = re.compile(r"-X[ =]*['\"]?main\.[Vv]ersion=['\"]?(v?\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.+-]*)?)")
LEGACY_WARNING = "Go < 1.18 binary: build info not read"


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    replace: Module | None = None


@dataclass
class ModInfo:
    path: str = ""
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildInfo:
    go_version: str
    modinfo: ModInfo


def _uvarint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = 0
    for i in range(10):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos + i + 1
    return None


def _inline_string(data: bytes, pos: int, cap: int) -> tuple[bytes, int] | None:
    parsed = _uvarint(data, pos)
    if parsed is None:
        return None
    length, start = parsed
    if length > cap or start + length > len(data):
        return None
    return data[start : start + length], start + length


def _inline_build_info(data: bytes, header: int) -> BuildInfo | None:
    version = _inline_string(data, header + _HEADER_SIZE, _MAX_VERSION)
    if version is None or not version[0].startswith((b"go", b"devel")):
        return None
    mod = _inline_string(data, version[1], _MAX_MODINFO)
    if mod is None:
        return None
    raw = mod[0]
    # modinfo is wrapped in 16-byte sentinels that are not UTF-8.
    if len(raw) >= 33 and raw[-17] == 0x0A:
        raw = raw[16:-16]
    return BuildInfo(version[0].decode("utf-8", "replace"), parse_modinfo(raw.decode("utf-8", "replace")))


def find_build_info(data: bytes) -> BuildInfo | str | None:
    """The build info, LEGACY_WARNING for a pre-1.18 header, or None when there is none."""
    legacy = False
    pos = data.find(MAGIC)
    while pos >= 0:
        if pos % 16 == 0 and pos + _HEADER_SIZE <= len(data):
            pointer_size, flags = data[pos + 14], data[pos + 15]
            if flags & _FLAG_INLINE:
                info = _inline_build_info(data, pos)
                if info is not None:
                    return info
            elif pointer_size in (4, 8):
                legacy = True
        pos = data.find(MAGIC, pos + 1)
    return LEGACY_WARNING if legacy else None


def _module(fields: list[str]) -> Module | None:
    if len(fields) < 2 or not fields[1]:
        return None
    return Module(fields[1], fields[2] if len(fields) > 2 else "")


def parse_modinfo(text: str) -> ModInfo:
    info = ModInfo()
    for line in text.split("\n"):
        fields = line.split("\t")
        kind = fields[0]
        if kind == "path" and len(fields) > 1:
            info.path = fields[1]
        elif kind == "mod":
            info.main = _module(fields)
        elif kind == "dep" and (dep := _module(fields)) is not None:
            info.deps.append(dep)
        elif kind == "=>" and info.deps and (replacement := _module(fields)) is not None:
            info.deps[-1] = Module(info.deps[-1].path, info.deps[-1].version, replacement)
        elif kind == "build" and len(fields) > 1:
            key, _, value = fields[1].partition("=")
            info.settings[key] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return info


def _is_directory(path: str) -> bool:
    return path.startswith(("./", "../", "/")) or path in (".", "..") or (len(path) > 1 and path[1] == ":")


def _purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return PackageURL(
        type="golang", namespace=namespace or None, name=name, version=None if version == _DEVEL else version
    ).to_string()


def _go_package(path: str, version: str, location: str, extra: list[tuple[str, str]]) -> Package | None:
    version = version or _DEVEL
    if not _MODULE_PATH.fullmatch(path) or any(c.isspace() for c in version):
        return None
    if version == _DEVEL and not any(key == "unmatchable" for key, _ in extra):
        extra.append(("unmatchable", "version (devel)"))
    return Package(
        name=path, version=version, ecosystem="Go", purl=_purl(path, version), location=location, extra=tuple(extra)
    )


def _dependency(dep: Module, location: str) -> Package | None:
    replacement = dep.replace
    if replacement is None:
        return _go_package(dep.path, dep.version, location, [])
    if _is_directory(replacement.path):
        extra = [("replaced_by", replacement.path), ("required_version", dep.version)]
        return _go_package(dep.path, _DEVEL, location, [*extra, ("unmatchable", "replaced by a local directory")])
    return _go_package(replacement.path, replacement.version, location, [("replaces", f"{dep.path}@{dep.version}")])


def _main_version(main: Module, settings: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    if main.version and main.version != _DEVEL:
        return main.version, []
    match = _LDFLAGS_VERSION.search(settings.get("-ldflags", ""))
    if match is None:
        return _DEVEL, []
    version = match.group(1)
    return (version if version.startswith("v") else f"v{version}"), [("version_source", "ldflags")]


def stdlib_version(go_version: str) -> str:
    first = go_version.split(" ", 1)[0]  # "go1.20.5 X:boringcrypto" carries experiments
    return first[2:] if first.startswith("go") and len(first) > 2 else _DEVEL


def packages_of(build: BuildInfo, location: str) -> tuple[list[Package], int]:
    """The binary's packages, and how many module lines were unusable."""
    toolchain = stdlib_version(build.go_version)
    candidates = [_go_package("stdlib", toolchain, location, [("go_version", build.go_version)])]
    info = build.modinfo
    if info.main is not None:
        version, extra = _main_version(info.main, info.settings)
        candidates.append(_go_package(info.main.path, version, location, [("main_module", "true"), *extra]))
    candidates.extend(_dependency(dep, location) for dep in info.deps)
    packages = [package for package in candidates if package is not None]
    return packages, len(candidates) - len(packages)


class GoBinaryAnalyzer(Analyzer):
    name = "go-binary"
    version = 1
    interest = Interest(executables=True, max_size=256 * MiB, per_file=True)

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for file in files:
            if not file.data.startswith(_EXECUTABLE_MAGICS):
                continue
            build = find_build_info(file.data)
            if isinstance(build, str):
                result.warnings.append(f"{file.path}: {build}")
            elif build is not None:
                packages, unusable = packages_of(build, file.path)
                result.packages.extend(packages)
                if unusable:
                    result.warnings.append(f"{file.path}: {unusable} unusable module lines in the build info")
        return result
