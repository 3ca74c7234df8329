"""``.regscoutignore``: Trivy's ignore files, read into acceptances.

Two forms, as Trivy reads them (aquasecurity/trivy pkg/result/ignore.go):

- the line form (``.trivyignore``): one id per line, blank lines and ``#`` comment lines skipped, and after the id
  an optional ``exp:YYYY-MM-DD``. Trivy ignores an entry from the start of its expiry day (UTC), and so do the
  acceptances made here. Stricter than Trivy where Trivy is silent: a line with a malformed expiry (Trivy warns
  and drops the line) or with text after the id that is neither ``exp:`` nor a ``#`` comment is an error here.
  The comment lines right above an id (and the ids following it, up to a blank line or the next comment) and
  a trailing ``# ...`` become the reason.
- the YAML form (``.trivyignore.yaml``): a ``vulnerabilities`` list of entries with ``id`` and optional ``paths``
  (doublestar globs over the package's file path), ``purls`` (Trivy's purl rule), ``statement`` (the reason) and
  ``expired_at``. The ``misconfigurations``, ``secrets`` and ``licenses`` lists are about findings regscout does
  not make and are skipped; any other key is an error, as is an unknown key in an entry (a misspelt
  ``expired_at`` would otherwise accept a finding for ever).

Errors are ``IgnoreFileError`` with the line (or entry) at fault; nothing else escapes the parsers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import PurePosixPath
from typing import Any

import pydantic
import yaml

from .model import Acceptance, AcceptanceScope

__all__ = ["IgnoreFileError", "parse_ignore", "parse_ignore_file", "parse_ignore_yaml"]

_EXP = re.compile(r"exp:(\d{4}-\d{2}-\d{2})")
_SKIPPED_SECTIONS = frozenset({"misconfigurations", "secrets", "licenses"})
_ENTRY_KEYS = frozenset({"id", "paths", "purls", "statement", "expired_at"})


class IgnoreFileError(ValueError):
    pass


def _scope(scope: AcceptanceScope, registry: str | None, repository: str | None, digest: str | None) -> dict[str, Any]:
    return {"scope": scope, "registry": registry, "repository": repository, "digest": digest}


def _acceptance(values: dict[str, Any], where: str) -> Acceptance:
    try:
        return Acceptance.model_validate(values)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "")
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors(include_url=False)
        )
        raise IgnoreFileError(f"{where}: {problems}") from None


def _expiry(text: str, where: str) -> datetime:
    m = _EXP.fullmatch(text)
    if m is None:
        raise IgnoreFileError(f"{where}: {text!r} is not an expiry; write exp:YYYY-MM-DD")
    try:
        day = date.fromisoformat(m[1])
    except ValueError:
        raise IgnoreFileError(f"{where}: {m[1]} is not a calendar date") from None
    return datetime.combine(day, time(), UTC)


def parse_ignore(
    text: str,
    *,
    source: str = ".regscoutignore",
    scope: AcceptanceScope = "everywhere",
    registry: str | None = None,
    repository: str | None = None,
    digest: str | None = None,
) -> list[Acceptance]:
    """Acceptances from the line form. The scope arguments say where they apply (everywhere by default: a local
    ignore file given for one scan applies to what that scan looks at)."""
    acceptances: list[Acceptance] = []
    comments: list[str] = []
    after_id = False
    where_scope = _scope(scope, registry, repository, digest)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source} line {number}"
        if not line:
            comments, after_id = [], False
            continue
        if line.startswith("#"):
            if after_id:  # a comment after ids starts the reason of the ids below it
                comments, after_id = [], False
            comment = line.lstrip("#").strip()
            if comment:
                comments.append(comment)
            continue
        after_id = True
        ident, *tail = line.split(None, 1)
        rest = tail[0] if tail else ""
        expires: datetime | None = None
        trailing = ""
        while rest:
            if rest.startswith("#"):
                trailing = rest.lstrip("#").strip()
                break
            token, *tail = rest.split(None, 1)
            rest = tail[0] if tail else ""
            if token.startswith("exp:"):
                if expires is not None:
                    raise IgnoreFileError(f"{where}: two expiry dates for {ident}")
                expires = _expiry(token, where)
            else:
                raise IgnoreFileError(
                    f"{where}: unexpected {token!r} after {ident}; only exp:YYYY-MM-DD or a # comment may follow the id"
                )
        reason = " ".join([*comments, trailing]).strip() or f"listed in {source} line {number}"
        values = {
            "vulnerability": ident,
            **where_scope,
            "reason": reason,
            "by": source,
            "expires": expires,
            "source": f"{source}:{number}",
        }
        acceptances.append(_acceptance(values, where))
    return acceptances


def _moment(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise IgnoreFileError(f"{where}: expired_at {value!r} is not a date (YYYY-MM-DD) or a timestamp") from None
        return _moment(parsed, where)
    raise IgnoreFileError(f"{where}: expired_at must be a date, got {type(value).__name__}")


def _strings(value: Any, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IgnoreFileError(f"{where}: {key} must be a list of strings")
    return list(value)


def parse_ignore_yaml(
    text: str,
    *,
    source: str = ".regscoutignore.yaml",
    scope: AcceptanceScope = "everywhere",
    registry: str | None = None,
    repository: str | None = None,
    digest: str | None = None,
) -> list[Acceptance]:
    """Acceptances from the YAML form (its ``vulnerabilities`` list)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IgnoreFileError(f"{source} is not valid YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise IgnoreFileError(f"{source} must be a mapping with a 'vulnerabilities' list")
    unknown = sorted(str(k) for k in data if k not in _SKIPPED_SECTIONS and k != "vulnerabilities")
    if unknown:
        raise IgnoreFileError(
            f"{source}: unknown section {', '.join(unknown)}; "
            "the sections are vulnerabilities, misconfigurations, secrets and licenses"
        )
    entries = data.get("vulnerabilities") or []
    if not isinstance(entries, list):
        raise IgnoreFileError(f"{source}: vulnerabilities must be a list of entries")
    where_scope = _scope(scope, registry, repository, digest)
    acceptances: list[Acceptance] = []
    for index, entry in enumerate(entries):
        where = f"{source} vulnerabilities[{index}]"
        if not isinstance(entry, Mapping):
            raise IgnoreFileError(f"{where}: an entry is a mapping with an id")
        extra = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
        if extra:
            raise IgnoreFileError(
                f"{where}: unknown key {', '.join(extra)}; the keys are {', '.join(sorted(_ENTRY_KEYS))}"
            )
        ident = entry.get("id")
        if not isinstance(ident, str) or not ident.strip():
            raise IgnoreFileError(f"{where}: id must be a vulnerability id")
        statement = entry.get("statement")
        if statement is not None and not isinstance(statement, str):
            raise IgnoreFileError(f"{where}: statement must be text")
        values = {
            "vulnerability": ident.strip(),
            **where_scope,
            "paths": _strings(entry.get("paths"), "paths", where),
            "purls": _strings(entry.get("purls"), "purls", where),
            "reason": (statement or "").strip() or f"listed in {source}",
            "by": source,
            "expires": _moment(entry.get("expired_at"), where),
            "source": f"{source}#vulnerabilities[{index}]",
        }
        acceptances.append(_acceptance(values, where))
    return acceptances


def parse_ignore_file(name: str, text: str, **scope: Any) -> list[Acceptance]:
    """The form by the file name, as Trivy decides it: ``.yaml``/``.yml`` is the YAML form, anything else lines."""
    if PurePosixPath(name).suffix.lower() in (".yaml", ".yml"):
        return parse_ignore_yaml(text, source=name, **scope)
    return parse_ignore(text, source=name, **scope)
