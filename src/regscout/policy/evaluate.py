"""Evaluate policies on one image: ``evaluate(policies, subject, acceptances, now)``.

Order of work, per call:

1. Acceptances first. An acceptance that covers the subject (its scope: the image's digest, its repository, its
   registry, or everywhere) and names a finding's id, alias or advisory (narrowed by its purls and paths when it
   gives them) accepts the finding until it expires. Accepted findings are reported with the acceptance that
   accepted them and take no part in the policies; findings whose only covering acceptances have expired are
   reported as ``expired`` and are evaluated like any other.
2. Each enabled policy whose scope covers the subject gives a verdict: ``pass``, or, when its criteria are met,
   ``warn`` (action warn) or ``fail`` (action block), with the violations and notes on what could not be decided.
   Disabled and out-of-scope policies are listed as skipped.

Pure: no database, no I/O. Everything about the subject is indexed once per call and shared by the policies, and
a policy's patterns and regexes are compiled once (``compile_policies``; ``evaluate`` compiles plain policies
itself, which costs a little per call).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from packageurl import PackageURL

from ..vulndb.matcher import Finding
from . import eol as eol_table
from .criteria import CompiledCriteria, Violation, check, compile_criteria
from .model import Acceptance, Action, Policy
from .patterns import (
    Pattern,
    canonical_registry,
    compile_glob,
    parse_purl,
    purl_matches,
    registry_matches,
    registry_pattern,
    repository_matches,
    repository_pattern,
    tag_matches,
    tag_pattern,
)
from .subject import Subject, SubjectIndex

__all__ = [
    "AcceptedFinding",
    "CompiledPolicy",
    "Evaluation",
    "Outcome",
    "Skipped",
    "Verdict",
    "compile_policies",
    "compile_policy",
    "covers_subject",
    "evaluate",
]

Outcome = Literal["pass", "warn", "fail"]
_SEVERITY_OF_OUTCOME = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class CompiledPolicy:
    policy: Policy
    registries: tuple[Pattern, ...]
    repositories: tuple[Pattern, ...]
    tags: tuple[Pattern, ...]
    criteria: CompiledCriteria

    def in_scope(self, subject: Subject) -> bool:
        """Each list of the scope is OR, the lists AND, an empty list is any."""
        if self.registries and not any(registry_matches(p, subject.registry) for p in self.registries):
            return False
        if self.repositories and not any(
            repository_matches(p, subject.repository, subject.tag) for p in self.repositories
        ):
            return False
        return not self.tags or any(tag_matches(p, subject.tag) for p in self.tags)


def compile_policy(policy: Policy, *, eol: eol_table.EolTable | None = None) -> CompiledPolicy:
    """``eol`` replaces the shipped end-of-life table (for tests)."""
    scope = policy.scope
    return CompiledPolicy(
        policy,
        tuple(registry_pattern(p) for p in scope.registries),
        tuple(repository_pattern(p) for p in scope.repositories),
        tuple(tag_pattern(p) for p in scope.tags),
        compile_criteria(policy.criteria, eol),
    )


def compile_policies(policies: Iterable[Policy], *, eol: eol_table.EolTable | None = None) -> list[CompiledPolicy]:
    return [compile_policy(p, eol=eol) for p in policies]


@dataclass(frozen=True)
class Verdict:
    policy: str
    action: Action
    outcome: Outcome
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]  # what could not be decided (missing dates, unknown OS, no image config)
    criteria: tuple[str, ...]  # the criteria the policy gives


@dataclass(frozen=True)
class AcceptedFinding:
    finding: Finding
    acceptance: Acceptance


@dataclass(frozen=True)
class Skipped:
    policy: str
    reason: Literal["disabled", "out of scope"]


@dataclass(frozen=True)
class Evaluation:
    verdicts: tuple[Verdict, ...]
    accepted: tuple[AcceptedFinding, ...]  # excluded from the policies
    expired: tuple[AcceptedFinding, ...]  # their acceptance has expired: back in the policies
    skipped: tuple[Skipped, ...]

    @property
    def outcome(self) -> Outcome:
        """The worst verdict: ``fail`` when a blocking policy is violated, ``warn``, else ``pass``."""
        worst: Outcome = "pass"
        for verdict in self.verdicts:
            if _SEVERITY_OF_OUTCOME[verdict.outcome] > _SEVERITY_OF_OUTCOME[worst]:
                worst = verdict.outcome
        return worst

    def verdict(self, policy: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.policy == policy), None)


# ---------------------------------------------------------------------------------------------------- acceptances


def covers_subject(acceptance: Acceptance, subject: Subject) -> bool:
    """Whether the acceptance's scope takes in the image (digest; repository and registry; registry; everywhere)."""
    if acceptance.scope == "everywhere":
        return True
    same_registry = acceptance.registry is None or acceptance.registry == canonical_registry(subject.registry)
    same_repository = acceptance.repository is None or acceptance.repository == subject.repository
    if acceptance.scope == "image":
        return acceptance.digest == subject.digest and same_registry and same_repository
    return same_registry and same_repository


@dataclass(frozen=True)
class _PreparedAcceptance:
    acceptance: Acceptance
    ids: tuple[str, ...]
    purls: tuple[PackageURL, ...]
    paths: tuple[re.Pattern[str], ...]


def _prepare(acceptance: Acceptance) -> _PreparedAcceptance:
    return _PreparedAcceptance(
        acceptance,
        acceptance.ids(),
        tuple(parse_purl(p) for p in acceptance.purls),
        tuple(compile_glob(p) for p in acceptance.paths),
    )


def _covers_finding(prepared: _PreparedAcceptance, ix: SubjectIndex, i: int) -> bool:
    if prepared.purls:
        target = ix.finding_purl(i)
        if target is None or not any(purl_matches(p, target) for p in prepared.purls):
            return False
    if prepared.paths:
        location = ix.findings[i].location.lstrip("/")
        if not any(p.fullmatch(location) for p in prepared.paths):
            return False
    return True


def apply_acceptances(
    acceptances: Iterable[Acceptance], ix: SubjectIndex, now: datetime
) -> tuple[dict[int, Acceptance], dict[int, Acceptance]]:
    """(finding position → the acceptance accepting it, finding position → an expired acceptance that would have).
    The first acceptance in the given order wins; a finding accepted by a valid acceptance is never 'expired'."""
    accepted: dict[int, Acceptance] = {}
    expired: dict[int, Acceptance] = {}
    covering = [_prepare(a) for a in acceptances if covers_subject(a, ix.subject)]
    index = ix.positions_of(ident for prepared in covering for ident in prepared.ids)
    for prepared in covering:
        acceptance = prepared.acceptance
        is_expired = acceptance.expired(now)
        positions = dict.fromkeys(i for ident in prepared.ids for i in index.get(ident, ()))
        for i in positions:
            if i in accepted or not _covers_finding(prepared, ix, i):
                continue
            if is_expired:
                expired.setdefault(i, acceptance)
            else:
                accepted[i] = acceptance
    for i in accepted:
        expired.pop(i, None)
    return accepted, expired


# ---------------------------------------------------------------------------------------------------- evaluation


def _outcome(violated: bool, action: Action) -> Outcome:
    if not violated:
        return "pass"
    return "fail" if action is Action.BLOCK else "warn"


def evaluate(
    policies: Sequence[Policy | CompiledPolicy],
    subject: Subject,
    acceptances: Iterable[Acceptance],
    now: datetime,
) -> Evaluation:
    """One verdict per enabled in-scope policy, in the given order. ``now`` must be timezone-aware; policy names
    must be unique."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    compiled = [p if isinstance(p, CompiledPolicy) else compile_policy(p) for p in policies]
    names = [c.policy.name for c in compiled]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"two policies are named {duplicate!r}; names must be unique")
    ix = SubjectIndex(subject)
    accepted, expired = apply_acceptances(acceptances, ix, now)
    universe = ix.all - accepted.keys() if accepted else ix.all
    verdicts: list[Verdict] = []
    skipped: list[Skipped] = []
    for policy in compiled:
        if not policy.policy.enabled:
            skipped.append(Skipped(policy.policy.name, "disabled"))
            continue
        if not policy.in_scope(subject):
            skipped.append(Skipped(policy.policy.name, "out of scope"))
            continue
        result = check(policy.criteria, ix, now, universe)
        verdicts.append(
            Verdict(
                policy.policy.name,
                policy.policy.action,
                _outcome(result.violated, policy.policy.action),
                result.violations,
                result.notes,
                tuple(policy.policy.criteria.given()),
            )
        )
    return Evaluation(
        tuple(verdicts),
        tuple(AcceptedFinding(ix.findings[i], accepted[i]) for i in sorted(accepted)),
        tuple(AcceptedFinding(ix.findings[i], expired[i]) for i in sorted(expired)),
        tuple(skipped),
    )
