from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.registries.errors import DigestMismatchError, ProtocolError, UnsupportedManifestError
from regscout.registries.manifest import (
    DOCKER_LIST,
    OCI_MANIFEST,
    ImageIndex,
    ImageManifest,
    Platform,
    parse_manifest,
    sha256_digest,
    verify_digest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def test_image_manifest() -> None:
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "c", "digest": D1, "size": 10},
            "layers": [{"mediaType": "l", "digest": D2, "size": 20}],
        }
    ).encode()
    manifest = parse_manifest(body, None, sha256_digest(body))
    assert isinstance(manifest, ImageManifest)
    assert manifest.config.digest == D1 and [layer.size for layer in manifest.layers] == [20]


def test_docker_list_selects_platform_with_variant() -> None:
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                {
                    "mediaType": "m",
                    "digest": D1,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                },
                {"mediaType": "m", "digest": D2, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": "m", "digest": D2, "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}},
            ],
        }
    ).encode()
    index = parse_manifest(body, DOCKER_LIST, "sha256:x")
    assert isinstance(index, ImageIndex)
    assert [str(p) for p in index.platforms()] == ["linux/arm64/v8", "linux/amd64"]
    assert index.select(Platform.parse("linux/arm64")).digest == D1  # type: ignore[union-attr]
    assert index.select(Platform.parse("linux/amd64")).digest == D2  # type: ignore[union-attr]
    assert index.select(Platform.parse("windows/amd64")) is None


def test_schema1_is_refused_with_a_clear_error() -> None:
    body = json.dumps({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}).encode()
    with pytest.raises(UnsupportedManifestError, match="legacy manifest not supported"):
        parse_manifest(body, "application/vnd.docker.distribution.manifest.v1+prettyjws", "sha256:x")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"schemaVersion": 3}',
        b'{"schemaVersion": 2, "config": {"digest": 5}, "layers": []}',
        b'{"schemaVersion": 2, "manifests": {"a": 1}}',
        b'{"schemaVersion": 2, "config": {"digest": "sha256:a", "size": -1}, "layers": []}',
    ],
)
def test_malformed_manifests_raise_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_manifest(body, None, "sha256:x")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "schemaVersion",
                        "mediaType",
                        "config",
                        "layers",
                        "manifests",
                        "digest",
                        "size",
                        "platform",
                        "os",
                        "architecture",
                    ]
                ),
                children,
                max_size=6,
            )
        ),
        max_leaves=30,
    )
)
def test_any_json_either_parses_or_raises_protocol_error(value: object) -> None:
    body = json.dumps(value).encode()
    try:
        result = parse_manifest(body, None, "sha256:x")
    except ProtocolError:
        return
    assert isinstance(result, ImageManifest | ImageIndex)
    assert isinstance(value, dict) and value.get("schemaVersion") == 2


def test_verify_digest() -> None:
    verify_digest(b"abc", sha256_digest(b"abc"), "blob")
    with pytest.raises(DigestMismatchError):
        verify_digest(b"abd", sha256_digest(b"abc"), "blob")


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "a/b/c/d"])
def test_bad_platforms(text: str) -> None:
    with pytest.raises(ValueError, match="OS/ARCH"):
        Platform.parse(text)
