"""Run the real `regscout` command and server as subprocesses, as a user would."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REGSCOUT = [sys.executable, "-m", "regscout"]


@dataclass
class CliEnv:
    home: Path
    extra: dict[str, str] = field(default_factory=dict)
    transcript: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGSCOUT_")}
        env.update(
            # REGSCOUT_VULN_UPDATE_INTERVAL=0: a test server never downloads data; tests reach only this machine
            {
                "REGSCOUT_HOME": str(self.home),
                "REGSCOUT_LOG_LEVEL": "DEBUG",
                "COLUMNS": "200",
                "NO_COLOR": "1",
                "REGSCOUT_VULN_UPDATE_INTERVAL": "0",
            },
            **self.extra,
        )
        return env

    def run(self, *args: str, stdin: str | None = None, check_code: int | None = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*REGSCOUT, *args], input=stdin, capture_output=True, text=True, env=self.env(), timeout=120, check=False
        )
        self.transcript += [result.stdout, result.stderr]
        if check_code is not None:
            assert result.returncode == check_code, f"{args} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result


def wait_until(condition: Callable[[], bool], seconds: float, failure: Callable[[], str]) -> None:
    """Wait for another process to reach a state: check the condition every 50 ms until the deadline."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(0.05)  # the polling interval; what is awaited is the condition


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`regscout serve` on a free port; its output is kept for the leak checks."""

    def __init__(self, cli: CliEnv) -> None:
        self.port = free_port()
        self.log = cli.home.parent / f"serve-{self.port}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(
            [*REGSCOUT, "serve", "--port", str(self.port)],
            env=cli.env(),
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(self._ready, 30, lambda: f"regscout serve did not become ready: {self.log.read_text()}")
        match = re.search(r"^(rst_\S+)$", self.log.read_text(), re.M)
        self.admin_token = match.group(1) if match else None

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"regscout serve exited: {self.log.read_text()}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=20)
        self._log_handle.close()
        return self.log.read_text()
