from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from regscout.registries.auth import Credentials
from regscout.secrets import RedactingFilter, Secret, SecretBox, SecretKeyError, generate_key, load_key_ring


def test_secret_never_shows_in_repr_str_or_containers() -> None:
    secret = Secret("hunter2-very-secret")
    creds = Credentials("bob", secret)
    for text in (repr(secret), str(secret), repr(creds), f"{creds}", str([secret])):
        assert "hunter2" not in text
    assert secret.reveal() == "hunter2-very-secret"


def test_box_round_trip_and_rotation() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt(Secret("pw-123456"))
    assert "pw-123456" not in token
    ring = SecretBox([new, old])
    rotated = ring.rotate(token)
    assert SecretBox([new]).decrypt(rotated).reveal() == "pw-123456"
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox([old]).decrypt(rotated)


def test_bad_key_is_a_clear_error() -> None:
    with pytest.raises(SecretKeyError, match="not a valid Fernet key"):
        SecretBox(["short"])


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "home" / "secret.key"
    first = load_key_ring(None, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_key_ring(None, key_file) == first
    key_file.chmod(0o644)
    with pytest.raises(SecretKeyError, match="readable by others"):
        load_key_ring(None, key_file)


def test_env_key_ring_wins_and_splits_on_commas(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    assert load_key_ring(f"{a}, {b}", tmp_path / "unused") == [a, b]
    assert not (tmp_path / "unused").exists()


def test_redacting_filter_scrubs_messages_and_tracebacks() -> None:
    secret = Secret("topsecret-value-42")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "login with %s failed", (secret.reveal(),), None)
    try:
        raise RuntimeError("boom topsecret-value-42")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert "topsecret" not in record.getMessage()
    assert record.exc_text is not None and "topsecret" not in record.exc_text
    header = logging.LogRecord("x", logging.INFO, __file__, 1, "Authorization: Basic YWxpY2U6cHc=", None, None)
    RedactingFilter().filter(header)
    assert "YWxpY2U6cHc" not in header.getMessage()
