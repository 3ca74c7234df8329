"""Stored verdicts: every stored image evaluated under the enabled policies and the risk acceptances, one row per
image and policy, and an event whenever an image's verdict under a policy changes.

An image is evaluated when its result is stored (cause ``scan``), when its findings are matched again after a data
update (``data``), and all images are evaluated again — from the stored inventory, findings and details, never
pulling anything — when policies (``policies``) or acceptances (``acceptances``) change or an acceptance expires
(``expiry``).

Fix dates: OSV records carry no date of the fix itself, so a fix is dated by the first publication of the advisory
that reported the finding (the earliest of its records); a finding is dated by the earliest publication of any of
its ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from ..analysis.merge import Inventory, inventory_from_json
from ..gcpause import collector_paused
from ..policy import Acceptance, CompiledPolicy, Evaluation, Policy, Subject, compile_policies, evaluate
from ..results.codec import details_from_json, finding_from_json, unpack
from ..store.db import Database
from ..store.policy_models import AcceptanceRow, PolicyRow, PolicyVerdict, VerdictEvent
from ..store.results_models import ScanResult
from ..vulndb.matcher import Finding

__all__ = ["Cause", "PolicySet", "Reevaluation", "ReevaluationQueue", "Verdicts", "load_policy_set"]

log = logging.getLogger(__name__)

Cause = Literal["scan", "policies", "acceptances", "data", "expiry"]
DateSource = Callable[[Iterable[str]], Mapping[str, datetime]]
_INVENTORY_CRITERIA = ("packages", "licenses", "os_eol")
_DETAIL_CRITERIA = ("image_age_days", "runs_as_root", "history", "labels_missing", "exposed_ports")
_DATE_CRITERIA = ("published_days", "fix_days")
BATCH = 200
_EMPTY_INVENTORY = Inventory(None, [])


@dataclass(frozen=True)
class PolicySet:
    """What one evaluation pass reads, loaded once: the policies in order, the enabled ones compiled, and the
    acceptances not revoked (expired ones included: they are reported as expired)."""

    policies: tuple[Policy, ...]
    compiled: tuple[CompiledPolicy, ...]
    acceptances: tuple[Acceptance, ...]

    @property
    def active(self) -> bool:
        return bool(self.compiled or self.acceptances)

    def _needs(self, criteria: Sequence[str]) -> bool:
        return any(getattr(c.policy.criteria, name) is not None for c in self.compiled for name in criteria)

    @property
    def needs_inventory(self) -> bool:
        return self._needs(_INVENTORY_CRITERIA)

    @property
    def needs_details(self) -> bool:
        return self._needs(_DETAIL_CRITERIA)

    @property
    def needs_dates(self) -> bool:
        return self._needs(_DATE_CRITERIA)

    def only(self, names: frozenset[str]) -> PolicySet:
        """The same set with only these policies evaluated."""
        return PolicySet(self.policies, tuple(c for c in self.compiled if c.policy.name in names), self.acceptances)


def load_policy_set(session: Session) -> PolicySet:
    policies = tuple(
        Policy.model_validate(document)
        for document in session.scalars(select(PolicyRow.document).order_by(PolicyRow.position, PolicyRow.id))
    )
    acceptances = tuple(
        Acceptance.model_validate(document)
        for document in session.scalars(
            select(AcceptanceRow.document).where(AcceptanceRow.revoked_at.is_(None)).order_by(AcceptanceRow.id)
        )
    )
    return PolicySet(policies, tuple(compile_policies(p for p in policies if p.enabled)), acceptances)


def advisory_dates(
    findings: Iterable[Finding], published: Mapping[str, datetime]
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """finding id → (published, fix published) as the module's docstring says."""
    dates: dict[str, tuple[datetime | None, datetime | None]] = {}
    for finding in findings:
        known = [published[i] for i in (finding.id, *finding.advisories, *finding.aliases) if i in published]
        first = min(known) if known else None
        fix = None
        if finding.fixed_versions:
            reported = [published[i] for i in finding.advisories if i in published]
            fix = min(reported) if reported else first
        if first is not None or fix is not None:
            dates[finding.id] = (first, fix)
    return dates


def finding_ids(findings: Iterable[Finding]) -> set[str]:
    return {ident for f in findings for ident in (f.id, *f.advisories, *f.aliases)}


@dataclass(frozen=True)
class Reevaluation:
    images: int
    changed: int  # images whose verdict under some policy changed
    events: int
    seconds: float


Outcomes = dict[str, tuple[str, str, int]]  # policy → (action, outcome, violations)


@dataclass
class _Evaluated:
    """What is written of one image's evaluation (the evaluation itself is dropped at once: thousands of them
    alive at a time made the garbage collector the slowest part)."""

    result_id: int
    digest: str
    registry_host: str
    repository: str
    reference: str
    outcomes: Outcomes
    accepted: int | None  # None: not evaluated again (only some policies were)


def _evaluated(row: Any, evaluation: Evaluation | None, *, with_accepted: bool = True) -> _Evaluated:
    outcomes: Outcomes = {}
    accepted = 0
    if evaluation is not None:
        outcomes = {v.policy: (v.action.value, v.outcome, len(v.violations)) for v in evaluation.verdicts}
        accepted = len(evaluation.accepted)
    return _Evaluated(
        row.id,
        row.image_digest,
        row.registry_host,
        row.repository,
        row.reference,
        outcomes,
        accepted if with_accepted else None,
    )


def _tag(reference: str) -> str:
    return "" if ":" in reference else reference  # a digest reference ("sha256:…") has no tag


class Verdicts:
    def __init__(self, db: Database, published: DateSource) -> None:
        self.db = db
        self.published = published

    def counts(self) -> dict[str, dict[str, int]]:
        """policy → outcome → stored images with that verdict."""
        counts: dict[str, dict[str, int]] = {}
        with self.db.session() as session:
            for policy, outcome, images in session.execute(
                select(PolicyVerdict.policy, PolicyVerdict.outcome, func.count()).group_by(
                    PolicyVerdict.policy, PolicyVerdict.outcome
                )
            ):
                counts.setdefault(policy, {})[outcome] = images
        return counts

    def expired_between(self, since: datetime, until: datetime) -> bool:
        """Whether an acceptance in force expired in (since, until]: its findings count again."""
        with self.db.session() as session:
            return (
                session.scalar(
                    select(AcceptanceRow.id)
                    .where(
                        AcceptanceRow.revoked_at.is_(None),
                        AcceptanceRow.expires > since,
                        AcceptanceRow.expires <= until,
                    )
                    .limit(1)
                )
                is not None
            )

    def load(self) -> PolicySet:
        with self.db.session() as session:
            return load_policy_set(session)

    def subject(
        self,
        *,
        registry_host: str,
        repository: str,
        reference: str,
        digest: str,
        scanned_at: datetime | None,
        findings: Sequence[Finding],
        inventory: Inventory | None,
        details: Any,
        dates: Mapping[str, tuple[datetime | None, datetime | None]],
    ) -> Subject:
        return Subject(
            registry_host,
            repository,
            _tag(reference),
            digest,
            inventory or _EMPTY_INVENTORY,
            findings,
            details,
            scanned_at,
            dates,
        )

    def evaluate_stored(
        self,
        session: Session,
        row: ScanResult,
        *,
        findings: Sequence[Finding],
        inventory: Inventory,
        details: Any,
        cause: Cause,
        now: datetime,
        policy_set: PolicySet | None = None,
    ) -> Evaluation | None:
        """Evaluate one stored result whose data the caller has decoded already, in the caller's transaction."""
        policy_set = policy_set if policy_set is not None else load_policy_set(session)
        evaluation = None
        if policy_set.active:
            dates = advisory_dates(findings, self.published(finding_ids(findings))) if policy_set.needs_dates else {}
            subject = self.subject(
                registry_host=row.registry_host,
                repository=row.repository,
                reference=row.reference,
                digest=row.image_digest,
                scanned_at=row.analyzed_at,
                findings=findings,
                inventory=inventory,
                details=details,
                dates=dates,
            )
            evaluation = evaluate(policy_set.compiled, subject, policy_set.acceptances, now)
        _write(session, [_evaluated(row, evaluation)], cause, now)
        return evaluation

    def reevaluate_all(
        self, cause: Cause, *, policies: Collection[str] | None = None, now: datetime | None = None
    ) -> Reevaluation:
        """Every stored image again, from its stored data, in batches (one transaction each). With ``policies``
        (a policy was added, edited, enabled, disabled or removed) only those are evaluated again and the other
        verdicts are kept; without, everything is (acceptances or expiries changed)."""
        started = time.perf_counter()
        with self.db.session() as session:
            policy_set = load_policy_set(session)
            ids = list(session.scalars(select(ScanResult.id).order_by(ScanResult.id)))
        only = frozenset(policies) if policies is not None else None
        if only is not None:
            policy_set = policy_set.only(only)
        images = changed = events = 0
        for start in range(0, len(ids), BATCH):
            with self.db.session() as session, collector_paused():
                moment = now or _now()
                items = self._evaluate_batch(session, ids[start : start + BATCH], policy_set, moment, only is None)
                batch_events, batch_changed = _write(session, items, cause, moment, only)
            images += len(items)
            events += batch_events
            changed += batch_changed
        return Reevaluation(images, changed, events, time.perf_counter() - started)

    def _evaluate_batch(
        self, session: Session, ids: list[int], policy_set: PolicySet, now: datetime, whole: bool
    ) -> list[_Evaluated]:
        columns: list[Any] = [
            ScanResult.id,
            ScanResult.image_digest,
            ScanResult.registry_host,
            ScanResult.repository,
            ScanResult.reference,
            ScanResult.analyzed_at,
        ]
        if not policy_set.compiled and not (whole and policy_set.acceptances):
            rows = session.execute(select(*columns).where(ScanResult.id.in_(ids))).all()
            return [_evaluated(r, None, with_accepted=whole) for r in rows]
        columns.append(ScanResult.findings)
        if policy_set.needs_inventory:
            columns.append(ScanResult.inventory.label("inventory"))
        if policy_set.needs_details:
            columns.append(ScanResult.details.label("details"))
        rows = session.execute(select(*columns).where(ScanResult.id.in_(ids))).all()
        findings_of = {row.id: [finding_from_json(f) for f in unpack(row.findings)] for row in rows}
        published: Mapping[str, datetime] = {}
        if policy_set.needs_dates:
            published = self.published(i for findings in findings_of.values() for i in finding_ids(findings))
        items = []
        for row in rows:
            findings = findings_of.pop(row.id)
            # decoded one image at a time, so only one image's packages are alive at once
            inventory = inventory_from_json(unpack(row.inventory)) if policy_set.needs_inventory else None
            details_blob = row.details if policy_set.needs_details else None
            subject = self.subject(
                registry_host=row.registry_host,
                repository=row.repository,
                reference=row.reference,
                digest=row.image_digest,
                scanned_at=row.analyzed_at,
                findings=findings,
                inventory=inventory,
                details=details_from_json(unpack(details_blob)) if details_blob is not None else None,
                dates=advisory_dates(findings, published) if published else {},
            )
            evaluation = evaluate(policy_set.compiled, subject, policy_set.acceptances, now)
            items.append(_evaluated(row, evaluation, with_accepted=whole))
        return items


def _now() -> datetime:
    return datetime.now(UTC)


_RANK = {"": 0, "pass": 1, "warn": 2, "fail": 3}


def _worst(outcomes: Iterable[str]) -> str:
    return max(outcomes, key=_RANK.__getitem__, default="")


def _write(
    session: Session, items: list[_Evaluated], cause: Cause, now: datetime, only: frozenset[str] | None = None
) -> tuple[int, int]:
    """Replace the items' verdict rows (only those of the ``only`` policies, when given), set each result's
    overall verdict from all its verdicts, and add an event per changed verdict. Returns (events, images changed)."""
    ids = [item.result_id for item in items]
    before: dict[int, Outcomes] = {i: {} for i in ids}
    for result_id, policy, action, outcome, violations in session.execute(
        select(
            PolicyVerdict.result_id,
            PolicyVerdict.policy,
            PolicyVerdict.action,
            PolicyVerdict.outcome,
            PolicyVerdict.violations,
        ).where(PolicyVerdict.result_id.in_(ids))
    ):
        before[result_id][policy] = (action, outcome, violations)
    replaced = delete(PolicyVerdict).where(PolicyVerdict.result_id.in_(ids))
    if only is not None:
        replaced = replaced.where(PolicyVerdict.policy.in_(only))
    session.execute(replaced)
    verdict_rows: list[dict[str, Any]] = []
    result_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    changed = 0
    for item in items:
        old = before[item.result_id]
        kept = {p: o for p, o in old.items() if p not in only} if only is not None else {}
        after = {**kept, **item.outcomes}
        verdict_rows.extend(
            {
                "result_id": item.result_id,
                "policy": policy,
                "action": action,
                "outcome": outcome,
                "violations": violations,
                "evaluated_at": now,
            }
            for policy, (action, outcome, violations) in item.outcomes.items()
        )
        result_row: dict[str, Any] = {
            "id": item.result_id,
            "verdict": _worst(o for _, o, _ in after.values()),
            "evaluated_at": now,
        }
        if item.accepted is not None:
            result_row["accepted"] = item.accepted
        result_rows.append(result_row)
        moved = [p for p in dict.fromkeys([*old, *after]) if _outcome(old, p) != _outcome(after, p)]
        changed += bool(moved)
        event_rows.extend(
            {
                "at": now,
                "image_digest": item.digest,
                "registry_host": item.registry_host,
                "repository": item.repository,
                "reference": item.reference,
                "policy": policy,
                "before": _outcome(old, policy),
                "after": _outcome(after, policy),
                "cause": cause,
            }
            for policy in moved
        )
    if verdict_rows:
        session.execute(insert(PolicyVerdict), verdict_rows)
    if result_rows:
        session.execute(update(ScanResult), result_rows)
    if event_rows:
        session.execute(insert(VerdictEvent), event_rows)
    return len(event_rows), changed


def _outcome(outcomes: Outcomes, policy: str) -> str:
    entry = outcomes.get(policy)
    return entry[1] if entry is not None else ""


async def watch_expiries(verdicts: Verdicts, queue: ReevaluationQueue, stop: asyncio.Event, every: float) -> None:
    """The server's check, once every ``every`` seconds, for acceptances that expired since the last check."""
    checked = _now()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        now = _now()
        if await asyncio.to_thread(verdicts.expired_between, checked, now):
            queue.request("expiry")
        checked = now


class ReevaluationQueue:
    """Re-evaluation in the background for the server: requests while one runs are folded into one more run (the
    union of the policies asked for; everything when any request asked for everything), so a burst of edits costs
    at most two passes. ``wait`` is for tests and shutdown."""

    def __init__(self, verdicts: Verdicts) -> None:
        self.verdicts = verdicts
        self._lock = threading.Lock()
        self._pending: tuple[Cause, frozenset[str] | None] | None = None
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.last: Reevaluation | None = None

    def request(self, cause: Cause, policies: Collection[str] | None = None) -> None:
        names = frozenset(policies) if policies is not None else None
        with self._lock:
            if self._pending is not None:
                earlier = self._pending[1]
                names = None if earlier is None or names is None else earlier | names
            self._pending = (cause, names)
            if self._thread is not None and self._thread.is_alive():
                return
            self._idle.clear()
            self._thread = threading.Thread(target=self._run, name="regscout-reevaluate", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                pending, self._pending = self._pending, None
                if pending is None:
                    self._idle.set()
                    return
            cause, names = pending
            try:
                self.last = self.verdicts.reevaluate_all(cause, policies=names)
                log.info(
                    "re-evaluated %d images (%s): %d changed verdicts in %.1f s",
                    self.last.images,
                    cause,
                    self.last.events,
                    self.last.seconds,
                )
            except Exception:
                log.exception("re-evaluating the stored images failed")

    def wait(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)
