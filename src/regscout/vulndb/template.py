"""The parts of a finding that do not depend on the installed package, computed once at import.

A finding is built from a record (canonical id, aliases, summary, CWE ids, links), from the affected
entry that matched (severity, whether the distribution will not fix it) and from the installed package
(name, version, layer, fixed versions, fix state). The first two are fixed per stored row, so the
importer computes them with the same functions the matcher used to apply to every finding, and stores
them with each affected entry as one compact JSON array, ``vuln_affected.finding`` (the record's part is
repeated in each of its entries: the matcher then reads one row per candidate, without a join). The
matcher reads one short string per candidate instead of decoding the record's and the entry's JSON
columns and scoring CVSS vectors. Rows stored before revision 0008 have NULL there and are matched
from their JSON columns, with the same functions, as before.

Next to it, ``vuln_affected.match_fix`` says whether the entry's stored interval (bounds.py) is *exact*:
one ECOSYSTEM or SEMVER range whose events are one ``introduced`` and at most one ``fixed`` or
``last_affected`` at or above it, every version parsed and no bound shortened. For such an entry
``ranges.evaluate`` finds a version affected exactly when it lies inside the interval, with that one fix
(or none) as the fixed versions, so the matcher does not evaluate it again. It is honoured only while
the row has an interval: a migration that resets ``match_kind`` to NULL turns it off.

Changing any function here changes findings only for rows imported afterwards: such a change needs a
migration that sets ``vuln_affected.finding`` back to NULL (matched the old way until the next update).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .severity import severity_of

WONT_FIX_MARKERS = frozenset({"will_not_fix", "wont-fix", "wontfix", "ignored", "end-of-life", "end_of_life"})
MAX_LINKS = 20


def canonical_id(record: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The CVE id when one is known, else the record's id; and the aliases, CVE ids first."""
    ids = [str(record.get("id", ""))]
    for field in ("aliases", "upstream"):
        values = record.get(field)
        if isinstance(values, list):
            ids.extend(str(v) for v in values)
    unique = list(dict.fromkeys(i for i in ids if i))
    cves = [i for i in unique if i.startswith("CVE-")]
    aliases = tuple(cves + [i for i in unique if not i.startswith("CVE-") and i != unique[0]])
    return (cves[0] if cves else unique[0]), aliases


def wont_fix(affected: Mapping[str, Any]) -> bool:
    for block in (affected.get("ecosystem_specific"), affected.get("database_specific")):
        if block and isinstance(block, Mapping):
            for key in ("status", "fix_state", "urgency", "nodsa_reason"):
                value = block.get(key)
                if isinstance(value, str) and value.strip().rstrip("*").lower().replace(" ", "_") in WONT_FIX_MARKERS:
                    return True
    return False


def links(record: Mapping[str, Any]) -> tuple[str, ...]:
    references = record.get("references")
    if not isinstance(references, list):
        return ()
    return tuple(str(r["url"]) for r in references if isinstance(r, Mapping) and r.get("url"))[:MAX_LINKS]


def cwes(record: Mapping[str, Any]) -> tuple[str, ...]:
    found = record.get("cwe_ids")
    if not isinstance(found, list):
        specific = record.get("database_specific")
        found = specific.get("cwe_ids") if isinstance(specific, Mapping) else None
    return tuple(str(c) for c in found) if isinstance(found, list) else ()


def summary(record: Mapping[str, Any]) -> str:
    return str(record.get("summary") or "") or str(record.get("details") or "").split("\n", 1)[0][:300]


# matcher.Finding's fields, in order (the matcher checks it): a template's fields are kept as a dict in this
# order, so that a finding's __dict__ is the template's dict updated with the package's fields
FINDING_FIELDS = (
    "id",
    "advisories",
    "aliases",
    "package",
    "version",
    "ecosystem",
    "purl",
    "lookup_ecosystem",
    "source_package",
    "fixed_versions",
    "fix_state",
    "severity",
    "score",
    "vector",
    "severity_source",
    "cwe_ids",
    "summary",
    "links",
    "layer_index",
    "layer_digest",
    "layer_diff_id",
    "layer_created_by",
    "location",
)


class Template:
    """The package-independent fields of the findings an affected entry gives: `fields` has every field of
    a finding, in order, those that depend on the package (and its fix state) set to None."""

    __slots__ = ("fields", "id", "wont_fix")

    def __init__(self, fields: dict[str, Any], wont_fix: bool) -> None:
        self.fields = fields
        self.id: str = fields["id"]
        self.wont_fix = wont_fix


# What the store returns per kept entry and probe (store.finding_candidates): probe index, the entry's
# template (None for rows without one), the fixed versions when the interval is exact (else None), the
# entry to evaluate when not exact, and the OSV-shaped record for rows without a template.
Candidate = tuple[int, Template | None, tuple[str, ...] | None, Mapping[str, Any] | None, Mapping[str, Any] | None]


_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def record_part(record: Mapping[str, Any]) -> str:
    """The record's share of its entries' templates (a stored record row's columns as a dict)."""
    ident, aliases = canonical_id(record)
    return _dump([str(record.get("id")), ident, aliases, summary(record), cwes(record), links(record)])[:-1]


def entry_template(part: str, record: Mapping[str, Any], affected: Mapping[str, Any]) -> str:
    """``vuln_affected.finding`` of a stored affected row, with ``record_part`` of its record row."""
    found = severity_of(record, affected)
    return part + "," + _dump([found.level, found.score, found.vector, found.source, int(wont_fix(affected))])[1:]


def template_of(text: str) -> Template:
    record_id, ident, aliases, summary_text, cwe_ids, urls, level, score, vector, source, will_not = json.loads(text)
    fields = dict.fromkeys(FINDING_FIELDS)
    fields.update(
        id=ident,
        advisories=(record_id,),
        aliases=tuple(aliases),
        severity=level,
        score=score,
        vector=vector,
        severity_source=source,
        cwe_ids=tuple(cwe_ids),
        summary=summary_text,
        links=tuple(urls),
    )
    return Template(fields, bool(will_not))
