"""The policy engine: policies over an image's inventory, findings and details, with risk acceptances.

Pure functions over data, no database and no I/O but reading the shipped end-of-life table:

- ``model``: Policy, Scope, Criteria, Action, Acceptance (pydantic; JSON/YAML round-trip);
- ``subject``: what a policy is evaluated on (Subject) and its shared lookups (SubjectIndex);
- ``criteria``: one function per criterion, and ``check`` combining a policy's criteria;
- ``evaluate``: acceptances, scopes, actions → one verdict per policy;
- ``eol``: the base OS end-of-life table (``eol.json``);
- ``ignore``: ``.regscoutignore`` (Trivy's ignore-file forms) → acceptances;
- ``vex``: OpenVEX documents → acceptances;
- ``defaults``: the shipped policies, disabled.
"""

from .criteria import Violation
from .defaults import default_policies
from .evaluate import (
    AcceptedFinding,
    CompiledPolicy,
    Evaluation,
    Skipped,
    Verdict,
    compile_policies,
    compile_policy,
    evaluate,
)
from .model import (
    Acceptance,
    Action,
    Criteria,
    PackageRule,
    Policy,
    PolicyError,
    Scope,
    dump_acceptances,
    dump_policies,
    load_acceptances,
    load_policies,
)
from .subject import Subject

__all__ = [
    "Acceptance",
    "AcceptedFinding",
    "Action",
    "CompiledPolicy",
    "Criteria",
    "Evaluation",
    "PackageRule",
    "Policy",
    "PolicyError",
    "Scope",
    "Skipped",
    "Subject",
    "Verdict",
    "Violation",
    "compile_policies",
    "compile_policy",
    "default_policies",
    "dump_acceptances",
    "dump_policies",
    "evaluate",
    "load_acceptances",
    "load_policies",
]
