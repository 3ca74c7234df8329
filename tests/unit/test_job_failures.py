"""Which failed attempts are retried: what another attempt may not meet, versus what it would meet again."""

from __future__ import annotations

import pytest

from regscout.analysis.tarwalk import LayerFormatError
from regscout.registries.errors import (
    AccessDeniedError,
    AuthenticationError,
    BlobTransferError,
    DigestMismatchError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    UnreachableError,
)
from regscout.scanning.worker import ImageGone, classify, is_gone


@pytest.mark.parametrize(
    ("error", "retry", "status"),
    [
        (UnreachableError("cannot connect"), True, "unreachable"),
        (RateLimitedError("slow down", http_status=429), True, "429"),
        (ServerError("boom", http_status=503), True, "503"),
        (BlobTransferError("cut short"), True, None),
        (DigestMismatchError("bytes differ"), True, None),
        (AuthenticationError("bad password", http_status=401), False, "401"),
        (AccessDeniedError("denied", http_status=403), False, "403"),
        (ProtocolError("not a manifest"), False, None),
        (ImageGone("alpine:9 is gone"), False, "404"),
        (LayerFormatError("truncated tar"), False, None),
        (ConnectionResetError("reset"), True, None),
        (KeyError("bug"), False, None),
    ],
)
def test_classify(error: Exception, retry: bool, status: str | None) -> None:
    failure = classify(error)
    assert failure.retry is retry
    if status is not None:
        assert failure.registry_status == status
    assert failure.reason


def test_only_an_unknown_manifest_or_repository_means_the_image_is_gone() -> None:
    assert is_gone(NotFoundError("no such tag", code="MANIFEST_UNKNOWN"))
    assert is_gone(NotFoundError("no such repository", code="NAME_UNKNOWN"))
    assert not is_gone(NotFoundError("no such layer", code="BLOB_UNKNOWN"))
    assert not is_gone(NotFoundError("the index has no linux/s390x image"))
