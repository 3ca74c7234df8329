"""GET /metadata: Harbor asks before almost every scan and list, and marks the scanner unhealthy when it is slow,
so the answer is built from memory; the vulnerability data's update times are re-read at most every 10 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..vulndb.service import VulnDBService
from . import mime
from .reports import SCANNER

REFRESH_SECONDS = 10.0


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def capabilities() -> list[dict[str, Any]]:
    # Only what is served: Harbor polls one report per advertised type. Both vulnerability forms, as the
    # reference adapter (harbor-scanner-trivy) advertises them; not the raw report type.
    return [
        {
            "type": "vulnerability",
            "consumes_mime_types": list(mime.CONSUMED),
            "produces_mime_types": [mime.VULNERABILITY_REPORT, mime.HARBOR_VULNERABILITY_REPORT],
        },
        {
            "type": "sbom",
            "consumes_mime_types": list(mime.CONSUMED),
            "produces_mime_types": [mime.SBOM_REPORT],
            "additional_attributes": {"sbom_media_types": list(mime.SBOM_FORMATS)},
        },
    ]


class Metadata:
    def __init__(self, vulndb: VulnDBService, clock: Callable[[], float] = time.monotonic) -> None:
        self.vulndb = vulndb
        self.clock = clock
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None
        self._read_at = 0.0

    def invalidate(self) -> None:
        """The vulnerability data changed in this process: the next answer re-reads its times."""
        with self._lock:
            self._document = None

    def document(self) -> dict[str, Any]:
        with self._lock:
            if self._document is None or self.clock() - self._read_at > REFRESH_SECONDS:
                self._document, self._read_at = self._build(), self.clock()
            return self._document

    def _build(self) -> dict[str, Any]:
        properties = {
            "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
            # regscout exchanges the robot's Basic credential for a pull token itself, and again when it expires.
            "harbor.scanner-adapter/registry-authorization-type": "Basic",
        }
        updated = [row.last_success_at for row in self.vulndb.store.sources() if row.last_success_at is not None]
        if updated:
            properties["harbor.scanner-adapter/vulnerability-database-updated-at"] = rfc3339(max(updated))
        due = self.vulndb.schedule(self.vulndb.config.update_interval)
        if due:
            properties["harbor.scanner-adapter/vulnerability-database-next-update-at"] = rfc3339(min(due.values()))
        return {"scanner": dict(SCANNER), "capabilities": capabilities(), "properties": properties}
