"""The shipped end-of-life table: lookups by os-release ID and VERSION_ID, version normalisation, the table's form."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.analysis.model import OSRelease
from regscout.policy.eol import is_eol, load_table, lookup, parse_table, release_key


@pytest.mark.parametrize(
    ("os_id", "version_id", "label", "eol"),
    [
        ("debian", "10", "Debian 10", "2024-06-30"),
        ("debian", "11", "Debian 11", "2026-08-31"),
        ("debian", "12", "Debian 12", "2028-06-30"),
        ("debian", "12.5", "Debian 12", "2028-06-30"),  # etc/debian_version style
        ("ubuntu", "20.04", "Ubuntu 20.04", "2025-05-31"),
        ("ubuntu", "24.04", "Ubuntu 24.04", "2029-05-31"),
        ("alpine", "3.19.1", "Alpine Linux 3.19", "2025-11-01"),
        ("alpine", "3.19", "Alpine Linux 3.19", "2025-11-01"),
        ("alpine", "3.21_alpha20240807", "Alpine Linux 3.21", "2026-11-01"),  # edge
        ("rhel", "9.3", "Red Hat Enterprise Linux 9", "2032-05-31"),  # UBI too
        ("rhel", "7.9", "Red Hat Enterprise Linux 7", "2024-06-30"),
        ("rocky", "8.10", "Rocky Linux 8", "2029-05-31"),
        ("almalinux", "8.9", "AlmaLinux OS 8", "2029-03-01"),
        ("centos", "7", "CentOS 7", "2024-06-30"),
        ("amzn", "2", "Amazon Linux 2", "2026-06-30"),
        ("amzn", "2023", "Amazon Linux 2023", "2029-06-30"),
        ("amzn", "2018.03", "Amazon Linux 2018.03", "2023-12-31"),
        ("fedora", "39", "Fedora Linux 39", "2024-11-26"),
        ("sles", "15.5", "SUSE Linux Enterprise Server 15.5", "2024-12-31"),
        ("sles", "15", "SUSE Linux Enterprise Server 15", "2019-12-31"),
        ("sles", "12.5", "SUSE Linux Enterprise Server 12.5", "2024-10-31"),
        ("Debian", " 10 ", "Debian 10", "2024-06-30"),  # id case and whitespace
    ],
)
def test_lookups(os_id: str, version_id: str, label: str, eol: str) -> None:
    release = lookup(OSRelease(os_id, version_id))
    assert release is not None
    assert (release.label, release.eol) == (label, date.fromisoformat(eol))


@pytest.mark.parametrize(
    ("os_id", "version_id"),
    [
        ("sles", "15.9"),  # a service pack the table does not know is not taken for SLES 15 GA
        ("alpine", "3.99.0"),
        ("ubuntu", "99.04"),
        ("debian", "trixie/sid"),  # testing/unstable
        ("debian", ""),
        ("gentoo", "2.15"),
        ("ol", "9.3"),  # Oracle Linux: not in the table, and not taken for RHEL
    ],
)
def test_releases_the_table_does_not_know(os_id: str, version_id: str) -> None:
    assert lookup(OSRelease(os_id, version_id)) is None
    assert lookup(None) is None


def test_amazon_linux_tries_major_minor_then_major() -> None:
    for version_id, release in (("2023.6.20241010", "2023"), ("2018.03", "2018.03"), ("2", "2")):
        found = lookup(OSRelease("amzn", version_id))
        assert found is not None and found.release == release


@pytest.mark.parametrize(
    ("version_id", "form", "key"),
    [
        ("3.19.1", "major.minor", "3.19"),
        ("3.19.1", "major", "3"),
        ("22.04", "major.minor", "22.04"),
        ("15", "major.minor", "15"),
        ("9.3", "major", "9"),
        ("012.5", "major", "12"),
        ("trixie/sid", "major", None),
        ("", "major", None),
    ],
)
def test_release_key(version_id: str, form: str, key: str | None) -> None:
    assert release_key(version_id, form) == key


@given(st.integers(0, 3000), st.integers(0, 99), st.integers(0, 99), st.sampled_from(["", "_alpha1", "-beta", ".1.2"]))
def test_release_key_normalises_any_version(major: int, minor: int, patch: int, suffix: str) -> None:
    version = f"{major}.{minor:02d}.{patch}{suffix}"
    assert release_key(version, "major") == str(major)
    assert release_key(version, "major.minor") == f"{major}.{minor:02d}"


def test_eol_boundary() -> None:
    release = lookup(OSRelease("debian", "10"))
    assert release is not None
    assert not is_eol(release, date(2024, 6, 29))
    assert is_eol(release, date(2024, 6, 30))
    assert is_eol(release, datetime(2024, 7, 1, tzinfo=UTC))


def test_the_shipped_table_is_dated_and_cites_its_sources() -> None:
    raw = json.loads(resources.files("regscout.policy").joinpath("eol.json").read_text(encoding="utf-8"))
    table = load_table()
    assert table.checked == date.fromisoformat(raw["checked"])
    assert set(raw["distributions"]) >= {
        "debian",
        "ubuntu",
        "alpine",
        "rhel",
        "rocky",
        "almalinux",
        "amzn",
        "fedora",
        "sles",
    }
    for key, info in raw["distributions"].items():
        assert info["source"].startswith("https://"), key
        assert info["checked_against"], key
        assert info["basis"], key
        eols = [date.fromisoformat(r["eol"]) for r in info["releases"].values()]
        assert all(date(1990, 1, 1) < d < date(2040, 1, 1) for d in eols), key
    releases = table.releases()
    assert len(releases) == sum(len(d["releases"]) for d in raw["distributions"].values())
    assert all(r.source and r.basis for r in releases)


def test_versions_within_a_distribution_end_in_order() -> None:
    """A later release of the same line never ends before an earlier one (a typo check on the table)."""
    raw = json.loads(resources.files("regscout.policy").joinpath("eol.json").read_text(encoding="utf-8"))
    # (not Amazon Linux, whose numbering is not chronological: 2018.03 is older than 2)
    for key in ("debian", "alpine", "rhel", "rocky", "almalinux", "fedora"):
        releases = raw["distributions"][key]["releases"]
        ordered = sorted(releases, key=lambda v: tuple(int(p) for p in v.split(".")))
        eols = [releases[v]["eol"] for v in ordered]
        assert eols == sorted(eols), key


def _table(**dist: Any) -> dict[str, Any]:
    base = {"name": "X", "source": "https://x", "version_key": ["major"], "releases": {"1": {"eol": "2030-01-01"}}}
    return {"checked": "2026-01-01", "distributions": {"x": {**base, **dist}}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"distributions": {}}, "needs a 'checked' date"),
        ({"checked": "2026-01-01", "distributions": {}}, "has no distributions"),
        (_table(source=""), "distributions.x cites no source"),
        (_table(version_key=["minor"]), "version_key must list forms among"),
        (_table(releases={}), "distributions.x has no releases"),
        (_table(releases={"1": {"eol": "2030-02-30"}}), "distributions.x.releases.1.eol"),
        (_table(releases={"1": {}}), "must be an object with an eol date"),
        (
            {
                "checked": "2026-01-01",
                "distributions": {
                    "a": {
                        "name": "A",
                        "source": "s",
                        "version_key": ["major"],
                        "releases": {"1": {"eol": "2030-01-01"}},
                        "ids": ["z"],
                    },
                    "b": {
                        "name": "B",
                        "source": "s",
                        "version_key": ["major"],
                        "releases": {"1": {"eol": "2030-01-01"}},
                        "ids": ["z"],
                    },
                },
            },
            "os-release ID 'z' belongs to two distributions",
        ),
    ],
)
def test_table_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_table(data)
