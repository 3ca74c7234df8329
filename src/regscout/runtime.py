"""Wires settings, database, key ring and services together for the CLI and the server."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from functools import cached_property

from .analysis.cache import LayerCache
from .results.service import Change, ResultsService
from .secrets import RedactingFilter, SecretBox, load_key_ring
from .services.images import ImageService
from .services.integrations import IntegrationService
from .services.scan import ScanService
from .services.tokens import TokenService
from .settings import Settings
from .store.db import Database
from .vulndb.service import VulnDBService


@dataclass
class Runtime:
    settings: Settings

    @classmethod
    def from_env(cls) -> Runtime:
        return cls(Settings.from_env())

    @cached_property
    def db(self) -> Database:
        self.settings.ensure_home()
        database = Database(self.settings.database_url)
        database.migrate()
        return database

    @cached_property
    def box(self) -> SecretBox:
        self.settings.ensure_home()
        return SecretBox(load_key_ring(self.settings.secret_key, self.settings.key_file))

    @cached_property
    def integrations(self) -> IntegrationService:
        return IntegrationService(self.db, self.box)

    @cached_property
    def images(self) -> ImageService:
        return ImageService(self.integrations, LayerCache(self.db))

    @cached_property
    def tokens(self) -> TokenService:
        return TokenService(self.db)

    @cached_property
    def vulndb(self) -> VulnDBService:
        service = VulnDBService(self.db)
        service.on_change.append(self.rematch)
        return service

    @cached_property
    def results(self) -> ResultsService:
        return ResultsService(self.db)

    @cached_property
    def scans(self) -> ScanService:
        return ScanService(self.images, self.vulndb, self.results)

    def rematch(self) -> dict[str, list[Change]]:
        """After the vulnerability data changed: match every stored inventory again, record what changed."""
        return self.results.rematch_all(self.vulndb, exists=self.vulndb.store.existing_ids)


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr through the redacting filter, so no secret reaches a log line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
