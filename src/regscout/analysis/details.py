"""Image details from the manifest and config: layers with the history line that made each,
the history as a Dockerfile, and the runtime config with secret-looking values masked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..registries.base import parse_time
from ..registries.manifest import ImageManifest

SECRET_NAME = re.compile(r"pass|secret|token|key|credential|auth|private|pwd|cert|cookie|session|dsn|salt", re.I)
MASK = "****"


@dataclass(frozen=True)
class LayerDetail:
    index: int
    digest: str
    diff_id: str
    size: int
    media_type: str
    created_by: str = ""
    created: datetime | None = None
    comment: str = ""


@dataclass
class ImageDetails:
    repository: str
    reference: str
    digest: str  # the image manifest's digest
    media_type: str
    index_digest: str | None  # the multi-arch index the image was chosen from
    platform: str
    config_digest: str
    created: datetime | None
    total_size: int  # compressed layer bytes
    layers: list[LayerDetail]
    user: str = ""
    env: dict[str, str] = field(default_factory=dict)
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str = ""
    dockerfile: list[str] = field(default_factory=list)


def mask_env(entries: list[Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in entries:
        name, _, value = str(entry).partition("=")
        env[name] = MASK if value and SECRET_NAME.search(name) else value
    return env


_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s+")
_SHELL = re.compile(r"^(?:\|\d+ (?P<args>.*?) )?/bin/sh -c (?P<cmd>.*)$", re.S)


def dockerfile_line(created_by: str) -> str:
    """A history `created_by` as the Dockerfile instruction that made it."""
    text = created_by.strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    nop = _NOP.match(text)
    if nop:
        return text[nop.end() :].strip()
    if text.startswith("RUN "):
        shell = _SHELL.match(text[4:])
        return f"RUN {shell.group('cmd').strip()}" if shell else text
    if text.startswith(
        (
            "RUN ",
            "COPY ",
            "ADD ",
            "ENV ",
            "LABEL ",
            "CMD ",
            "ENTRYPOINT ",
            "WORKDIR ",
            "USER ",
            "EXPOSE ",
            "ARG ",
            "VOLUME ",
            "SHELL ",
            "HEALTHCHECK ",
            "STOPSIGNAL ",
            "ONBUILD ",
        )
    ):
        return text
    shell = _SHELL.match(text)
    if shell:
        return f"RUN {shell.group('cmd').strip()}"
    return text


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def image_details(
    repository: str,
    reference: str,
    manifest: ImageManifest,
    config: dict[str, Any],
    platform: str,
    index_digest: str | None,
) -> ImageDetails:
    runtime = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(runtime, dict)
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
    diff_ids = [str(d) for d in (rootfs or {}).get("diff_ids", [])] if isinstance(rootfs, dict) else []
    history = (
        [h for h in config.get("history", []) if isinstance(h, dict)] if isinstance(config.get("history"), list) else []
    )
    layer_history = [h for h in history if not h.get("empty_layer")]
    layers = []
    for index, descriptor in enumerate(manifest.layers):
        entry = layer_history[index] if index < len(layer_history) else {}
        layers.append(
            LayerDetail(
                index,
                descriptor.digest,
                diff_ids[index] if index < len(diff_ids) else "",
                descriptor.size,
                descriptor.media_type,
                str(entry.get("created_by", "")),
                parse_time(entry.get("created")),
                str(entry.get("comment", "")),
            )
        )
    ports = runtime.get("ExposedPorts")
    labels = runtime.get("Labels")
    return ImageDetails(
        repository=repository,
        reference=reference,
        digest=manifest.digest,
        media_type=manifest.media_type,
        index_digest=index_digest,
        platform=platform,
        config_digest=manifest.config.digest,
        created=parse_time(config.get("created")),
        total_size=sum(layer.size for layer in manifest.layers),
        layers=layers,
        user=str(runtime.get("User") or ""),
        env=mask_env(runtime.get("Env") or []),
        exposed_ports=sorted(ports) if isinstance(ports, dict) else [],
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        entrypoint=_strings(runtime.get("Entrypoint")),
        cmd=_strings(runtime.get("Cmd")),
        working_dir=str(runtime.get("WorkingDir") or ""),
        dockerfile=[dockerfile_line(str(h.get("created_by", ""))) for h in history if h.get("created_by")],
    )
