"""Secrets at rest and in memory.

`Secret` wraps a credential so that it never shows in a repr, str, log line or traceback;
`SecretBox` encrypts with Fernet under a key ring (MultiFernet: the first key encrypts, all keys
decrypt), which is what makes key rotation possible without downtime.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

REDACTED = "****"

_live_secrets: set[str] = set()
_live_lock = threading.Lock()


class Secret:
    """A credential value. Only `reveal()` gives the plain text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= 4:
            with _live_lock:
                _live_secrets.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def redact(text: str) -> str:
    """Replace every live secret in `text`; a last line of defence for logs and error text."""
    with _live_lock:
        values = sorted(_live_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return _BASIC_OR_BEARER.sub(r"\1 " + REDACTED, text)


_BASIC_OR_BEARER = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}")


class RedactingFilter(logging.Filter):
    """Scrubs secrets from every record that passes through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class SecretKeyError(Exception):
    """The key ring is missing, malformed or does not open a stored secret."""


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError("no secret key configured")
        try:
            self._fernets = [Fernet(key.encode()) for key in keys]
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "a secret key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                "generate one with `regscout secrets generate-key`"
            ) from exc
        self._ring = MultiFernet(self._fernets)
        self.keys = tuple(keys)

    def encrypt(self, plain: Secret) -> str:
        return self._ring.encrypt(plain.reveal().encode()).decode()

    def decrypt(self, token: str) -> Secret:
        try:
            return Secret(self._ring.decrypt(token.encode()).decode())
        except InvalidToken as exc:
            raise SecretKeyError(
                "a stored credential cannot be decrypted with the configured key(s); "
                "set REGSCOUT_SECRET_KEY or restore the key file that encrypted it"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key of the ring."""
        try:
            return self._ring.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError("a stored credential cannot be decrypted for rotation") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _parse_keys(text: str) -> list[str]:
    return [k.strip() for k in re.split(r"[\s,]+", text) if k.strip()]


def read_key_file(path: Path) -> list[str]:
    return _parse_keys(path.read_text())


def write_key_file(path: Path, keys: Iterable[str]) -> None:
    """Write atomically with mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
    tmp.replace(path)


def load_key_ring(env_value: str | None, key_file: Path) -> list[str]:
    """The key ring: REGSCOUT_SECRET_KEY (comma-separated, newest first) or the key file,
    which is created with one new key at first start."""
    if env_value:
        return _parse_keys(env_value)
    if key_file.exists():
        mode = key_file.stat().st_mode & 0o777
        if mode & 0o077:
            raise SecretKeyError(f"key file {key_file} is readable by others (mode {mode:o}); run chmod 600 on it")
        return read_key_file(key_file)
    keys = [generate_key()]
    write_key_file(key_file, keys)
    return keys
