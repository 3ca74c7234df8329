"""The layer reader: formats, tar dialects, layer structure, and hostile input."""

from __future__ import annotations

import builtins
import gzip
import io
import json
import os
import tarfile
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis.analyzers.base import Interest
from regscout.analysis.layer import LayerStructure, analyze_layer
from regscout.analysis.tarwalk import LayerFormatError, TarWalker, normalise
from tests.harness.images import TarEntry, tar_bytes, tar_layer

from .fake_analyzers import FileAnalyzer

WANT = Interest(
    exact=frozenset({"etc/os-release", "var/lib/dpkg/status"}),
    suffixes=(".txt",),
    basenames=frozenset({"METADATA"}),
    directories=("var/lib/dpkg/status.d/",),
)


def run(data: bytes, **kwargs: object) -> tuple[dict[str, str], object]:
    analyzer = FileAnalyzer(WANT)
    result = analyze_layer(io.BytesIO(data), [analyzer], **kwargs)  # type: ignore[arg-type]
    found = {p.name: p.version for p in result.results["files"].packages}
    return found, result


FILES = {
    "etc/os-release": b"ID=debian",
    "var/lib/dpkg/status": b"Package: x",
    "var/lib/dpkg/status.d/base": b"Package: base",
    "usr/lib/python3/x.dist-info/METADATA": b"Name: x",
    "usr/share/doc/readme.txt": b"read me",
    "usr/bin/other": b"not wanted",
}


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_each_compression_gives_the_same_captures(compression: str) -> None:
    layer = tar_layer(FILES, compression)  # type: ignore[arg-type]
    found, result = run(layer.data, expected_diff_id=layer.diff_id)
    assert found == {k: v.decode() for k, v in FILES.items() if k != "usr/bin/other"}
    assert result.diff_id == layer.diff_id  # type: ignore[attr-defined]
    assert result.format == {"none": "tar"}.get(compression, compression)  # type: ignore[attr-defined]


def test_multi_member_gzip_and_multi_frame_zstd() -> None:
    import zstandard

    raw = tar_bytes(FILES)
    cut = len(raw) // 3
    members = gzip.compress(raw[:cut]) + gzip.compress(raw[cut:])
    found, _ = run(members)
    assert "usr/share/doc/readme.txt" in found and len(found) == 5
    compressor = zstandard.ZstdCompressor()
    frames = compressor.compress(raw[:cut]) + compressor.compress(raw[cut:])
    found, _ = run(frames)
    assert len(found) == 5


def test_long_names_in_pax_and_gnu_formats() -> None:
    deep = "usr/lib/" + "/".join(["d" * 40] * 5) + "/pkg.dist-info/METADATA"
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
            info = tarfile.TarInfo(deep)
            info.size = 7
            tar.addfile(info, io.BytesIO(b"Name: y"))
        found, _ = run(buffer.getvalue())
        assert found == {deep: "Name: y"}


def test_base256_size_field() -> None:
    raw = bytearray(tar_bytes({"etc/os-release": b"ID=alpine"}, sort=True))
    # find the header of the file and rewrite its size as GNU base-256, then fix the checksum
    offset = next(i for i in range(0, len(raw), 512) if raw[i : i + 14] == b"etc/os-release")
    header = raw[offset : offset + 512]
    header[124:136] = b"\x80" + (9).to_bytes(11, "big")
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\x00 ".encode()
    raw[offset : offset + 512] = header
    found, _ = run(bytes(raw))
    assert found == {"etc/os-release": "ID=alpine"}


def test_structure_records_whiteouts_opaque_dirs_and_non_dirs() -> None:
    layer = tar_layer(
        {
            "var/lib/dpkg/status": TarEntry.whiteout(),
            "opt/app": TarEntry.opaque(),
            "usr/lib/python3": TarEntry.symlink("/opt/python"),
            "etc/motd": b"hi",
            "srv": TarEntry.dir(),
        }
    )
    found, result = run(layer.data)
    structure = result.structure  # type: ignore[attr-defined]
    assert found == {}
    assert structure.whiteouts == {"var/lib/dpkg/status"}
    assert structure.opaque_dirs == {"opt/app"}
    assert structure.non_dirs == {"usr/lib/python3", "etc/motd"}  # not the directory srv
    assert structure.hides("var/lib/dpkg/status") and structure.hides("opt/app/x/METADATA")
    assert structure.hides("usr/lib/python3/site-packages/a.dist-info/METADATA")  # symlink replaced the dir
    assert not structure.hides("usr/lib/python3.11/x") and not structure.hides("opt/application")


PATHS = st.sets(st.text(alphabet="ab/.\n\udcff é", min_size=1, max_size=12), max_size=40)


@settings(max_examples=100, deadline=None)
@given(PATHS, PATHS, PATHS, st.text(alphabet="ab/", min_size=1, max_size=12))
def test_structure_reads_back_from_the_cache_encoding(
    non_dirs: set[str], whiteouts: set[str], opaque: set[str], location: str
) -> None:
    """The layer cache stores the structure as JSON: every path, however odd (newlines, the
    surrogates undecodable names become), must come back the same, and so must what it hides."""
    structure = LayerStructure(whiteouts, opaque, non_dirs, ["w"])
    stored = json.loads(json.dumps(structure.to_json(), separators=(",", ":")))
    again = LayerStructure.from_json(stored)
    assert (again.non_dirs, again.whiteouts, again.opaque_dirs, again.warnings) == (non_dirs, whiteouts, opaque, ["w"])
    assert again.hides(location) == structure.hides(location)


def test_hardlink_to_a_captured_file_is_captured_under_both_names() -> None:
    layer = tar_layer({"etc/os-release": b"ID=x", "usr/share/a.txt": TarEntry.hardlink("etc/os-release")}, sort=False)
    found, _ = run(layer.data)
    assert found == {"etc/os-release": "ID=x", "usr/share/a.txt": "ID=x"}


@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "/etc/shadow.txt", "a/../../b.txt", "./ok/../../x.txt"])
def test_names_that_climb_out_are_skipped_with_a_warning(name: str) -> None:
    layer = tar_layer({name: b"evil", "safe.txt": b"fine"})
    found, result = run(layer.data)
    assert found == {"safe.txt": "fine"}
    assert any("leaves the image root" in w for w in result.structure.warnings)  # type: ignore[attr-defined]


def test_normalise() -> None:
    assert normalise("./usr//lib/./x") == "usr/lib/x"
    assert normalise("usr/../etc") is None
    assert normalise("/etc/passwd") is None
    assert normalise("") == ""


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(tar_bytes({"big.bin": b"\x00" * (8 << 20)}), 9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(LayerFormatError, match="limit"):
        run(bomb, max_uncompressed=1 << 20)


def test_truncated_layer() -> None:
    layer = tar_layer({"etc/os-release": b"ID=debian\n" * 5000, "x.txt": b"y" * 100_000})
    with pytest.raises(LayerFormatError, match=r"truncated|corrupt"):
        run(layer.data[: len(layer.data) // 2])


def test_header_declaring_a_2gb_file_then_ending() -> None:
    info = tarfile.TarInfo("huge.bin")
    info.size = 2 * 1024**3
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    with pytest.raises(LayerFormatError, match="truncated"):
        run(header + b"\x00" * 4096)


def test_wanted_file_over_the_size_cap_is_skipped_with_a_warning() -> None:
    analyzer = FileAnalyzer(Interest(exact=frozenset({"big.txt"}), max_size=10))
    result = analyze_layer(io.BytesIO(tar_layer({"big.txt": b"x" * 100}).data), [analyzer])
    assert result.results["files"].packages == []
    assert any("over its 10" in w for w in result.structure.warnings)


def test_corrupt_header_checksum() -> None:
    raw = bytearray(tar_bytes({"a.txt": b"1"}))
    raw[10] ^= 0xFF
    with pytest.raises(LayerFormatError, match="checksum"):
        run(bytes(raw))


def test_diff_id_mismatch_is_rejected() -> None:
    layer = tar_layer({"a.txt": b"1"})
    with pytest.raises(LayerFormatError, match="diff_id"):
        run(layer.data, expected_diff_id="sha256:" + "0" * 64)


def test_nothing_is_written_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = tar_layer(FILES)

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"analysis tried to open a file: {args[:1]}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", refuse)
    found, _ = run(layer.data)
    assert len(found) == 5


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_give_a_format_error_or_nothing(data: bytes) -> None:
    try:
        found, _ = run(data)
    except LayerFormatError:
        return
    assert isinstance(found, dict)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=4000), st.binary(min_size=1, max_size=8))
def test_corrupted_real_layers_never_crash(position: int, garbage: bytes) -> None:
    raw = bytearray(tar_layer(FILES, "none").data)
    position %= len(raw)
    raw[position : position + len(garbage)] = garbage
    try:
        found, _ = run(bytes(raw))
    except LayerFormatError:
        return
    assert set(found) <= set(FILES)  # a corrupted entry may vanish, but nothing is invented


def test_walker_skips_bodies_it_is_not_asked_for() -> None:
    walker = TarWalker(io.BytesIO(tar_bytes({"a": b"1" * 5000, "b": b"2"})))
    names = [entry.path for entry in walker.entries()]
    assert names == ["a", "b"]
