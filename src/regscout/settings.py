"""Process-wide settings read from the environment (every variable is documented in docs/settings.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "regscout"


def _prefix(value: str) -> str:
    """A URL path prefix: '' (the root) or '/a/b' without a trailing slash."""
    stripped = value.strip().strip("/")
    if any(part in ("", ".", "..") for part in stripped.split("/")) and stripped:
        raise ValueError(f"REGSCOUT_HARBOR_PREFIX {value!r} is not a URL path such as /harbor")
    return f"/{stripped}" if stripped else ""


def _seconds(value: str, name: str) -> int:
    """Seconds, or a number with s, m, h or d."""
    text = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{name}={value!r}: expected seconds or a number with s, m, h or d, like 30m")
    return int(number) * unit


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    secret_key: str | None
    bind_host: str
    bind_port: int
    log_level: str
    harbor_prefix: str = "/harbor"  # where Harbor's scanner API is served: the base URL Harbor is given ends here
    session_idle_seconds: int = 30 * 60  # a console session unused this long ends

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ["REGSCOUT_HOME"]) if os.environ.get("REGSCOUT_HOME") else _default_home()
        database_url = os.environ.get("REGSCOUT_DATABASE_URL") or f"sqlite:///{home / 'regscout.db'}"
        return cls(
            home=home,
            database_url=database_url,
            secret_key=os.environ.get("REGSCOUT_SECRET_KEY") or None,
            bind_host=os.environ.get("REGSCOUT_HOST", "127.0.0.1"),
            bind_port=int(os.environ.get("REGSCOUT_PORT", "8080")),
            log_level=os.environ.get("REGSCOUT_LOG_LEVEL", "INFO").upper(),
            harbor_prefix=_prefix(os.environ.get("REGSCOUT_HARBOR_PREFIX", "/harbor")),
            session_idle_seconds=_seconds(os.environ.get("REGSCOUT_SESSION_IDLE", "30m"), "REGSCOUT_SESSION_IDLE"),
        )

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
