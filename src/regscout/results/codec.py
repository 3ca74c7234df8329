"""How stored results are encoded: zlib-compressed JSON blobs, and the objects read back from them."""

from __future__ import annotations

import json
import zlib
from dataclasses import fields
from datetime import datetime
from typing import Any

import orjson

from ..analysis.details import ImageDetails, LayerDetail
from ..jsonable import Rebuild
from ..vulndb.matcher import Finding

__all__ = ["details_from_json", "finding_from_json", "pack", "unpack"]

_DETAIL_FIELDS = frozenset(f.name for f in fields(ImageDetails))
_LAYER_FIELDS = frozenset(f.name for f in fields(LayerDetail))


def pack(data: Any) -> bytes:
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 6)


def unpack(blob: bytes) -> Any:
    return orjson.loads(zlib.decompress(blob))


_finding = Rebuild(Finding, {f.name: tuple for f in fields(Finding) if f.type.startswith("tuple")})


def finding_from_json(data: dict[str, Any]) -> Finding:
    return _finding(data)


def _time(value: Any) -> datetime | None:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) else None


def details_from_json(data: dict[str, Any]) -> ImageDetails:
    """The ImageDetails that ResultsService.save stored (as jsonable.plain made it)."""
    values = {k: v for k, v in data.items() if k in _DETAIL_FIELDS}
    values["created"] = _time(values.get("created"))
    values["layers"] = [
        LayerDetail(
            **{**{k: v for k, v in layer.items() if k in _LAYER_FIELDS}, "created": _time(layer.get("created"))}
        )
        for layer in data.get("layers") or ()
    ]
    return ImageDetails(**values)
