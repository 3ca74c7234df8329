"""Plain JSON-ready values from the objects regscout passes around."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

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


T = TypeVar("T")


class Rebuild(Generic[T]):
    """A frozen dataclass back from the dict that ``plain``/``asdict`` made of it, without calling its ``__init__``:
    a frozen dataclass sets each field through ``object.__setattr__``, which is most of the cost of decoding the
    hundreds of packages and findings of a stored result. ``convert`` turns JSON lists back into tuples. A dict
    whose keys are not exactly the fields (stored by another version) goes through the constructor instead, so
    defaults and errors still apply."""

    def __init__(self, cls: type[T], convert: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        if not dataclasses.is_dataclass(cls) or "__post_init__" in vars(cls) or hasattr(cls, "__slots__"):
            raise TypeError(f"{cls.__name__} must be a plain dataclass without __post_init__ or slots")
        self.cls = cls
        self.names = frozenset(f.name for f in dataclasses.fields(cls))
        self.convert = tuple((convert or {}).items())

    def __call__(self, values: Mapping[str, Any]) -> T:
        data = dict(values)
        for name, fn in self.convert:
            if name in data:
                data[name] = fn(data[name])
        if data.keys() != self.names:
            return self.cls(**data)
        instance = object.__new__(self.cls)
        instance.__dict__.update(data)
        return instance
