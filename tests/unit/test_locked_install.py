"""The environment the tests run in is the one uv.lock describes: every installed distribution is locked, at a
locked version. A package installed by hand, or a lock that was not refreshed with pyproject.toml, fails here."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, set[str]]:
    versions: dict[str, set[str]] = defaultdict(set)
    for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]:
        versions[_canonical(package["name"])].add(package["version"])
    return versions


def test_every_installed_distribution_is_locked_at_its_locked_version() -> None:
    locked = _locked()
    installed = {_canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    assert len(installed) > 50
    not_locked = sorted(name for name in installed if name not in locked)
    other_version = sorted(
        f"{n} {v} (locked: {locked[n]})" for n, v in installed.items() if n in locked and v not in locked[n]
    )
    assert not_locked == [], "installed but not in uv.lock: run bash scripts/install.sh --extra test"
    assert other_version == []


def test_the_lock_covers_every_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared.extend(extra)
    names = {_canonical(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]) for requirement in declared}
    assert names - set(_locked()) == set()
