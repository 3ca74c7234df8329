"""Decompression of layer pieces: every split of the input gives the same output, output chunks
stay bounded, and corrupt, truncated or trailing data is an error, not a silent cut."""

from __future__ import annotations

import gzip
import itertools
import zlib

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.analysis import decompress
from regscout.analysis.decompress import CHUNK, CompressedStreamError, decompressed_chunks


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` in pieces at the given cut points (sorted, deduplicated, within range)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def inflate(pieces: list[bytes]) -> tuple[bytes, str]:
    chunks, fmt = decompressed_chunks(pieces)
    return b"".join(chunks), fmt


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=5000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 30), max_size=12),
)
def test_gzip_members_in_any_split(payloads: list[bytes], cuts: list[int]) -> None:
    data = b"".join(gzip.compress(p, mtime=0) for p in payloads)
    assert inflate(split(data, cuts)) == (b"".join(payloads), "gzip")


@settings(max_examples=40, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=5000), min_size=1, max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 30), max_size=12),
)
def test_zstd_frames_in_any_split(payloads: list[bytes], cuts: list[int]) -> None:
    compressor = zstandard.ZstdCompressor()
    data = b"".join(compressor.compress(p) for p in payloads)
    assert inflate(split(data, cuts)) == (b"".join(payloads), "zstd")


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=0, max_size=3000), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_plain_data_passes_through(data: bytes, cuts: list[int]) -> None:
    if data.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd")):
        return
    assert inflate(split(data, cuts)) == (data, "tar")


def test_zero_padding_after_the_last_member_is_allowed() -> None:
    data = gzip.compress(b"layer", mtime=0) + bytes(1024)
    assert inflate([data]) == (b"layer", "gzip")


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda d: d[:-5], "truncated"),  # cut inside the trailer
        (lambda d: d[: len(d) // 2], "truncated"),  # cut inside the deflate data
        (lambda d: d[:-8] + (zlib.crc32(b"other") & 0xFFFFFFFF).to_bytes(4, "little") + d[-4:], "CRC"),
        (lambda d: d + b"trailing garbage", "corrupt or truncated"),
        (lambda d: d[:12] + bytes([d[12] ^ 0xFF]) + d[13:], "corrupt"),
    ],
)
def test_damaged_gzip_is_an_error(mangle: object, words: str) -> None:
    data = gzip.compress(b"some layer content " * 200, mtime=0)
    damaged = mangle(data)  # type: ignore[operator]
    with pytest.raises(CompressedStreamError) as raised:
        inflate([damaged])
    assert "gzip stream is corrupt or truncated" in str(raised.value)


def test_damaged_zstd_is_an_error() -> None:
    data = zstandard.ZstdCompressor().compress(b"some layer content " * 200)
    with pytest.raises(CompressedStreamError, match="zstd"):
        inflate([data[:8] + bytes([data[8] ^ 0xFF]) + data[9:]])


def test_output_chunks_are_bounded_whatever_the_ratio() -> None:
    bomb = gzip.compress(bytes(3 * CHUNK + 5), compresslevel=9, mtime=0)  # a few KB in, 12 MiB out
    chunks, _ = decompressed_chunks([bomb])
    sizes = [len(c) for c in chunks]
    assert max(sizes) <= CHUNK
    assert sum(sizes) == 3 * CHUNK + 5


def test_a_network_error_from_the_pieces_is_not_reworded() -> None:
    class Interrupted(Exception):
        pass

    def pieces() -> object:
        data = gzip.compress(b"x" * 100_000, mtime=0)
        yield data[:100]
        raise Interrupted("connection reset")

    chunks, _ = decompressed_chunks(pieces())  # type: ignore[arg-type]
    with pytest.raises(Interrupted):
        b"".join(chunks)


def test_without_isals_c_reader_the_file_object_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decompress, "_GzipReader", None)
    data = gzip.compress(b"one", mtime=0) + gzip.compress(b"two", mtime=0)
    assert inflate([data[:7], data[7:]]) == (b"onetwo", "gzip")
    with pytest.raises(CompressedStreamError, match="truncated"):
        inflate([data[:-3]])
