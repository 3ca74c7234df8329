"""Scan results per image digest: stored inventory and findings, re-matched without any registry
access when the vulnerability data changes, with what changed for each image recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..analysis.details import ImageDetails
from ..analysis.merge import Inventory, inventory_from_json, inventory_to_json
from ..jsonable import plain
from ..store.db import Database
from ..store.results_models import FindingChange, ScanResult
from ..vulndb.matcher import Finding, RecordSource, match
from .codec import details_from_json, finding_from_json
from .codec import pack as _pack
from .codec import unpack as _unpack
from .index import record_today, reindex

if TYPE_CHECKING:
    from ..services.verdicts import Verdicts


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    return dict(Counter(f.severity for f in findings))


@dataclass(frozen=True)
class Change:
    finding_id: str
    package: str
    version: str
    change: str  # new | fixed | withdrawn
    detail: str = ""


Exists = Callable[[Iterable[str]], set[str]]  # which of these advisory ids the data still has


def diff(before: list[Finding], after: list[Finding], exists: Exists | None = None) -> list[Change]:
    """What changed for one image. A finding that vanished is `withdrawn` when none of its advisories
    exists any more, else `fixed` (the data no longer says the installed version is affected); a finding
    whose fix state became `fixed` is `fixed` too (a fix was published)."""
    old = {f.key: f for f in before}
    new = {f.key: f for f in after}
    changes = [Change(f.id, f.package, f.version, "new", f.severity) for key, f in new.items() if key not in old]
    for key, f in old.items():
        if key not in new:
            gone = exists is not None and not exists(f.advisories)
            changes.append(
                Change(
                    f.id,
                    f.package,
                    f.version,
                    "withdrawn" if gone else "fixed",
                    "advisory withdrawn" if gone else "no longer affected by the data",
                )
            )
        elif f.fix_state != "fixed" and new[key].fix_state == "fixed":
            changes.append(
                Change(f.id, f.package, f.version, "fixed", "fix published: " + ", ".join(new[key].fixed_versions))
            )
    return changes


class ResultsService:
    def __init__(self, db: Database, verdicts: Verdicts | None = None) -> None:
        """With ``verdicts``, each stored or re-matched result is evaluated under the policies in the same
        transaction."""
        self.db = db
        self.verdicts = verdicts

    def save(
        self,
        *,
        digest: str,
        registry_host: str,
        repository: str,
        reference: str,
        platform: str,
        inventory: Inventory,
        findings: list[Finding],
        index_digest: str | None = None,
        details: ImageDetails | None = None,
    ) -> list[Change]:
        """Store the image's result; `details` (layers, history, config) is kept as well when given, and a save
        without it leaves what an earlier save stored (the same digest is the same manifest and config)."""
        # Twice at most: another worker may store the same digest (the same image under two tags) between our
        # read and our insert; the second pass then updates its row.
        for last in (False, True):
            try:
                now = datetime.now(UTC)
                with self.db.session() as session:
                    row = session.scalar(select(ScanResult).where(ScanResult.image_digest == digest))
                    before = [finding_from_json(f) for f in _unpack(row.findings)] if row else []
                    changes = diff(before, findings) if row else []
                    if row is None:
                        row = ScanResult(image_digest=digest)
                        session.add(row)
                    row.registry_host, row.repository, row.reference, row.platform = (
                        registry_host,
                        repository,
                        reference,
                        platform,
                    )
                    row.index_digest = index_digest
                    inventory_json = inventory_to_json(inventory)
                    findings_json = [asdict(f) for f in findings]
                    row.inventory = _pack(inventory_json)
                    row.findings = _pack(findings_json)
                    if details is not None:
                        row.details = _pack(plain(details))
                    row.counts = severity_counts(findings)
                    row.analyzed_at = row.matched_at = now
                    session.flush()
                    reindex(session, row, inventory_json, findings_json)
                    self._record(session, digest, changes, now)
                    if self.verdicts is not None:
                        stored_details = details
                        if stored_details is None and row.details is not None:
                            stored_details = details_from_json(_unpack(row.details))
                        self.verdicts.evaluate_stored(
                            session,
                            row,
                            findings=findings,
                            inventory=inventory,
                            details=stored_details,
                            cause="scan",
                            now=now,
                        )
                    record_today(session, now)
                    return changes
            except IntegrityError:
                if last:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _record(session: Any, digest: str, changes: list[Change], at: datetime) -> None:
        session.add_all(
            FindingChange(
                image_digest=digest,
                finding_id=c.finding_id,
                package=c.package,
                version=c.version,
                change=c.change,
                detail=c.detail,
                at=at,
            )
            for c in changes
        )

    def findings(self, digest: str) -> list[Finding] | None:
        with self.db.session() as session:
            row = session.scalar(select(ScanResult).where(ScanResult.image_digest == digest))
            return [finding_from_json(f) for f in _unpack(row.findings)] if row else None

    def scanned_digests(self, registry_host: str) -> dict[str, str]:
        """Digest last scanned per ``repository:tag`` of one registry (``repository@digest`` when scanned by digest):
        the index digest for an image chosen from a multi-arch index, as the registry lists it for the tag."""
        with self.db.session() as session:
            rows = session.execute(
                select(
                    ScanResult.repository, ScanResult.reference, ScanResult.image_digest, ScanResult.index_digest
                ).where(ScanResult.registry_host == registry_host)
            ).all()
        return {
            f"{repository}{'@' if ':' in reference else ':'}{reference}": index_digest or digest
            for repository, reference, digest, index_digest in rows
        }

    def summary(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(select(ScanResult).order_by(ScanResult.matched_at.desc())).all()
            return [
                {
                    "digest": r.image_digest,
                    "registry": r.registry_host,
                    "repository": r.repository,
                    "reference": r.reference,
                    "platform": r.platform,
                    "counts": r.counts,
                    "analyzed_at": r.analyzed_at.isoformat(),
                    "matched_at": r.matched_at.isoformat(),
                }
                for r in rows
            ]

    def changes(self, digest: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(
                select(FindingChange).where(FindingChange.image_digest == digest).order_by(FindingChange.id)
            ).all()
            return [
                {
                    "finding": r.finding_id,
                    "package": r.package,
                    "version": r.version,
                    "change": r.change,
                    "detail": r.detail,
                    "at": r.at.isoformat(),
                }
                for r in rows
            ]

    def rematch_all(self, source: RecordSource, exists: Exists | None = None) -> dict[str, list[Change]]:
        """Match every stored inventory again (after a data update); no registry is contacted."""
        with self.db.session() as session:
            digests = list(session.scalars(select(ScanResult.image_digest)))
        policy_set = self.verdicts.load() if self.verdicts is not None else None
        changed: dict[str, list[Change]] = {}
        for digest in digests:
            with self.db.session() as session:
                row = session.scalar(select(ScanResult).where(ScanResult.image_digest == digest))
                if row is None:
                    continue
                before = [finding_from_json(f) for f in _unpack(row.findings)]
                inventory_json = _unpack(row.inventory)
                inventory = inventory_from_json(inventory_json)
                after = match(inventory, source)
                changes = diff(before, after, exists)
                now = datetime.now(UTC)
                findings_json = [asdict(f) for f in after]
                row.findings = _pack(findings_json)
                row.counts = severity_counts(after)
                row.matched_at = now
                if changes or before != after:
                    reindex(session, row, inventory_json, findings_json)
                self._record(session, digest, changes, now)
                if self.verdicts is not None and policy_set is not None and policy_set.active:
                    details = details_from_json(_unpack(row.details)) if row.details is not None else None
                    self.verdicts.evaluate_stored(
                        session,
                        row,
                        findings=after,
                        inventory=inventory,
                        details=details,
                        cause="data",
                        now=now,
                        policy_set=policy_set,
                    )
            if changes:
                changed[digest] = changes
        with self.db.session() as session:
            record_today(session)
        return changed
