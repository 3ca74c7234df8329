"""Policies and risk acceptances as data: pydantic models that validate with errors naming the field and the fix,
and that round-trip through JSON and YAML (``load_policies`` / ``dump_policies`` and the acceptance pair).

A policy has a name, a scope (registry, repository and tag patterns with the pull rules' ``*`` rules), an action
(``warn`` or ``block``) and criteria. Criteria combine with AND; the values listed inside one criterion combine
with OR. What each criterion means is written on its field below and in ``criteria.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..analysis.model import ECOSYSTEMS
from ..vulndb.versions import InvalidVersion, VersionScheme
from . import patterns
from .versions import parse_range, scheme_for_ecosystem

__all__ = [
    "SEVERITY_THRESHOLDS",
    "Acceptance",
    "AcceptanceScope",
    "Action",
    "Criteria",
    "PackageRule",
    "Policy",
    "PolicyError",
    "Scope",
    "dump_acceptances",
    "dump_policies",
    "load_acceptances",
    "load_policies",
]

# A threshold "HIGH" means HIGH or CRITICAL. A finding of UNKNOWN severity meets no threshold.
SEVERITY_THRESHOLDS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE")
SeverityThreshold = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE"]
_PORT = re.compile(r"(?P<low>[0-9]{1,5})(?:-(?P<high>[0-9]{1,5}))?(?:/(?P<proto>tcp|udp|sctp))?")
_ID = re.compile(r"\S+")
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}  # OCI image-spec registered algorithms: lower-case hex
_MAX_NAME = 200


class PolicyError(ValueError):
    """A policy or acceptance document that does not load; the message lists every problem."""


class Action(StrEnum):
    WARN = "warn"
    BLOCK = "block"


_FROZEN = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
# Patterns and regular expressions keep their whitespace where it is meaningful (an escaped space, a regex).
_FROZEN_VERBATIM = ConfigDict(extra="forbid", frozen=True)


def _check_list(values: list[str], what: str, check: Any, strip: Any = str.strip) -> list[str]:
    if not values:
        raise ValueError(f"{what}: give at least one, or leave the criterion out")
    cleaned = [strip(v) for v in values]
    for value in cleaned:
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"invalid {what} {value!r}: {exc}") from None
    return cleaned


def _nonempty(value: str) -> None:
    if not value:
        raise ValueError("it is empty")


def _ids(values: list[str]) -> list[str]:
    def check(value: str) -> None:
        if _ID.fullmatch(value) is None:
            raise ValueError("an id is one word, like CVE-2024-3094 or GHSA-xxxx-xxxx-xxxx")

    return _check_list(values, "vulnerability id", check)


# ---------------------------------------------------------------------------------------------------- scope


class Scope(BaseModel):
    """Which images a policy applies to. Each list is OR; the lists AND; an empty list is "any".

    ``registries``: host patterns (``ghcr.io``, ``*.example.com``, ``localhost:5000``; Docker Hub under any of its
    names). ``repositories``: pull-rule patterns (``team/*``, ``nginx:1.*``, ``:latest``). ``tags``: tag patterns
    (``v*``, ``latest``)."""

    model_config = _FROZEN_VERBATIM

    registries: list[str] = []
    repositories: list[str] = []
    tags: list[str] = []

    @pydantic.field_validator("registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        return [_checked(v, "registry pattern", patterns.registry_pattern) for v in value]

    @pydantic.field_validator("repositories")
    @classmethod
    def _repositories(cls, value: list[str]) -> list[str]:
        return [_checked(v, "repository pattern", patterns.repository_pattern) for v in value]

    @pydantic.field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return [_checked(v, "tag pattern", patterns.tag_pattern) for v in value]


def _checked(value: str, what: str, parse: Any) -> str:
    try:
        parse(value)
    except ValueError as exc:
        raise ValueError(f"invalid {what} {value!r}: {exc}") from None
    return patterns.strip_pattern(value)


# ---------------------------------------------------------------------------------------------------- criteria


class PackageRule(BaseModel):
    """Packages of one ecosystem by name (``*`` allowed) and, optionally, version ranges.

    ``versions`` lists ranges (OR); a range is comparisons joined by commas (AND): ``<2.17.0``,
    ``>=3.0.0, <3.0.7``, ``==1.2.3`` (a bare version means ``==``). Versions compare by the ecosystem's own order
    (dpkg, apk, rpm, PEP 440, SemVer, Maven, ...). OS packages match by binary or source package name, PyPI names
    as PEP 503 normalises them."""

    model_config = _FROZEN_VERBATIM

    ecosystem: str
    name: str
    versions: list[str] = []

    @pydantic.field_validator("ecosystem")
    @classmethod
    def _ecosystem(cls, value: str) -> str:
        value = value.strip()
        if value not in ECOSYSTEMS:
            raise ValueError(f"unknown ecosystem {value!r}; use one of {', '.join(sorted(ECOSYSTEMS))}")
        return value

    @pydantic.field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked(value, "package name pattern", patterns.name_pattern)

    @pydantic.field_validator("versions")
    @classmethod
    def _versions(cls, value: list[str]) -> list[str]:
        return [v.strip() for v in value]

    @pydantic.model_validator(mode="after")
    def _ranges(self) -> PackageRule:
        if not self.versions:
            return self
        scheme = scheme_for_ecosystem(self.ecosystem)
        if scheme is None:  # pragma: no cover - every ECOSYSTEMS entry has a scheme
            raise ValueError(f"versions of {self.ecosystem} packages cannot be compared")
        for text in self.versions:
            _parse_range_checked(text, scheme)
        return self


def _parse_range_checked(text: str, scheme: VersionScheme) -> None:
    try:
        parse_range(text, scheme)
    except (ValueError, InvalidVersion) as exc:
        raise ValueError(f"invalid version range {text!r}: {exc}") from None


class Criteria(BaseModel):
    """Every criterion is optional; a policy needs at least one. Findings (and packages) must meet every finding
    (package) criterion given; image criteria must each hold; a policy is violated when all that is given holds.

    Finding criteria: ``severity`` (at least), ``cvss`` (score at least), ``fixable`` (true: only findings with a
    fixed version; false: only those without), ``published_days`` (the advisory was published more than N days
    ago), ``fix_days`` (a fix has been available for more than N days), ``cve_ids`` (any of these ids, matched
    against the finding's id, aliases and advisories).

    Package criteria: ``packages`` (any of these rules), ``licenses`` (a declared licence, or a licence id inside a
    declared SPDX expression, matching any of these names; ``*`` allowed, case-insensitive). With finding criteria
    they narrow the findings to those packages; without, they report the packages themselves.

    Image criteria: ``image_age_days`` (created more than N days ago), ``not_scanned_days`` (no scan within N
    days), ``os_eol`` (the base OS release is past end of life), ``runs_as_root``, ``history`` (a Dockerfile line
    of the history matches any of these regular expressions, searched anywhere in the line), ``labels_missing``
    (any of these labels is absent or blank), ``exposed_ports`` (any exposed port matches: ``22``, ``22/tcp``,
    ``8000-8999``, ``1-1023/udp``)."""

    model_config = _FROZEN_VERBATIM

    severity: SeverityThreshold | None = None
    cvss: float | None = Field(default=None, allow_inf_nan=False)
    fixable: bool | None = None
    published_days: int | None = None
    fix_days: int | None = None
    cve_ids: list[str] | None = None
    packages: list[PackageRule] | None = None
    licenses: list[str] | None = None
    image_age_days: int | None = None
    not_scanned_days: int | None = None
    os_eol: Literal[True] | None = None
    runs_as_root: Literal[True] | None = None
    history: list[str] | None = None
    labels_missing: list[str] | None = None
    exposed_ports: list[str] | None = None

    @pydantic.field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip().upper()
        if text not in SEVERITY_THRESHOLDS:
            hint = " (UNKNOWN is no threshold; it meets none)" if text == "UNKNOWN" else ""
            raise ValueError(f"unknown severity {value!r}; use one of {', '.join(SEVERITY_THRESHOLDS)}{hint}")
        return text

    @pydantic.field_validator("cvss")
    @classmethod
    def _cvss(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 10:
            raise ValueError(f"a CVSS score is between 0 and 10, got {value}")
        return value

    @pydantic.field_validator("published_days", "fix_days", "image_age_days", "not_scanned_days")
    @classmethod
    def _days(cls, value: int | None, info: pydantic.ValidationInfo) -> int | None:
        if value is not None and value < 0:
            raise ValueError(f"{info.field_name} counts days and cannot be negative, got {value}")
        return value

    @pydantic.field_validator("os_eol", "runs_as_root", mode="before")
    @classmethod
    def _flag(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if value is False:
            raise ValueError(f"{info.field_name} takes true, or is left out")
        return value

    @pydantic.field_validator("cve_ids")
    @classmethod
    def _cve_ids(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _ids(value)

    @pydantic.field_validator("packages")
    @classmethod
    def _packages(cls, value: list[PackageRule] | None) -> list[PackageRule] | None:
        if value is not None and not value:
            raise ValueError("packages: give at least one rule, or leave the criterion out")
        return value

    @pydantic.field_validator("licenses")
    @classmethod
    def _licenses(cls, value: list[str] | None) -> list[str] | None:
        return (
            None if value is None else _check_list(value, "licence name", patterns.name_pattern, patterns.strip_pattern)
        )

    @pydantic.field_validator("history")
    @classmethod
    def _history(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None

        def check(text: str) -> None:
            _nonempty(text)
            try:
                re.compile(text)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None

        return _check_list(value, "history pattern", check, strip=lambda v: v)

    @pydantic.field_validator("labels_missing")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_list(value, "label name", _nonempty)

    @pydantic.field_validator("exposed_ports", mode="before")
    @classmethod
    def _ports_as_text(cls, value: Any) -> Any:
        # YAML reads `- 22` as a number.
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @pydantic.field_validator("exposed_ports")
    @classmethod
    def _ports(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_list(value, "port", parse_port)

    def given(self) -> list[str]:
        """The names of the criteria set, in field order."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


def parse_port(text: str) -> tuple[int, int, str | None]:
    """``22`` → (22, 22, None); ``8000-8999/tcp`` → (8000, 8999, "tcp"). ValueError when malformed."""
    m = _PORT.fullmatch(text.strip().lower())
    if m is None:
        raise ValueError("a port is N, N/tcp, N/udp, N/sctp or a range N-M with an optional protocol")
    low = int(m["low"])
    high = int(m["high"]) if m["high"] else low
    if not 0 <= low <= high <= 65535:
        raise ValueError("ports run from 0 to 65535 and a range runs upwards")
    return low, high, m["proto"]


# ---------------------------------------------------------------------------------------------------- policy


class Policy(BaseModel):
    model_config = _FROZEN

    name: str = Field(min_length=1, max_length=_MAX_NAME)
    description: str = ""
    enabled: bool = True
    action: Action = Action.WARN
    scope: Scope = Scope()
    criteria: Criteria

    @pydantic.model_validator(mode="after")
    def _has_criteria(self) -> Policy:
        if not self.criteria.given():
            raise ValueError(f"policy {self.name!r} has no criteria; give at least one")
        return self


# ---------------------------------------------------------------------------------------------------- acceptance

AcceptanceScope = Literal["image", "repository", "registry", "everywhere"]


def _as_utc_moment(value: Any) -> Any:
    """A date means the start of that day in UTC (as Trivy reads ``exp:YYYY-MM-DD``); a datetime needs a zone."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or a date and time with a zone") from None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{value.isoformat()} has no time zone; add one (Z for UTC) or give a date")
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    return value


class Acceptance(BaseModel):
    """A vulnerability accepted for an image (by digest), a repository, a registry, or everywhere.

    ``vulnerability`` (and ``aliases``) match a finding's id, aliases or advisories, case-insensitively. ``purls``
    and ``paths`` narrow it to findings of those packages (Trivy's purl rule: the version and qualifiers count
    when given) or at those file paths (doublestar globs). An acceptance holds until ``expires`` (a date is the
    start of that day, UTC); then the finding comes back. ``vex_status`` and ``justification`` are set on
    acceptances made from VEX statements."""

    model_config = _FROZEN

    vulnerability: str = Field(min_length=1)
    aliases: list[str] = []
    scope: AcceptanceScope
    registry: str | None = None
    repository: str | None = None
    digest: str | None = None
    purls: list[str] = []
    paths: list[str] = []
    reason: str = Field(min_length=1)
    by: str = Field(min_length=1)
    expires: datetime | None = None
    created: datetime | None = None
    source: str = "manual"
    vex_status: Literal["not_affected", "fixed"] | None = None
    justification: str | None = None

    @pydantic.field_validator("vulnerability")
    @classmethod
    def _vulnerability(cls, value: str) -> str:
        return _ids([value])[0]

    @pydantic.field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        return _ids(value) if value else []

    @pydantic.field_validator("expires", "created", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> Any:
        return None if value is None else _as_utc_moment(value)

    @pydantic.field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        algorithm, _, encoded = value.partition(":")
        length = _DIGEST_LENGTHS.get(algorithm)
        valid = _DIGEST.fullmatch(value) is not None and (
            length is None or (len(encoded) == length and all(c in "0123456789abcdef" for c in encoded))
        )
        if not valid:
            raise ValueError(f"{value!r} is not an image digest like sha256:<64 hex digits>")
        return value

    @pydantic.field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value or "/" in value or any(ch.isspace() for ch in value):
            raise ValueError(f"{value!r} is not a registry host like ghcr.io or localhost:5000")
        return patterns.canonical_registry(value)

    @pydantic.field_validator("purls")
    @classmethod
    def _purls(cls, value: list[str]) -> list[str]:
        for text in value:
            patterns.parse_purl(text)
        return [v.strip() for v in value]

    @pydantic.field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for text in value:
            patterns.compile_glob(text)
        return [v.strip() for v in value]

    @pydantic.model_validator(mode="after")
    def _scope_fields(self) -> Acceptance:
        need: dict[str, tuple[str, ...]] = {
            "image": ("digest",),
            "repository": ("registry", "repository"),
            "registry": ("registry",),
            "everywhere": (),
        }
        allowed: dict[str, tuple[str, ...]] = {
            "image": ("digest", "registry", "repository"),
            "repository": ("registry", "repository"),
            "registry": ("registry",),
            "everywhere": (),
        }
        missing = [f for f in need[self.scope] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"an acceptance for {_scope_words(self.scope)} needs {' and '.join(missing)}")
        extra = [f for f in ("registry", "repository", "digest") if getattr(self, f) is not None]
        extra = [f for f in extra if f not in allowed[self.scope]]
        if extra:
            raise ValueError(f"an acceptance for {_scope_words(self.scope)} takes no {' or '.join(extra)}")
        return self

    def ids(self) -> tuple[str, ...]:
        """The ids it accepts, upper-cased, the main one first."""
        return tuple(dict.fromkeys(i.upper() for i in (self.vulnerability, *self.aliases)))

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires


def _scope_words(scope: str) -> str:
    return {"image": "an image", "repository": "a repository", "registry": "a registry"}.get(scope, scope)


# ---------------------------------------------------------------------------------------------------- documents


def validation_errors(exc: pydantic.ValidationError, where: str) -> list[str]:
    out = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append(f"{where}: {loc}: {message}" if loc else f"{where}: {message}")
    return out


def parse_policy(values: Any) -> Policy:
    """One policy from a mapping (an API body, a form), errors worded as the document loaders word them."""
    try:
        return Policy.model_validate(values)
    except pydantic.ValidationError as exc:
        raise PolicyError("; ".join(validation_errors(exc, "the policy"))) from None


def parse_acceptance(values: Any) -> Acceptance:
    try:
        return Acceptance.model_validate(values)
    except pydantic.ValidationError as exc:
        raise PolicyError("; ".join(validation_errors(exc, "the acceptance"))) from None


def _document(text: str, what: str, key: str) -> list[Any]:
    try:
        data = yaml.safe_load(text)  # JSON is YAML: one reader for both
    except yaml.YAMLError as exc:
        raise PolicyError(f"the {what} document is neither YAML nor JSON: {exc}") from None
    if data is None:
        return []
    if isinstance(data, dict) and set(data) == {key}:
        data = data[key]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise PolicyError(f"the {what} document must be a list of {what}s, or an object with a {key!r} list")
    return data


def _name_of(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"{index} ({name!r})" if isinstance(name, str) else str(index)


def load_policies(text: str) -> list[Policy]:
    """Policies from YAML or JSON: a list, one policy, or ``{"policies": [...]}``. PolicyError lists every problem."""
    problems: list[str] = []
    policies: list[Policy] = []
    for index, item in enumerate(_document(text, "policy", "policies")):
        try:
            policies.append(Policy.model_validate(item))
        except pydantic.ValidationError as exc:
            problems.extend(validation_errors(exc, f"policy {_name_of(item, index)}"))
    seen: set[str] = set()
    for policy in policies:
        if policy.name in seen:
            problems.append(f"two policies are named {policy.name!r}; names must be unique")
        seen.add(policy.name)
    if problems:
        raise PolicyError("\n".join(problems))
    return policies


def load_acceptances(text: str) -> list[Acceptance]:
    """Acceptances from YAML or JSON: a list, one acceptance, or ``{"acceptances": [...]}``."""
    problems: list[str] = []
    acceptances: list[Acceptance] = []
    for index, item in enumerate(_document(text, "acceptance", "acceptances")):
        try:
            acceptances.append(Acceptance.model_validate(item))
        except pydantic.ValidationError as exc:
            problems.extend(validation_errors(exc, f"acceptance {index}"))
    if problems:
        raise PolicyError("\n".join(problems))
    return acceptances


def _dump(items: Sequence[BaseModel], key: str, fmt: Literal["yaml", "json"]) -> str:
    data = {key: [item.model_dump(mode="json", exclude_none=True) for item in items]}
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def dump_policies(policies: Iterable[Policy], fmt: Literal["yaml", "json"] = "yaml") -> str:
    return _dump(list(policies), "policies", fmt)


def dump_acceptances(acceptances: Iterable[Acceptance], fmt: Literal["yaml", "json"] = "yaml") -> str:
    return _dump(list(acceptances), "acceptances", fmt)
