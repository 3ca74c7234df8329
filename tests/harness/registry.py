"""Start the real CNCF distribution registry (``/usr/bin/docker-registry``, 2.8.x) for tests.

Modes:

* ``anonymous``: no auth at all.
* ``htpasswd``: Basic auth against a bcrypt htpasswd file (made with ``htpasswd -B``).
* ``token``: Bearer token auth against a :class:`~tests.harness.token_issuer.TokenIssuer`.
* ``tls``: like ``htpasswd`` but over HTTPS with a certificate from a harness-made CA.

The configuration is written as JSON (which is YAML) into ``workdir/config.yml``; the registry's
stdout+stderr (application log at level warn plus the access log) go to ``workdir/registry.log``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from .accounts import Account
from .httpserver import free_port
from .pki import make_ca, make_tls_leaf
from .token_issuer import DEFAULT_ISSUER, DEFAULT_SERVICE, TokenIssuer

__all__ = [
    "REGISTRY_BINARY",
    "Account",
    "Mode",
    "RegistryStartError",
    "RunningRegistry",
    "default_accounts",
    "start_registry",
]

Mode = Literal["anonymous", "htpasswd", "token", "tls"]

REGISTRY_BINARY = os.environ.get("REGSCOUT_TEST_REGISTRY_BINARY", "/usr/bin/docker-registry")
READY_TIMEOUT = 15.0
HTPASSWD_REALM = "regscout-test"
TOKEN_SERVICE = DEFAULT_SERVICE
TOKEN_ISSUER = DEFAULT_ISSUER

_live: set[RunningRegistry] = set()
_live_lock = threading.Lock()


class RegistryStartError(RuntimeError):
    """The registry process did not come up; the message carries the tail of its log."""


def default_accounts(mode: Mode) -> dict[str, Account]:
    """Fresh default accounts for ``mode`` (a new dict each call)."""
    if mode in ("htpasswd", "tls"):
        return {"alice": Account("alice-secret-pw", frozenset({"pull", "push", "delete"}))}
    if mode == "token":
        return {
            "writer": Account("writer-secret-pw", frozenset({"pull", "push", "delete"})),
            "reader": Account("reader-secret-pw", frozenset({"pull"})),
        }
    return {}


@dataclass(eq=False)
class RunningRegistry:
    mode: Mode
    url: str
    host: str
    accounts: dict[str, Account]
    ca_file: Path | None
    token_issuer: TokenIssuer | None
    storage_dir: Path
    workdir: Path
    config_file: Path
    log_file: Path
    anonymous_pull: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def verify(self) -> bool | ssl.SSLContext:
        """What to pass as httpx's ``verify=`` to talk to this registry (an SSLContext trusting
        the harness CA in tls mode; httpx 0.28 deprecates passing a CA path as a string)."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def process_id(self) -> int:
        """PID of the registry server (benchmarks read its CPU time)."""
        if self._process is None:
            raise RegistryStartError("the registry is not running")
        return self._process.pid

    def admin_auth(self) -> tuple[str, str] | None:
        """Credentials that can push (None for an anonymous registry)."""
        if self.mode == "anonymous":
            return None
        for user, account in self.accounts.items():
            if account.can_push:
                return user, account.password
        return None

    def auth_for(self, user: str) -> tuple[str, str]:
        return user, self.accounts[user].password

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the registry process (and the token issuer). Idempotent."""
        self._stop_process()
        if self.token_issuer is not None:
            self.token_issuer.close()
        with _live_lock:
            _live.discard(self)

    def restart(self) -> None:
        """Stop the registry process and start it again on the same port and storage.

        Useful for "registry went away" tests. The token issuer keeps running throughout.
        """
        self._stop_process()
        self._process = _spawn(self.config_file, self.log_file)
        _wait_ready(self._process, self.url, self.verify, self.log_file)

    def _stop_process(self) -> None:
        proc = self._process
        if proc is None:
            return
        self._process = None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _spawn(config_file: Path, log_file: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _tail(log_file: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    verify: bool | ssl.SSLContext,
    log_file: Path,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Poll ``GET /v2/`` until it answers with any HTTP status, the process dies, or timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    with httpx.Client(verify=verify, timeout=2.0, trust_env=False) as client:
        while True:
            if proc.poll() is not None:
                raise RegistryStartError(
                    f"registry exited with status {proc.returncode} during startup\n"
                    f"--- {log_file} (tail) ---\n{_tail(log_file)}"
                )
            try:
                client.get(f"{url}/v2/")
                return
            except httpx.TransportError as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                proc.terminate()
                proc.wait(timeout=10)
                raise RegistryStartError(
                    f"registry at {url} not ready after {timeout:.0f}s (last error: {last_error!r})"
                    f"\n--- {log_file} (tail) ---\n{_tail(log_file)}"
                )
            # Pause between polls by waiting on the process itself: returns at once if it exits.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.02)


def _write_htpasswd(path: Path, accounts: dict[str, Account]) -> None:
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        raise RegistryStartError("htpasswd (apache2-utils) is not installed")
    lines: list[str] = []
    for user, account in accounts.items():
        # -B bcrypt (the only scheme distribution accepts), -C 4 = cheapest cost, so that the
        # registry's per-request bcrypt check stays ~1 ms; -i reads the password from stdin.
        out = subprocess.run(
            [htpasswd, "-niB", "-C", "4", user],
            input=account.password.encode(),
            capture_output=True,
            check=True,
        )
        lines.append(out.stdout.decode().strip())
    path.write_text("\n".join(lines) + "\n")


def _config(
    *,
    port: int,
    storage_dir: Path,
    catalog_max_entries: int,
    auth: dict[str, Any] | None,
    tls: tuple[Path, Path] | None,
) -> dict[str, Any]:
    http: dict[str, Any] = {
        "addr": f"127.0.0.1:{port}",
        "secret": secrets.token_hex(16),
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
        # distribution 2.8: top-level catalog.maxentries (default 1000). A request with n above
        # it is answered 400 PAGINATION_NUMBER_INVALID.
        "catalog": {"maxentries": catalog_max_entries},
    }
    if auth is not None:
        config["auth"] = auth
    return config


def start_registry(
    mode: Mode,
    workdir: Path,
    *,
    accounts: dict[str, Account] | None = None,
    anonymous_pull: bool = False,
    catalog_max_entries: int = 1000,
    token_expires_in: int = 300,
    storage_dir: Path | None = None,
) -> RunningRegistry:
    """Start a registry in ``mode`` with its files under ``workdir`` and wait until it answers.

    ``anonymous_pull`` only has a meaning in token mode (the issuer then grants ``pull`` to
    anonymous token requests); htpasswd auth in distribution cannot mix anonymous and
    authenticated access, so asking for it in htpasswd/tls mode raises ValueError.

    ``storage_dir`` defaults to ``workdir/storage``; bulk tests may point it at a tmpfs
    (e.g. /dev/shm) to cut the registry's filesystem syscall cost.
    """
    if mode not in ("anonymous", "htpasswd", "token", "tls"):
        raise ValueError(f"unknown registry mode {mode!r}")
    if anonymous_pull and mode in ("htpasswd", "tls"):
        raise ValueError("distribution's htpasswd auth cannot allow anonymous pulls")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    storage_dir = (workdir / "storage") if storage_dir is None else storage_dir.resolve()
    storage_dir.mkdir(parents=True, exist_ok=True)
    accts = default_accounts(mode) if accounts is None else accounts

    auth: dict[str, Any] | None = None
    tls: tuple[Path, Path] | None = None
    ca_file: Path | None = None
    issuer: TokenIssuer | None = None
    scheme = "http"
    if mode in ("htpasswd", "tls"):
        htpasswd_file = workdir / "htpasswd"
        _write_htpasswd(htpasswd_file, accts)
        auth = {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(htpasswd_file)}}
    if mode == "tls":
        ca = make_ca()
        leaf = make_tls_leaf(ca)
        ca_file = workdir / "ca.pem"
        ca_file.write_bytes(ca.cert_pem)
        cert_file = workdir / "cert.pem"
        cert_file.write_bytes(leaf.cert_pem + ca.cert_pem)
        key_file = workdir / "key.pem"
        key_file.write_bytes(leaf.key_pem)
        key_file.chmod(0o600)
        tls = (cert_file, key_file)
        scheme = "https"
    if mode == "token":
        issuer = TokenIssuer(
            workdir / "token-issuer",
            accounts=accts,
            anonymous_pull=anonymous_pull,
            expires_in=token_expires_in,
        )
        auth = {
            "token": {
                "realm": issuer.url,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(issuer.cert_file),
            }
        }

    config_file = workdir / "config.yml"
    log_file = workdir / "registry.log"
    verify: bool | ssl.SSLContext = ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
    last_error: RegistryStartError | None = None
    try:
        # The port is free when probed but another process could grab it before the registry
        # binds it: retry a couple of times on "address already in use".
        for _attempt in range(3):
            port = free_port()
            config = _config(
                port=port,
                storage_dir=storage_dir,
                catalog_max_entries=catalog_max_entries,
                auth=auth,
                tls=tls,
            )
            config_file.write_text(json.dumps(config, indent=2) + "\n")
            url = f"{scheme}://127.0.0.1:{port}"
            proc = _spawn(config_file, log_file)
            try:
                _wait_ready(proc, url, verify, log_file)
            except RegistryStartError as exc:
                last_error = exc
                if "address already in use" in str(exc):
                    continue
                raise
            reg = RunningRegistry(
                mode=mode,
                url=url,
                host=f"127.0.0.1:{port}",
                accounts=accts,
                ca_file=ca_file,
                token_issuer=issuer,
                storage_dir=storage_dir,
                workdir=workdir,
                config_file=config_file,
                log_file=log_file,
                anonymous_pull=anonymous_pull or mode == "anonymous",
                _process=proc,
            )
            with _live_lock:
                _live.add(reg)
            return reg
        assert last_error is not None
        raise last_error
    except BaseException:
        if issuer is not None:
            issuer.close()
        raise


@atexit.register
def _stop_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for reg in leftovers:
        reg.stop()
