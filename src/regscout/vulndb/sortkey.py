"""Version keys as order-preserving bytes, so that SQL can compare versions.

``encode(scheme key)`` turns the tuple a scheme's ``key`` returns into bytes that compare (bytewise, as
SQLite BLOBs and PostgreSQL ``bytea`` do) exactly as the keys compare in Python: ``a < b`` iff
``encode(a) < encode(b)``, and equal keys give equal bytes. Versions are not fixed-width in any scheme,
so the encoding is self-delimiting instead: every element carries a type tag, integers a length, strings
and tuples an end marker that sorts below anything that could follow.

PEP 440 keys are ``packaging`` ``Version`` objects; they are first turned into a plain tuple with the
order ``packaging`` defines (from its public attributes).
"""

from __future__ import annotations

from typing import Any

from packaging.version import Version

# Tags. The end of a tuple sorts below any element, so a tuple sorts below its extensions, as in Python.
# No encoding starts with 0xFF: b"\xff" sorts above every version (an open upper bound).
_END, _NEG_INT, _INT, _STR, _TUPLE = 0x01, 0x10, 0x11, 0x20, 0x30
TOP = b"\xff"
MAX_INT_BYTES = 255


class Unencodable(ValueError):
    """The key holds something this encoding has no order for (a huge integer, an unknown type)."""


def encode(key: Any) -> bytes:
    out = bytearray()
    _put(out, _plain(key) if isinstance(key, Version) else key)
    return bytes(out)


# the encodings of 0..255, which most elements of version keys are
_SMALL_INTS = [bytes([_INT, 0])] + [bytes([_INT, 1, n]) for n in range(1, 256)]


def _put(out: bytearray, value: Any) -> None:
    """Appends the encoding of `value`: plain ints, strs and tuples directly (by far the most common), the
    rest, subclasses included, through ``_put_any``."""
    kind = type(value)
    if kind is tuple:
        out.append(_TUPLE)
        for item in value:
            kind = type(item)
            if kind is int and 0 <= item <= 255:
                out += _SMALL_INTS[item]
            elif kind is str and item.isascii() and "\x00" not in item:
                out.append(_STR)
                out += item.encode("ascii")
                out += b"\x00\x01"
            else:
                _put(out, item)
        out.append(_END)
    elif kind is int and 0 <= value <= 255:
        out += _SMALL_INTS[value]
    else:
        _put_any(out, value)


def _put_any(out: bytearray, value: Any) -> None:
    # bool is an int subclass; no scheme key holds one, and allowing it would hide a bug
    if isinstance(value, int) and not isinstance(value, bool):
        _put_int(out, value)
    elif isinstance(value, str):
        out.append(_STR)
        # UTF-8 keeps code point order; NUL is escaped so that the 00 01 terminator sorts below any text
        out += value.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff")
        out += b"\x00\x01"
    elif isinstance(value, tuple):
        out.append(_TUPLE)
        for item in value:
            _put(out, item)
        out.append(_END)
    else:
        raise Unencodable(f"no order-preserving encoding for {type(value).__name__}")


def _put_int(out: bytearray, value: int) -> None:
    # a length byte before the big-endian digits: a longer number is a larger one
    magnitude = abs(value)
    size = (magnitude.bit_length() + 7) // 8
    if size > MAX_INT_BYTES:
        raise Unencodable(f"an integer of {size} bytes")
    if value >= 0:
        out.append(_INT)
        out.append(size)
        out += magnitude.to_bytes(size, "big")
    else:
        # negative: longer is smaller, and within a length the complement reverses the order
        out.append(_NEG_INT)
        out.append(MAX_INT_BYTES - size)
        out += ((1 << (8 * size)) - 1 - magnitude).to_bytes(size, "big")


def _plain(version: Version) -> tuple[Any, ...]:
    """PEP 440 order as a plain tuple (packaging's ``_cmpkey``, with its infinities as 0/1/2 tags)."""
    release = list(version.release)
    while release and release[-1] == 0:
        release.pop()
    pre, post, dev = version.pre, version.post, version.dev
    if pre is None and post is None and dev is not None:
        pre_key: tuple[Any, ...] = (0,)  # 1.0.dev0 sorts below 1.0a0
    elif pre is None:
        pre_key = (2,)
    else:
        pre_key = (1, pre[0], pre[1])
    local: tuple[Any, ...] = (0,)
    if version.local is not None:
        # packaging: numeric segments compare as numbers and sort above alphanumeric ones
        parts = (int(p) if p.isdigit() else p for p in version.local.split("."))
        local = (1, tuple((1, p) if isinstance(p, int) else (0, p) for p in parts))
    return (
        version.epoch,
        tuple(release),
        pre_key,
        (0,) if post is None else (1, post),
        (1,) if dev is None else (0, dev),
        local,
    )
