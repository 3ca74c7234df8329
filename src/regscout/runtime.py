"""Wires settings, database, key ring and services together for the CLI and the server."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .secrets import RedactingFilter, SecretBox, load_key_ring
from .settings import Settings

# Services are imported where they are first used: a command loads only what it needs (start-up time).
if TYPE_CHECKING:
    from .results.service import Change, ResultsService
    from .services.images import ImageService
    from .services.integrations import IntegrationService
    from .services.scan import ScanService
    from .services.sync import SyncService
    from .services.tokens import TokenService
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
        from .store.db import Database

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
        from .services.integrations import IntegrationService

        return IntegrationService(self.db, self.box)

    @cached_property
    def images(self) -> ImageService:
        from .analysis.cache import LayerCache
        from .services.images import ImageService

        return ImageService(self.integrations, LayerCache(self.db))

    @cached_property
    def tokens(self) -> TokenService:
        from .services.tokens import TokenService

        return TokenService(self.db)

    @cached_property
    def vulndb(self) -> VulnDBService:
        from .vulndb.service import VulnDBService

        service = VulnDBService(self.db)
        service.on_change.append(self.rematch)
        return service

    @cached_property
    def results(self) -> ResultsService:
        from .results.service import ResultsService

        return ResultsService(self.db)

    @cached_property
    def scans(self) -> ScanService:
        from .services.scan import ScanService

        return ScanService(self.images, self.vulndb, self.results)

    @cached_property
    def sync(self) -> SyncService:
        from .services.sync import SyncService

        return SyncService(self.integrations, self.results)

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
