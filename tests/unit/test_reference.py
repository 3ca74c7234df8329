from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from regscout.registries.docker_config import docker_config_credentials
from regscout.registries.reference import ImageReference, InvalidReference, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpine", ImageReference(None, "library/alpine")),
        ("alpine:3.19", ImageReference(None, "library/alpine", "3.19")),
        ("docker.io/alpine", ImageReference("docker.io", "library/alpine")),
        ("bitnami/redis:7", ImageReference(None, "bitnami/redis", "7")),
        ("localhost/app", ImageReference("localhost", "app")),
        ("127.0.0.1:5000/team/app:v1", ImageReference("127.0.0.1:5000", "team/app", "v1")),
        (f"registry.example.com/app@{DIGEST}", ImageReference("registry.example.com", "app", None, DIGEST)),
        (f"registry.example.com:443/a/b:1@{DIGEST}", ImageReference("registry.example.com:443", "a/b", "1", DIGEST)),
    ],
)
def test_parse(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


def test_reference_and_registry_host() -> None:
    assert parse_reference("alpine").reference == "latest"
    assert parse_reference("alpine").registry_host == "registry-1.docker.io"
    assert parse_reference(f"r.io/x:1@{DIGEST}").reference == DIGEST
    assert str(parse_reference("127.0.0.1:5000/team/app:v1")) == "127.0.0.1:5000/team/app:v1"


@pytest.mark.parametrize(
    "text", ["", "UPPER/case", "a b", "app@sha256:short", "r.io/app:bad tag", "r.io/app:-x", "r.io//app", "app:"]
)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference(text)


_component = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8})?", fullmatch=True)


@given(
    st.lists(_component, min_size=1, max_size=4),
    st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
    st.sampled_from([None, "registry.example.com", "127.0.0.1:5000", "localhost:8080"]),
)
def test_round_trip(path: list[str], tag: str | None, host: str | None) -> None:
    assume(host is not None or len(path) == 1 or "." not in path[0])  # "a.b/c" names host a.b, by design
    repository = "/".join(path)
    text = (f"{host}/" if host else "") + repository + (f":{tag}" if tag else "")
    parsed = parse_reference(text)
    assert parsed.tag == tag and parsed.host == host
    expected = repository if host not in (None,) or "/" in repository else f"library/{repository}"
    assert parsed.repository == expected


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_invalid_reference(text: str) -> None:
    try:
        parsed = parse_reference(text)
    except InvalidReference:
        return
    assert parse_reference(str(parsed)) == parsed


def test_docker_config_static_auths(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "reg.example.com": {"auth": base64.b64encode(b"bob:pa:ss").decode()},
                    "https://index.docker.io/v1/": {"username": "hubuser", "password": "hubpat"},
                },
                "credHelpers": {"gcr.io": "gcloud"},
            }
        )
    )
    creds, note = docker_config_credentials("reg.example.com", config)
    assert creds is not None and (creds.username, creds.secret.reveal()) == ("bob", "pa:ss") and note is None
    hub, _ = docker_config_credentials("registry-1.docker.io", config)
    assert hub is not None and hub.username == "hubuser"
    none, helper_note = docker_config_credentials("gcr.io", config)
    assert none is None and helper_note is not None and "credential helper" in helper_note
    assert docker_config_credentials("other.io", config) == (None, None)
    assert docker_config_credentials("x", tmp_path / "missing.json") == (None, None)
