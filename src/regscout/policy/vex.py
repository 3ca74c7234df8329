"""OpenVEX documents (spec v0.2.0, https://github.com/openvex/spec) read into acceptances.

A statement names a vulnerability (``vulnerability.name``, with ``aliases``), the products it is about
(``products[]``, each identified by ``@id`` or ``identifiers.purl``, with optional ``subcomponents[]``) and a
``status``: ``not_affected`` (with a ``justification`` label or an ``impact_statement``), ``affected``, ``fixed``
or ``under_investigation``. Statements are a sequence in time: for one vulnerability and product the latest
statement (its ``timestamp``, else the document's; document order breaks ties) decides. Where it says
``not_affected`` or ``fixed`` the finding is accepted; ``affected`` and ``under_investigation`` accept nothing
(and so withdraw an earlier ``not_affected``).

Products map to acceptances by package URL, as Trivy reads them:

- an OCI product (``pkg:oci/name@sha256:...?repository_url=host/path``) is the image: its digest makes the
  acceptance one for that image; without a digest, its ``repository_url`` makes it one for the repository.
  Its subcomponents narrow it to those packages; without subcomponents it covers every package of the image.
- any other product is a package: the acceptance applies wherever that package (or, given subcomponents, those
  packages) is found, by Trivy's purl rule (version and qualifiers count when the VEX gives them).

Products identified only by CPE or hashes, and OCI products with neither digest nor repository, are skipped and
listed in ``VexImport.skipped``. Malformed documents raise ``VexError`` naming the statement at fault; nothing
else escapes ``parse_openvex``. The older draft form (``vulnerability`` and products as plain strings) is read too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic
from packageurl import PackageURL

from .model import Acceptance
from .patterns import parse_purl

__all__ = ["JUSTIFICATIONS", "STATUSES", "VexError", "VexImport", "parse_openvex"]

CONTEXT_PREFIX = "https://openvex.dev/ns"
STATUSES = frozenset({"not_affected", "affected", "fixed", "under_investigation"})
JUSTIFICATIONS = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)
_ACCEPTING = frozenset({"not_affected", "fixed"})
_EPOCH = datetime.min.replace(tzinfo=UTC)


class VexError(ValueError):
    pass


@dataclass(frozen=True)
class VexImport:
    acceptances: tuple[Acceptance, ...]
    skipped: tuple[str, ...]  # products not turned into acceptances, and why


@dataclass(frozen=True)
class _Statement:
    index: int
    name: str
    aliases: tuple[str, ...]
    status: str
    justification: str | None
    impact: str | None
    timestamp: datetime


def _load(document: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VexError(f"an OpenVEX document is UTF-8 JSON: {exc}") from None
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise VexError(f"not JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise VexError("an OpenVEX document is a JSON object")
    return document


def _timestamp(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise VexError(f"{where}: timestamp must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise VexError(f"{where}: timestamp {value!r} is not an RFC 3339 date and time") from None
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise VexError(f"{where} must be a string")
    return value.strip() or None


def _vulnerability(value: Any, where: str) -> tuple[str, tuple[str, ...]]:
    if isinstance(value, str):  # the draft form
        name: Any = value
        aliases: Any = []
    elif isinstance(value, Mapping):
        name = value.get("name")
        aliases = value.get("aliases") or []
    else:
        raise VexError(f"{where}: vulnerability must be an object with a name")
    if not isinstance(name, str) or not name.strip() or len(name.split()) != 1:
        raise VexError(f"{where}: vulnerability.name must be an id like CVE-2023-12345")
    if not isinstance(aliases, list) or not all(isinstance(a, str) and len(a.split()) == 1 for a in aliases):
        raise VexError(f"{where}: vulnerability.aliases must be a list of ids")
    others = tuple(dict.fromkeys(a.strip() for a in aliases if a.strip().upper() != name.strip().upper()))
    return name.strip(), others


def _statement(index: int, raw: Any, document_time: datetime | None) -> _Statement:
    where = f"statements[{index}]"
    if not isinstance(raw, Mapping):
        raise VexError(f"{where} must be an object")
    name, aliases = _vulnerability(raw.get("vulnerability"), where)
    status = raw.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise VexError(f"{where}: status {status!r} is not one of {', '.join(sorted(STATUSES))}")
    justification = _text(raw.get("justification"), f"{where}.justification")
    if justification is not None and justification not in JUSTIFICATIONS:
        raise VexError(f"{where}: justification {justification!r} is not one of {', '.join(sorted(JUSTIFICATIONS))}")
    impact = _text(raw.get("impact_statement"), f"{where}.impact_statement")
    if status == "not_affected" and justification is None and impact is None:
        raise VexError(f"{where}: a not_affected statement needs a justification or an impact_statement")
    timestamp = _timestamp(raw.get("timestamp"), where) or document_time or _EPOCH
    return _Statement(index, name, aliases, str(status), justification, impact, timestamp)


def _identifier(component: Any, where: str) -> str | None:
    """A component's package URL text (``identifiers.purl``, else a ``pkg:`` ``@id``); None when it has none."""
    if isinstance(component, str):  # the draft form
        return component.strip() if component.strip().startswith("pkg:") else None
    if not isinstance(component, Mapping):
        raise VexError(f"{where} must be an object")
    identifiers = component.get("identifiers")
    if identifiers is not None and not isinstance(identifiers, Mapping):
        raise VexError(f"{where}.identifiers must be an object")
    purl = (identifiers or {}).get("purl")
    if purl is not None:
        if not isinstance(purl, str):
            raise VexError(f"{where}.identifiers.purl must be a string")
        return purl.strip()
    ident = component.get("@id")
    if ident is not None and not isinstance(ident, str):
        raise VexError(f"{where}.@id must be a string")
    return ident.strip() if ident and ident.strip().startswith("pkg:") else None


def _purl(text: str, where: str) -> PackageURL:
    try:
        return parse_purl(text)
    except ValueError as exc:
        raise VexError(f"{where}: {exc}") from None


def _products(raw: Mapping[str, Any], where: str) -> list[tuple[str | None, tuple[str | None, ...], str]]:
    """(product purl, subcomponent purls (or (None,) for none), label) per product of a statement."""
    products = raw.get("products")
    if products is None:
        return []
    if not isinstance(products, list):
        raise VexError(f"{where}.products must be a list")
    out = []
    for k, product in enumerate(products):
        here = f"{where}.products[{k}]"
        purl = _identifier(product, here)
        if purl is not None:
            _purl(purl, here)
        subs_raw = product.get("subcomponents") if isinstance(product, Mapping) else None
        if subs_raw is not None and not isinstance(subs_raw, list):
            raise VexError(f"{here}.subcomponents must be a list")
        subs: list[str | None] = []
        for s, sub in enumerate(subs_raw or []):
            sub_purl = _identifier(sub, f"{here}.subcomponents[{s}]")
            if sub_purl is not None:
                _purl(sub_purl, f"{here}.subcomponents[{s}]")
            subs.append(sub_purl)
        out.append((purl, tuple(subs) if subs else (None,), here))
    return out


def _oci_scope(purl: PackageURL) -> dict[str, Any] | str:
    """Acceptance scope fields for an OCI product, or why it cannot be one."""
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    repository_url = str(qualifiers.get("repository_url", "")).strip().strip("/")
    for prefix in ("https://", "http://"):
        repository_url = repository_url.removeprefix(prefix)
    registry, _, repository = repository_url.partition("/")
    digest = purl.version
    if digest:
        if registry and repository:
            return {"scope": "image", "digest": digest, "registry": registry, "repository": repository}
        return {"scope": "image", "digest": digest}
    if qualifiers.get("tag"):
        return "an OCI product named by tag is not supported; give its digest"
    if registry and repository:
        return {"scope": "repository", "registry": registry, "repository": repository}
    return "an OCI product needs a digest or a repository_url"


def _reason(statement: _Statement) -> str:
    parts = [f"VEX {statement.status}"]
    if statement.justification:
        parts.append(statement.justification)
    if statement.impact:
        parts.append(statement.impact)
    return ": ".join(parts[:2]) + (f" ({parts[2]})" if len(parts) > 2 else "")


def parse_openvex(document: str | bytes | Mapping[str, Any], *, source: str | None = None) -> VexImport:
    """Acceptances for the ``not_affected`` and ``fixed`` statements of an OpenVEX document."""
    data = _load(document)
    context = data.get("@context")
    if not isinstance(context, str) or not context.startswith(CONTEXT_PREFIX):
        raise VexError(f"not an OpenVEX document: @context is {context!r}, not {CONTEXT_PREFIX}/v0.2.0")
    raw_statements = data.get("statements")
    if not isinstance(raw_statements, list) or not raw_statements:
        raise VexError("an OpenVEX document needs a non-empty statements list")
    document_time = _timestamp(data.get("timestamp"), "document")
    doc_id = _text(data.get("@id"), "@id")
    author = _text(data.get("author"), "author")
    origin = source or (f"openvex {doc_id}" if doc_id else "openvex")
    by = author or doc_id or "OpenVEX document"

    # (vulnerability, product, subcomponent) → the statement that decides it
    latest: dict[tuple[str, str | None, str | None], tuple[datetime, int, _Statement, str]] = {}
    skipped: list[tuple[int, str]] = []  # (statement, why), reported in document order
    for index, raw in enumerate(raw_statements):
        statement = _statement(index, raw, document_time)
        assert isinstance(raw, Mapping)
        products = _products(raw, f"statements[{index}]")
        if not products:
            skipped.append((index, f"statements[{index}] ({statement.name}) names no products"))
        for product, subcomponents, label in products:
            if product is None:
                skipped.append((index, f"{label} ({statement.name}) has no package URL"))
                continue
            for sub in subcomponents:
                key = (statement.name.upper(), product, sub)
                order = (statement.timestamp, index)
                if key not in latest or order >= latest[key][:2]:
                    latest[key] = (statement.timestamp, index, statement, label)

    acceptances: list[Acceptance] = []
    for (_, product, sub), (_, _, statement, label) in latest.items():
        if statement.status not in _ACCEPTING:
            continue
        assert product is not None
        purl = parse_purl(product)
        if purl.type == "oci":
            scope = _oci_scope(purl)
            if isinstance(scope, str):
                skipped.append((statement.index, f"{label} ({statement.name}): {scope}"))
                continue
            purls = [sub] if sub else []
        else:
            scope = {"scope": "everywhere"}
            purls = [sub or product]
        values = {
            "vulnerability": statement.name,
            "aliases": list(statement.aliases),
            **scope,
            "purls": purls,
            "reason": _reason(statement),
            "by": by,
            "created": statement.timestamp if statement.timestamp != _EPOCH else None,
            "source": origin,
            "vex_status": statement.status,
            "justification": statement.justification,
        }
        try:
            acceptances.append(Acceptance.model_validate(values))
        except pydantic.ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False))
            raise VexError(f"{label} ({statement.name}): {problems}") from None
    skipped.sort(key=lambda item: item[0])
    return VexImport(tuple(acceptances), tuple(why for _, why in skipped))
