"""End of life of an image's base OS, from the shipped table ``eol.json`` (one entry per distribution release, with
the source of its dates and the day the table was checked).

The OS comes as ``analysis.model.OSRelease`` gives it: the os-release ``ID`` and ``VERSION_ID``. Each
distribution says which part of ``VERSION_ID`` names a release (``version_key``, tried in order):

- ``major``: ``"9.3"`` → ``"9"`` (Debian, RHEL and its rebuilds, Fedora);
- ``major.minor``: ``"3.19.1"`` → ``"3.19"``, ``"22.04"`` → ``"22.04"``, and a bare ``"15"`` stays ``"15"``
  (Alpine, Ubuntu, SLES, where each minor release has its own date).

A release the table does not list has no end-of-life date (``lookup`` gives None): a newer release than the
table knows is not taken for an old one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

from ..analysis.model import OSRelease

__all__ = ["EolRelease", "EolTable", "is_eol", "load_table", "lookup", "parse_table", "release_key"]

_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")
_KEY_FORMS = frozenset({"major", "major.minor"})


@dataclass(frozen=True)
class EolRelease:
    distribution: str  # the table's key, e.g. "debian"
    name: str  # "Debian"
    release: str  # "10"
    eol: date
    codename: str = ""
    basis: str = ""  # which support ends on that day
    source: str = ""  # the public calendar
    note: str = ""  # set when the date is uncertain

    @property
    def label(self) -> str:
        """``Debian 10``; ``Ubuntu 22.04``."""
        return f"{self.name} {self.release}"


@dataclass(frozen=True)
class _Distribution:
    key: str
    name: str
    version_key: tuple[str, ...]
    releases: Mapping[str, EolRelease]


@dataclass(frozen=True)
class EolTable:
    checked: date
    distributions: Mapping[str, _Distribution]  # by os-release ID

    def releases(self) -> list[EolRelease]:
        seen = {id(d): d for d in self.distributions.values()}
        return [r for d in seen.values() for r in d.releases.values()]


def release_key(version_id: str, form: str) -> str | None:
    """The part of an os-release ``VERSION_ID`` that names a release in ``form`` (``major`` or ``major.minor``);
    None when it does not start with a number (``trixie/sid``)."""
    m = _VERSION.match(version_id.strip())
    if m is None:
        return None
    major, minor = m[1], m[2]
    if form == "major" or minor is None:
        return str(int(major))
    return f"{int(major)}.{minor}"


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string")
    return value


def _release(dist_key: str, name: str, info: Mapping[str, Any], key: str, body: Any) -> EolRelease:
    where = f"distributions.{dist_key}.releases.{key}"
    if not isinstance(body, Mapping) or "eol" not in body:
        raise ValueError(f"{where} must be an object with an eol date")
    try:
        eol = date.fromisoformat(_text(body["eol"], f"{where}.eol"))
    except ValueError as exc:
        raise ValueError(f"{where}.eol: {exc}") from None
    return EolRelease(
        distribution=dist_key,
        name=name,
        release=key,
        eol=eol,
        codename=str(body.get("codename", "")),
        basis=str(info.get("basis", "")),
        source=str(info.get("source", "")),
        note=str(body.get("note", "")),
    )


def parse_table(data: Mapping[str, Any]) -> EolTable:
    """The table from its JSON form; ValueError naming the faulty entry."""
    try:
        checked = date.fromisoformat(_text(data.get("checked"), "checked"))
    except ValueError as exc:
        raise ValueError(f"the end-of-life table needs a 'checked' date (YYYY-MM-DD): {exc}") from None
    raw = data.get("distributions")
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError("the end-of-life table has no distributions")
    by_id: dict[str, _Distribution] = {}
    for dist_key, info in raw.items():
        if not isinstance(info, Mapping):
            raise ValueError(f"distributions.{dist_key} must be an object")
        name = _text(info.get("name"), f"distributions.{dist_key}.name")
        if not info.get("source"):
            raise ValueError(f"distributions.{dist_key} cites no source")
        forms = tuple(info.get("version_key", ()))
        if not forms or not set(forms) <= _KEY_FORMS:
            raise ValueError(f"distributions.{dist_key}.version_key must list forms among {sorted(_KEY_FORMS)}")
        releases_raw = info.get("releases")
        if not isinstance(releases_raw, Mapping) or not releases_raw:
            raise ValueError(f"distributions.{dist_key} has no releases")
        releases = {str(k): _release(dist_key, name, info, str(k), v) for k, v in releases_raw.items()}
        dist = _Distribution(dist_key, name, forms, releases)
        for os_id in info.get("ids", [dist_key]):
            if os_id in by_id:
                raise ValueError(f"os-release ID {os_id!r} belongs to two distributions")
            by_id[str(os_id)] = dist
    return EolTable(checked, by_id)


@functools.cache
def load_table() -> EolTable:
    """The table shipped in this package (read once)."""
    text = resources.files(__package__).joinpath("eol.json").read_text(encoding="utf-8")
    return parse_table(json.loads(text))


def lookup(os: OSRelease | None, table: EolTable | None = None) -> EolRelease | None:
    """The table's entry for the image's OS release, or None when the table has none for it."""
    if os is None or not os.version_id:
        return None
    dist = (table or load_table()).distributions.get(os.id.strip().lower())
    if dist is None:
        return None
    for form in dist.version_key:
        key = release_key(os.version_id, form)
        if key is not None and key in dist.releases:
            return dist.releases[key]
    return None


def is_eol(release: EolRelease, now: datetime | date) -> bool:
    """Past end of life on and after the end-of-life day (``now`` as a date in its own time zone)."""
    today = now.date() if isinstance(now, datetime) else now
    return today >= release.eol
