"""Why a vulnerability-data update or import did not complete."""

from __future__ import annotations


class VulnDBError(Exception):
    """An update or import that failed; the message says what failed and where."""


class RecordError(VulnDBError):
    """An OSV record that breaks the schema in a field regscout relies on."""

    def __init__(self, origin: str, record_id: str | None, field: str, problem: str) -> None:
        who = f"record {record_id}" if record_id else "a record without a valid id"
        super().__init__(f"{origin}: {who}: field {field}: {problem}")
        self.origin = origin
        self.record_id = record_id
        self.field = field


class DownloadError(VulnDBError):
    pass


class ArchiveError(VulnDBError):
    """A zip archive (or directory) that cannot be read completely."""


class UpdateCancelled(VulnDBError):
    pass


class SourceConfigError(VulnDBError, ValueError):
    """A source list, source name or setting that cannot be used."""
