"""Plain JSON-ready values from the objects regscout passes around."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel


def plain(value: Any) -> Any:
    """Dataclasses, pydantic models, enums and datetimes as JSON-ready values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value
