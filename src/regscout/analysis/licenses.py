"""Declared licence texts → what CycloneDX 1.6 and SPDX 2.3 accept.

Analyzers hand over licence texts as packages declare them: SPDX identifiers (`MIT`), SPDX expressions
(`GPL-2.0-or-later OR MIT`), `LicenseRef-…` references, and free names (`GPLv2+`, `Artistic-like`). A Debian
copyright file often yields all of these for one package. The two formats take them differently:

- CycloneDX allows EITHER a list of licences (each an SPDX `id` or a `name`) OR exactly one `expression`,
  never both (`cyclonedx_choice`).
- SPDX 2.3's `licenseDeclared` is one expression, where a name that is not on the SPDX list appears as a
  `LicenseRef-` declared once in the document's `hasExtractedLicensingInfos` (`SpdxLicenses`).

The rules are documented in docs/analysis.md ("Licences in SBOMs")."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from license_expression import Licensing, get_spdx_licensing

_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")
_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.-]+")
_COMPOUND = re.compile(r"\s(?:AND|OR|WITH)\s", re.IGNORECASE)


class Kind(Enum):
    ID = "id"  # one identifier on the SPDX licence list
    REF = "ref"  # LicenseRef-<idstring>
    EXPRESSION = "expression"  # a valid SPDX expression with AND / OR / WITH
    NAME = "name"  # anything else


@dataclass(frozen=True)
class Term:
    kind: Kind
    text: str  # normalised: the SPDX spelling for ID and EXPRESSION, the declared text (stripped) otherwise


def classify(declared: str) -> Term | None:
    """What one declared licence text is; None for an empty one."""
    text = " ".join(declared.split())
    if not text:
        return None
    if _LICENSE_REF.fullmatch(text):
        return Term(Kind.REF, text)
    normalized = _normalized_expression(text)
    if normalized is None:
        return Term(Kind.NAME, text)
    if _LICENSE_REF.fullmatch(normalized):  # license_expression maps some aliases to LicenseRef-scancode-…
        return Term(Kind.REF, normalized)
    if _COMPOUND.search(normalized):
        return Term(Kind.EXPRESSION, normalized)
    return Term(Kind.ID, normalized)


@functools.cache
def _licensing() -> Licensing:
    return get_spdx_licensing()  # ~50 ms to build: only when an SBOM is written, not at every CLI start


def _normalized_expression(text: str) -> str | None:
    try:
        result = _licensing().validate(text)
    except Exception:  # noqa: BLE001 - license_expression raises several unrelated types on odd input
        return None
    if result.errors or not result.normalized_expression or result.normalized_expression == "None":
        return None
    return str(result.normalized_expression)


def terms(declared: Iterable[str]) -> tuple[Term, ...]:
    """Each distinct declared licence once, in declared order."""
    return tuple(dict.fromkeys(term for text in declared if (term := classify(text)) is not None))


def _joined(found: Iterable[Term]) -> str:
    """One SPDX expression: the terms joined with AND, compound ones in parentheses."""
    unique = tuple(dict.fromkeys(found))
    if len(unique) == 1:
        return unique[0].text
    return " AND ".join(f"({t.text})" if t.kind is Kind.EXPRESSION else t.text for t in unique)


@dataclass(frozen=True)
class CycloneDXLicences:
    """Exactly one of the two forms CycloneDX allows: one expression, or a list of (id or name) licences."""

    expression: str | None = None
    licences: tuple[tuple[str, str], ...] = ()  # ("id" | "name", value)


def cyclonedx_choice(declared: Iterable[str]) -> CycloneDXLicences:
    """One expression when a declared licence is a compound SPDX expression and every other one is valid SPDX
    too (joined with AND: Debian lists the licences of different files, all of which apply); otherwise the
    list, SPDX ids as `id` (where CycloneDX's list has them) and everything else as `name`, as declared."""
    from cyclonedx.spdx import fixup_id  # loads CycloneDX's licence list

    found = terms(declared)
    if not found:
        return CycloneDXLicences()
    if any(t.kind is Kind.EXPRESSION for t in found) and all(t.kind is not Kind.NAME for t in found):
        return CycloneDXLicences(expression=_joined(found))
    licences: list[tuple[str, str]] = []
    for term in found:
        spdx_id = fixup_id(term.text) if term.kind is Kind.ID else None
        licences.append(("id", spdx_id) if spdx_id else ("name", term.text))
    return CycloneDXLicences(licences=tuple(dict.fromkeys(licences)))


@dataclass
class SpdxLicenses:
    """licenseDeclared values for one SPDX document, and the LicenseRefs they use (hasExtractedLicensingInfos)."""

    extracted: dict[str, str] = field(default_factory=dict)  # LicenseRef → the declared text

    def declared(self, declared: Iterable[str]) -> str:
        found = terms(declared)
        if not found:
            return "NOASSERTION"
        return _joined(self._spdx_term(t) for t in found)

    def _spdx_term(self, term: Term) -> Term:
        if term.kind is Kind.ID:
            return term
        if term.kind is Kind.EXPRESSION:
            for reference in _LICENSE_REF.findall(term.text):
                self.extracted.setdefault(reference, reference)
            return term
        if term.kind is Kind.REF:
            reference = term.text
        else:
            # A name that is already a valid idstring keeps its spelling; any other gets a hash of its text, so
            # two names that sanitise alike ("GPL v2", "GPL/v2") never share a LicenseRef.
            stem = _NOT_IDSTRING.sub("-", term.text).strip("-.")[:60] or "unnamed"
            reference = f"LicenseRef-{stem}"
            if stem != term.text:
                reference += "-" + hashlib.sha256(term.text.encode()).hexdigest()[:8]
        self.extracted.setdefault(reference, term.text)
        return Term(Kind.REF, reference)

    def extracted_licensing_infos(self) -> list[dict[str, Any]]:
        return [
            {
                "licenseId": reference,
                "name": text,
                "extractedText": text,
                "comment": "The licence as a package in the image declares it; its full text was not captured.",
            }
            for reference, text in sorted(self.extracted.items())
        ]
