"""The walker's fast header path against references: Python's tarfile reading the same archives
(written by tarfile in ustar, GNU and PAX formats, fed to the walker in random-sized chunks),
the plain normalisation, and the regex PAX parser the walker used before."""

from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from regscout.analysis.tarwalk import (
    LayerFormatError,
    TarWalker,
    _normalise_parts,
    normalise,
    parse_pax,
)

SEGMENT = st.text(alphabet="abcXYZ019-_. éü文", min_size=1, max_size=40).filter(lambda s: s not in (".", ".."))
NAME = st.lists(SEGMENT, min_size=1, max_size=8).map("/".join)
FORMATS = st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
PAX_EXTRA = st.dictionaries(
    st.sampled_from(["comment", "uname", "gname", "mtime", "SCHILY.xattr.user.x"]),
    st.text(alphabet="az09 =\n é", max_size=30),
    max_size=3,
)


@dataclass
class Member:
    name: str
    kind: bytes
    data: bytes
    linkname: str
    mode: int
    pax: dict[str, str]


@st.composite
def members(draw: st.DrawFn) -> Member:
    kind = draw(st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]))
    data = draw(st.binary(max_size=3000)) if kind == tarfile.REGTYPE else b""
    linkname = draw(NAME) if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    mode = draw(st.integers(min_value=0, max_value=0o7777))
    return Member(draw(NAME), kind, data, linkname, mode, draw(PAX_EXTRA))


def write_tar(entries: list[Member], fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for member in entries:
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.size = len(member.data)
            info.linkname = member.linkname
            info.mode = member.mode
            if fmt == tarfile.PAX_FORMAT:
                info.pax_headers = dict(member.pax)
            tar.addfile(info, io.BytesIO(member.data) if member.data else None)
    return buffer.getvalue()


class Chunked:
    """A reader that returns the data in the given chunk sizes (cycled), whatever size is asked."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data = data
        self.sizes = sizes
        self.position = 0
        self.calls = 0

    def read(self, size: int = -1, /) -> bytes:
        step = self.sizes[self.calls % len(self.sizes)]
        self.calls += 1
        chunk = self.data[self.position : self.position + step]
        self.position += len(chunk)
        return chunk


Entry = tuple[str, bytes, int, int, str, bytes | None]


def reference_entries(raw: bytes, read_bodies: bool) -> list[Entry]:
    found: list[Entry] = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for info in tar:
            path = normalise(info.name)
            if not path:
                continue
            body = tar.extractfile(info) if info.isreg() and read_bodies else None
            size = (
                0 if info.type in (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE) else info.size
            )
            found.append((path, info.type, size, info.mode, info.linkname, body.read() if body else None))
    return found


def walker_entries(reader: Chunked, read_bodies: bool) -> list[Entry]:
    walker = TarWalker(reader)
    found: list[Entry] = []
    for entry in walker.entries():
        body = walker.read_body(entry.size) if entry.is_regular and read_bodies else None
        found.append((entry.path, entry.kind, entry.size, entry.mode, entry.linkname, body))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(members(), min_size=1, max_size=12),
    FORMATS,
    st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=6),
    st.booleans(),
)
def test_walker_matches_tarfile(entries: list[Member], fmt: int, sizes: list[int], read_bodies: bool) -> None:
    try:
        raw = write_tar(entries, fmt)
    except ValueError:
        assume(False)  # e.g. a name too long for ustar: tarfile refuses to write it
    expected = reference_entries(raw, read_bodies)
    assert walker_entries(Chunked(raw, sizes), read_bodies) == expected


@settings(max_examples=100, deadline=None)
@given(NAME, NAME, st.integers(min_value=0, max_value=5000), st.lists(st.integers(1, 700), min_size=1, max_size=4))
def test_pax_records_override_the_header(path: str, link: str, size: int, sizes: list[int]) -> None:
    """path, linkpath and size from a PAX header win over the ustar fields that follow it."""
    header = tarfile.TarInfo("short-name")
    header.size = 1
    header.type = tarfile.REGTYPE
    header.linkname = "short-link"
    header.pax_headers = {"path": path, "linkpath": link, "size": str(size), "comment": "ignored"}
    body = bytes(range(256)) * (size // 256 + 1)
    raw = header.tobuf(tarfile.PAX_FORMAT)
    # tobuf wrote the PAX header's size record; the ustar header still says 1 byte, so the
    # walker can only find the body's real length through the PAX record
    raw += body[:size] + b"\x00" * (-size % 512) + b"\x00" * 1024
    walker = TarWalker(Chunked(raw, sizes))
    (entry,) = list(walker.entries())
    assert (entry.path, entry.linkname, entry.size) == (normalise(path), link, size)


@given(st.text(alphabet="ab./\x00é", max_size=30))
def test_normalise_fast_path_agrees_with_the_plain_one(name: str) -> None:
    assert normalise(name) == _normalise_parts(name)


_RECORD = re.compile(rb"(\d+) ")


def regex_parse_pax(data: bytes) -> dict[str, str]:
    """The walker's previous PAX parser, kept as a reference."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        match = _RECORD.match(data, position)
        if not match:
            raise LayerFormatError("malformed PAX extended header")
        length = int(match.group(1))
        end = position + length
        if length <= len(match.group(0)) or end > len(data) or data[end - 1 : end] != b"\n":
            raise LayerFormatError("malformed PAX extended header record")
        key, sep, value = data[match.end() : end - 1].partition(b"=")
        if not sep:
            raise LayerFormatError("PAX record without '='")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position = end
    return records


def pax_record(key: bytes, value: bytes) -> bytes:
    payload = b" " + key + b"=" + value + b"\n"
    length = len(payload) + 1
    while len(str(length)) + len(payload) != length:
        length += 1
    return str(length).encode() + payload


PAX_BYTES = st.one_of(
    st.binary(max_size=80),
    st.lists(
        st.tuples(
            st.sampled_from([b"path", b"linkpath", b"size", b"mtime", b"comment", b"pa"]), st.binary(max_size=40)
        ),
        max_size=4,
    ).map(lambda records: b"".join(pax_record(k, v) for k, v in records)),
)


@given(PAX_BYTES, st.integers(min_value=0, max_value=40), st.binary(max_size=3))
def test_parse_pax_agrees_with_the_regex_parser(data: bytes, cut: int, garbage: bytes) -> None:
    for sample in (data, data[:cut] + garbage + data[cut:]):
        try:
            expected = regex_parse_pax(sample)
        except LayerFormatError:
            with pytest.raises(LayerFormatError):
                parse_pax(sample)
            continue
        wanted = {key: value for key, value in expected.items() if key in ("path", "linkpath", "size")}
        assert parse_pax(sample) == wanted
