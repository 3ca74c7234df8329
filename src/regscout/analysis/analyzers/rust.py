"""Rust binaries built with cargo-auditable: the `.dep-v0` ELF section, zlib-compressed JSON
`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`.

Only runtime packages are reported (`kind` omitted means runtime; build-only crates never reach
the binary). Every package is reported in ecosystem `crates.io`; one whose `source` is not
"crates.io" (the local root crate, git or alternative-registry crates) also carries
("unmatchable", "source <source>"), since its name may collide with an unrelated crates.io crate.
Only ELF is read (PE and Mach-O equivalents are not).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from ..model import AnalyzerResult, CapturedFile, Package
from .base import Analyzer, Interest, MiB

SECTION = b".dep-v0"
_ELF_MAGIC = b"\x7fELF"
_SHT_NOBITS = 8
_SHN_XINDEX = 0xFFFF
_MAX_JSON = 16 * MiB
_MAX_SECTIONS = 1 << 20
_VALID_NAME = re.compile(r"[A-Za-z0-9_-]+")  # crates.io package names


@dataclass(frozen=True)
class _Layout:
    """Field formats of one ELF class and byte order."""

    header: struct.Struct  # e_shoff, e_shentsize, e_shnum, e_shstrndx
    header_offset: int
    section: struct.Struct  # sh_name, sh_type, sh_offset, sh_size, sh_link
    section_size: int


def _layout(data: bytes) -> _Layout | None:
    if len(data) < 64 or not data.startswith(_ELF_MAGIC):
        return None
    elf_class, order = data[4], {1: "<", 2: ">"}.get(data[5])
    if order is None:
        return None
    if elf_class == 2:  # 64-bit: e_shoff at 0x28; e_shentsize, e_shnum, e_shstrndx at 0x3a
        header = struct.Struct(order + "Q10xHHH")
        section = struct.Struct(order + "II16xQQI")  # name, type, (flags, addr), offset, size, link
        return _Layout(header, 0x28, section, 64)
    if elf_class == 1:  # 32-bit: e_shoff at 0x20; e_shentsize, e_shnum, e_shstrndx at 0x2e
        header = struct.Struct(order + "I10xHHH")
        section = struct.Struct(order + "II8xIII")
        return _Layout(header, 0x20, section, 40)
    return None


@dataclass(frozen=True)
class _Section:
    name: int
    kind: int
    offset: int
    size: int
    link: int


def _section_table(data: bytes, layout: _Layout) -> tuple[int, int, int, int] | None:
    """(offset, entry size, count, name-table index) of the section headers, bounds-checked."""
    shoff, shentsize, shnum, shstrndx = layout.header.unpack_from(data, layout.header_offset)
    if shoff == 0 or shentsize < layout.section_size or shoff + shentsize > len(data):
        return None
    first = _Section(*layout.section.unpack_from(data, shoff))
    if shnum == 0:  # extended numbering: the real count is section 0's sh_size
        shnum = first.size
    if shstrndx == _SHN_XINDEX:
        shstrndx = first.link
    if shnum > _MAX_SECTIONS or shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        return None
    return shoff, shentsize, shnum, shstrndx


def _name_at(data: bytes, table: _Section, index: int) -> bytes:
    start = table.offset + index
    end = min(table.offset + table.size, len(data))
    if start >= end:
        return b""
    stop = data.find(b"\x00", start, end)
    return data[start : stop if stop >= 0 else end]


def find_section(data: bytes, wanted: bytes = SECTION) -> bytes | None:
    """The contents of the ELF section named `wanted`, or None."""
    layout = _layout(data)
    table = None if layout is None else _section_table(data, layout)
    if layout is None or table is None:
        return None
    offset, entry_size, count, names_index = table
    names = _Section(*layout.section.unpack_from(data, offset + names_index * entry_size))
    for index in range(count):
        section = _Section(*layout.section.unpack_from(data, offset + index * entry_size))
        if section.kind == _SHT_NOBITS or _name_at(data, names, section.name) != wanted:
            continue
        if section.offset + section.size > len(data):
            return None
        return data[section.offset : section.offset + section.size]
    return None


def decode_audit_data(compressed: bytes) -> Any:
    inflater = zlib.decompressobj()
    text = inflater.decompress(compressed, _MAX_JSON + 1)
    if len(text) > _MAX_JSON:
        raise ValueError(f"audit data inflates past {_MAX_JSON} bytes")
    return json.loads(text)


def _source(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("Other"), str):
        return str(value["Other"])
    return value.lower() if isinstance(value, str) else "unknown"


def _package(entry: Any, location: str) -> Package | None:
    if not isinstance(entry, dict) or entry.get("kind", "runtime") != "runtime":
        return None
    name, version = entry.get("name"), entry.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not _VALID_NAME.fullmatch(name):
        return None
    if not version or any(c.isspace() for c in version):
        return None
    source = _source(entry.get("source"))
    extra = [("source", source)]
    if entry.get("root") is True:
        extra.append(("root", "true"))
    if source != "crates.io":
        extra.append(("unmatchable", f"source {source}"))
    return Package(
        name=name,
        version=version,
        ecosystem="crates.io",
        purl=PackageURL(type="cargo", name=name, version=version).to_string(),
        location=location,
        extra=tuple(extra),
    )


def packages_of(document: Any, location: str) -> list[Package]:
    entries = document.get("packages") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("no packages list")
    return [package for package in (_package(entry, location) for entry in entries) if package is not None]


class RustBinaryAnalyzer(Analyzer):
    name = "rust-binary"
    version = 1
    interest = Interest(executables=True, max_size=256 * MiB, per_file=True)

    def analyze(self, files: Sequence[CapturedFile]) -> AnalyzerResult:
        result = AnalyzerResult()
        for file in files:
            try:
                section = find_section(file.data)
                if section is not None:
                    result.packages.extend(packages_of(decode_audit_data(section), file.path))
            except (ValueError, RecursionError, zlib.error, struct.error) as exc:
                result.warnings.append(f"{file.path}: unreadable cargo-auditable data: {exc}")
        return result
