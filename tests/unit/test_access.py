"""Roles, permissions and scopes (access.py): what a scope covers, what a role may do, and the route table's rule
that an unlisted route has no permission at all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.access import (
    HARBOR,
    ROLE_PERMISSIONS,
    ROLES,
    AccessDenied,
    Principal,
    parse_scope,
    parse_scopes,
    route_permission,
)


@pytest.mark.parametrize(
    ("scope", "host", "repository", "covered"),
    [
        ("ghcr.io", "ghcr.io", "team/app", True),
        ("ghcr.io", "quay.io", "team/app", False),
        ("ghcr.io/team/*", "ghcr.io", "team/app", True),
        ("ghcr.io/team/*", "ghcr.io", "team/sub/app", True),  # the pull rules' `*`: any run of characters
        ("ghcr.io/team/app", "ghcr.io", "team/app2", False),
        ("ghcr.io/team/*", "ghcr.io", "other/app", False),
        ("*.example.com", "registry.example.com", "a/b", True),
        ("*.example.com", "example.com", "a/b", False),
        ("localhost:5000/app", "localhost:5000", "app", True),
        ("docker.io/library/*", "docker.io", "library/nginx", True),
    ],
)
def test_what_a_scope_covers(scope: str, host: str, repository: str, covered: bool) -> None:
    assert parse_scope(scope).covers(host, repository) is covered


@pytest.mark.parametrize("text", ["", "team/app", "nginx", "/ghcr.io"])
def test_a_scope_must_start_with_a_registry_host(text: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        parse_scope(text)


def test_seeing_and_owning_a_registry() -> None:
    partial = Principal("token", "ci", "ci", parse_scopes(["ghcr.io/team/*"]))
    whole = Principal("token", "so", "security-officer", parse_scopes(["ghcr.io"]))
    assert partial.sees_registry("ghcr.io") and not partial.owns_registry("ghcr.io")
    assert whole.owns_registry("ghcr.io") and not whole.sees_registry("quay.io")
    with pytest.raises(AccessDenied) as denied:
        partial.require_sees("ghcr.io", "other/app", "the image")
    assert denied.value.hidden


@given(st.sampled_from(ROLES), st.sampled_from(sorted(set().union(*ROLE_PERMISSIONS.values()))))
def test_a_role_may_exactly_what_its_permissions_say(role: str, permission: str) -> None:
    principal = Principal("user", "u", role)
    assert principal.allows(permission) is (permission in ROLE_PERMISSIONS[role])
    if not principal.allows(permission):
        with pytest.raises(AccessDenied):
            principal.require(permission)


def test_roles_are_ordered_by_power() -> None:
    admin, officer, auditor, ci, scanner = (ROLE_PERMISSIONS[r] for r in ROLES)
    assert officer < admin and auditor < admin and ci < officer and not scanner
    assert not any(p.endswith((".write", ".run")) for p in auditor)


def test_unlisted_routes_have_no_permission_and_the_scanner_paths_are_exact() -> None:
    assert route_permission("GET", "/api/v1/not-a-route", "/harbor") is None
    assert route_permission("POST", "/harbor/api/v1/scan", "/harbor") == HARBOR
    # with the scanner at the root, regscout's own API is still checked by its own table
    assert route_permission("GET", "/api/v1/policies", "") == "policies.read"
    assert route_permission("GET", "/api/v1/metadata", "") == HARBOR


def test_the_roles_table_in_the_docs_is_the_code() -> None:
    from pathlib import Path

    from regscout.access import PERMISSIONS

    text = (Path(__file__).parents[2] / "docs" / "access.md").read_text()
    for permission in sorted(PERMISSIONS):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{permission}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert cells == ["yes" if permission in ROLE_PERMISSIONS[r] else "—" for r in ROLES], permission
