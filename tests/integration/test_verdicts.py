"""Stored verdicts on SQLite and PostgreSQL: evaluated when a result is stored, kept per image and policy, the
overall verdict column, events for every change of verdict with its cause, and re-evaluation of only the changed
policy (the other verdicts kept as they were)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from regscout.analysis.merge import Inventory
from regscout.policy import Acceptance, load_policies
from regscout.runtime import Runtime
from regscout.services.audit import Actor
from regscout.store.policy_models import PolicyVerdict, VerdictEvent
from regscout.store.results_models import ScanResult
from regscout.vulndb.matcher import Finding

from .test_result_index import DEBIAN, finding

ME = Actor("cli", "tester", "local")
POLICIES = """
policies:
  - name: no critical
    action: block
    criteria: {severity: CRITICAL}
  - name: no high fixable
    action: warn
    criteria: {severity: HIGH, fixable: true}
"""


def save(runtime: Runtime, digest: str, repository: str, findings: list[Finding]) -> None:
    runtime.results.save(
        digest=digest,
        registry_host="registry.example:5000",
        repository=repository,
        reference="1.0",
        platform="linux/amd64",
        inventory=Inventory(DEBIAN, []),
        findings=findings,
    )


def verdicts(runtime: Runtime) -> dict[tuple[str, str], str]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(ScanResult.repository, PolicyVerdict.policy, PolicyVerdict.outcome).join(
                ScanResult, ScanResult.id == PolicyVerdict.result_id
            )
        )
        return {(repository, policy): outcome for repository, policy, outcome in rows}


def overall(runtime: Runtime) -> dict[str, tuple[str, int]]:
    with runtime.db.session() as session:
        rows = session.execute(select(ScanResult.repository, ScanResult.verdict, ScanResult.accepted))
        return {repository: (verdict, accepted) for repository, verdict, accepted in rows}


def events(runtime: Runtime) -> list[tuple[str, str, str, str, str]]:
    with runtime.db.session() as session:
        rows = session.scalars(select(VerdictEvent).order_by(VerdictEvent.id))
        return [(e.repository, e.policy, e.before, e.after, e.cause) for e in rows]


def test_verdicts_follow_scans_policies_and_acceptances(runtime: Runtime) -> None:
    critical = finding("CVE-2024-0001", "openssl", "CRITICAL", ("3.0.2",))
    high = finding("CVE-2024-0002", "zlib", "HIGH", ("1.3",))
    save(runtime, "sha256:" + "a" * 64, "team/app", [critical, high])
    assert overall(runtime) == {"team/app": ("", 0)} and events(runtime) == []  # no policy yet

    runtime.policies.apply(load_policies(POLICIES), actor=ME)
    summary = runtime.verdicts.reevaluate_all("policies", policies=["no critical", "no high fixable"])
    assert (summary.images, summary.changed, summary.events) == (1, 1, 2)
    assert verdicts(runtime) == {("team/app", "no critical"): "fail", ("team/app", "no high fixable"): "warn"}
    assert overall(runtime) == {"team/app": ("fail", 0)}

    # a scan of another image is evaluated as it is stored
    save(runtime, "sha256:" + "b" * 64, "team/web", [high])
    assert verdicts(runtime)[("team/web", "no critical")] == "pass"
    assert overall(runtime)["team/web"] == ("warn", 0)

    # an acceptance for one repository: only that image's verdict moves
    runtime.acceptances.add(
        Acceptance(
            vulnerability="CVE-2024-0001",
            scope="repository",
            registry="registry.example:5000",
            repository="team/app",
            reason="not reachable",
            by="tester",
        ),
        actor=ME,
    )
    runtime.verdicts.reevaluate_all("acceptances")
    assert overall(runtime) == {"team/app": ("warn", 1), "team/web": ("warn", 0)}
    assert events(runtime)[-1] == ("team/app", "no critical", "fail", "pass", "acceptances")

    # disabling one policy re-evaluates only it: its verdicts go, the other policy's are kept as they were
    before = verdicts(runtime)
    runtime.policies.set_enabled("no high fixable", False, actor=ME)
    summary = runtime.verdicts.reevaluate_all("policies", policies=["no high fixable"])
    assert summary.events == 2
    assert verdicts(runtime) == {k: v for k, v in before.items() if k[1] != "no high fixable"}
    assert overall(runtime) == {"team/app": ("pass", 1), "team/web": ("pass", 0)}
    assert ("team/web", "no high fixable", "warn", "", "policies") in events(runtime)


def test_an_expired_acceptance_accepts_nothing(runtime: Runtime) -> None:
    save(runtime, "sha256:" + "c" * 64, "team/app", [finding("CVE-2024-0001", "openssl", "CRITICAL", ("3.0.2",))])
    runtime.policies.apply(load_policies(POLICIES), actor=ME)
    runtime.acceptances.add(
        Acceptance(
            vulnerability="CVE-2024-0001",
            scope="everywhere",
            reason="until the release",
            by="tester",
            expires=datetime.now(UTC) + timedelta(days=1),
        ),
        actor=ME,
    )
    runtime.verdicts.reevaluate_all("acceptances")
    assert overall(runtime) == {"team/app": ("pass", 1)}
    runtime.verdicts.reevaluate_all("expiry", now=datetime.now(UTC) + timedelta(days=2))
    assert overall(runtime) == {"team/app": ("fail", 0)}
    assert ("team/app", "no critical", "pass", "fail", "expiry") in events(runtime)


def test_removing_a_policy_removes_its_verdicts_and_says_so(runtime: Runtime) -> None:
    save(runtime, "sha256:" + "d" * 64, "team/app", [finding("CVE-2024-0001", "openssl", "CRITICAL")])
    runtime.policies.apply(load_policies(POLICIES), actor=ME)
    runtime.verdicts.reevaluate_all("policies")
    runtime.policies.delete("no critical", actor=ME)
    runtime.verdicts.reevaluate_all("policies", policies=["no critical"])
    assert verdicts(runtime) == {("team/app", "no high fixable"): "pass"}
    assert events(runtime)[-1] == ("team/app", "no critical", "fail", "", "policies")
    entries = runtime.audit.list(action="policy.")
    assert [e.action for e in entries] == ["policy.delete", "policy.create", "policy.create"]
    assert all(e.actor == "tester" for e in entries)
