"""Settings of the job machinery, read from the environment (docs/settings.md lists them)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import Literal, cast

EXECUTORS = ("local", "celery")


def _number(name: str, default: float, *, minimum: float = 0.0) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if value < minimum:
        raise ValueError(f"{name}={text!r} must be at least {minimum:g}")
    return value


def worker_name(prefix: str) -> str:
    """Unique per process and start: a restarted worker never inherits the leases of its predecessor."""
    return f"{prefix}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class JobConfig:
    executor: Literal["local", "celery"] = "local"
    broker_url: str | None = None
    workers: int = 2  # concurrent scans per server (local) or per `regscout worker` (celery)
    lease_seconds: float = 60.0
    poll_seconds: float = 2.0
    retry_delay_seconds: float = 30.0  # times the attempt number, before a requeued job runs again
    scheduler_tick_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> JobConfig:
        executor = os.environ.get("REGSCOUT_EXECUTOR", "local").strip().lower() or "local"
        if executor not in EXECUTORS:
            raise ValueError(f"REGSCOUT_EXECUTOR={executor!r} must be one of {', '.join(EXECUTORS)}")
        broker = os.environ.get("REGSCOUT_BROKER_URL") or None
        if executor == "celery" and broker is None:
            raise ValueError(
                "REGSCOUT_EXECUTOR=celery needs REGSCOUT_BROKER_URL (redis://host:6379/0 or amqp://user:pass@host//)"
            )
        return cls(
            executor=cast(Literal["local", "celery"], executor),
            broker_url=broker,
            workers=int(_number("REGSCOUT_WORKERS", 2, minimum=1)),
            lease_seconds=_number("REGSCOUT_JOB_LEASE_SECONDS", 60, minimum=1),
            poll_seconds=_number("REGSCOUT_JOB_POLL_SECONDS", 2, minimum=0.05),
            retry_delay_seconds=_number("REGSCOUT_JOB_RETRY_DELAY_SECONDS", 30),
            scheduler_tick_seconds=_number("REGSCOUT_SCHEDULER_TICK_SECONDS", 30, minimum=0.05),
        )

    @property
    def heartbeat_seconds(self) -> float:
        return self.lease_seconds / 3
