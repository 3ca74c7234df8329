"""One OSV record (ossf/osv-schema): parsed, checked in every field regscout relies on, and shaped
into the rows the store keeps. Fields regscout does not read are not checked."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from .bounds import bounds_for
from .ecosystems import normalise_name
from .errors import RecordError
from .template import entry_template, record_part

RANGE_TYPES = frozenset({"SEMVER", "ECOSYSTEM", "GIT"})
EVENT_KINDS = frozenset({"introduced", "fixed", "last_affected", "limit"})
ORDERED_RANGES = frozenset({"SEMVER", "ECOSYSTEM"})
MAX_ID = 255
MAX_ECOSYSTEM = 255
MAX_NAME = 1000
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")


@dataclass(slots=True)
class ParsedRecord:
    id: str
    modified: datetime
    withdrawn: datetime | None
    record: dict[str, Any]  # vuln_records columns, without `source`
    affected: list[dict[str, Any]]  # vuln_affected columns, without `source` and `record_id`


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


class _Checker:
    """Reads fields of one record; every failure names the origin, the record and the field."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.record_id: str | None = None

    def fail(self, field: str, problem: str) -> NoReturn:
        raise RecordError(self.origin, self.record_id, field, problem)

    def text(self, obj: dict[str, Any], key: str, field: str, *, required: bool = False, limit: int = 0) -> str:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(field, "is required")
            return ""
        if not isinstance(value, str):
            self.fail(field, f"expected a string, got {_kind(value)}")
        if required and not value.strip():
            self.fail(field, "is empty")
        if limit and len(value) > limit:
            self.fail(field, f"is longer than {limit} characters")
        return value

    def timestamp(self, obj: dict[str, Any], key: str, *, required: bool = False) -> datetime | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, str):
            self.fail(key, f"expected an RFC 3339 timestamp, got {_kind(value)}")
        text = value.strip().upper()
        if not _RFC3339.match(text):
            self.fail(key, f"expected an RFC 3339 timestamp like 2024-01-31T12:00:00Z, got {value!r}")
        try:
            return datetime.fromisoformat(text).astimezone(UTC)
        except ValueError as exc:
            self.fail(key, f"{value!r} is not a valid time ({exc})")

    def items(self, obj: dict[str, Any], key: str, field: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(field, f"expected a list, got {_kind(value)}")
        return value

    def mapping(self, value: object, field: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(field, f"expected an object, got {_kind(value)}")
        return value

    def strings(self, obj: dict[str, Any], key: str, field: str) -> list[str]:
        values = self.items(obj, key, field)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                self.fail(f"{field}[{index}]", f"expected a string, got {_kind(value)}")
        return values

    def severity(self, obj: dict[str, Any], field: str) -> list[dict[str, Any]]:
        entries = self.items(obj, "severity", field)
        for index, entry in enumerate(entries):
            where = f"{field}[{index}]"
            entry = self.mapping(entry, where)
            self.text(entry, "type", f"{where}.type", required=True)
            self.text(entry, "score", f"{where}.score", required=True)
        return entries

    def ranges(self, affected: dict[str, Any], field: str) -> list[dict[str, Any]]:
        ranges = self.items(affected, "ranges", f"{field}.ranges")
        for index, entry in enumerate(ranges):
            where = f"{field}.ranges[{index}]"
            entry = self.mapping(entry, where)
            kind = self.text(entry, "type", f"{where}.type", required=True)
            if kind not in RANGE_TYPES:
                self.fail(f"{where}.type", f"expected one of {', '.join(sorted(RANGE_TYPES))}, got {kind!r}")
            events = self.items(entry, "events", f"{where}.events")
            if not events:
                self.fail(f"{where}.events", "a range needs at least one event")
            for number, event in enumerate(events):
                at = f"{where}.events[{number}]"
                event = self.mapping(event, at)
                if len(event) != 1 or next(iter(event)) not in EVENT_KINDS:
                    self.fail(at, f"expected exactly one of {', '.join(sorted(EVENT_KINDS))}, got {sorted(event)}")
                [(name, value)] = event.items()
                if not isinstance(value, str) or not value:
                    self.fail(f"{at}.{name}", f"expected a non-empty version string, got {value!r}")
        return ranges


def _aliases(record_id: str, aliases: list[str], upstream: list[str]) -> list[str]:
    unique = [a for a in dict.fromkeys(aliases + upstream) if a and a != record_id]
    return [a for a in unique if a.startswith("CVE-")] + [a for a in unique if not a.startswith("CVE-")]


def _affected_rows(check: _Checker, document: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    part: str | None = None
    for index, entry in enumerate(check.items(document, "affected", "affected")):
        field = f"affected[{index}]"
        entry = check.mapping(entry, field)
        if entry.get("package") is None:
            continue  # a GIT-only entry: nothing an image scan can match
        package = check.mapping(entry["package"], f"{field}.package")
        ecosystem = check.text(package, "ecosystem", f"{field}.package.ecosystem", required=True, limit=MAX_ECOSYSTEM)
        name = check.text(package, "name", f"{field}.package.name", required=True, limit=MAX_NAME)
        ranges = check.ranges(entry, field)
        versions = check.strings(entry, "versions", f"{field}.versions")
        # Ubuntu lists every published version next to its ranges: the ranges say the same
        versions = [] if any(r["type"] in ORDERED_RANGES for r in ranges) else versions
        # computed while reading, so the write transaction does not wait for the version parsing
        bounds = bounds_for(ecosystem, ranges, versions)
        row = {
            "ecosystem": ecosystem,
            "name": normalise_name(ecosystem, name),
            "ranges": ranges,
            "versions": versions,
            **bounds.columns(),
            "ecosystem_specific": check.mapping(entry.get("ecosystem_specific"), f"{field}.ecosystem_specific"),
            "database_specific": check.mapping(entry.get("database_specific"), f"{field}.database_specific"),
            "severity": check.severity(entry, f"{field}.severity"),
        }
        part = record_part(record) if part is None else part
        row["finding"] = entry_template(part, record, row)
        rows.append(row)
    return rows


def parse_record(data: bytes | str, origin: str) -> ParsedRecord:
    """A record from its JSON text; `origin` (a file or zip member) is named in every error."""
    check = _Checker(origin)
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        check.fail("(document)", f"not valid JSON: {exc}")
    if not isinstance(document, dict):
        check.fail("(document)", f"expected a JSON object, got {_kind(document)}")
    record_id = check.text(document, "id", "id", required=True, limit=MAX_ID)
    check.record_id = record_id
    modified = check.timestamp(document, "modified", required=True)
    assert modified is not None
    withdrawn = check.timestamp(document, "withdrawn")
    specific = check.mapping(document.get("database_specific"), "database_specific")
    cwe_ids = specific.get("cwe_ids")
    for index, reference in enumerate(check.items(document, "references", "references")):
        check.text(check.mapping(reference, f"references[{index}]"), "url", f"references[{index}].url")
    row = {
        "id": record_id,
        "modified": modified,
        "published": check.timestamp(document, "published"),
        "withdrawn": withdrawn,
        "aliases": _aliases(
            record_id, check.strings(document, "aliases", "aliases"), check.strings(document, "upstream", "upstream")
        ),
        "summary": check.text(document, "summary", "summary"),
        "details": check.text(document, "details", "details"),
        "severity": check.severity(document, "severity"),
        "references": document.get("references") or [],
        "database_specific": specific,
        "cwe_ids": [c for c in cwe_ids if isinstance(c, str)] if isinstance(cwe_ids, list) else [],
    }
    return ParsedRecord(record_id, modified, withdrawn, row, _affected_rows(check, document, row))
