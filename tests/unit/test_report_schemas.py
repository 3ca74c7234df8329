"""regscout's published JSON schemas (docs/schemas) say what the code writes: their enums are the code's."""

from __future__ import annotations

import json

from regscout.analysis.model import ECOSYSTEMS
from regscout.analysis.sbom import native
from regscout.report.json_report import render_json
from regscout.vulndb.severity import LEVELS
from tests.harness.validators import REGSCOUT_SCHEMAS, regscout_json_problems
from tests.unit.test_sbom_licenses import _report


def _schema(name: str) -> dict[str, object]:
    return json.loads((REGSCOUT_SCHEMAS / name).read_text())  # type: ignore[no-any-return]


def test_enums_are_the_codes() -> None:
    inventory, report = _schema("image-inventory.schema.json"), _schema("vulnerability-report.schema.json")
    assert set(inventory["$defs"]["package"]["properties"]["ecosystem"]["enum"]) == ECOSYSTEMS  # type: ignore[index]
    assert tuple(report["$defs"]["severity"]["enum"]) == LEVELS  # type: ignore[index]


def test_documents_validate_and_a_wrong_one_does_not() -> None:
    report = _report([("MIT",), ()])
    text = json.dumps(native(report))
    assert regscout_json_problems(text, "image-inventory.schema.json") == []
    assert regscout_json_problems(render_json(report, [], "registry.example"), "vulnerability-report.schema.json") == []
    broken = json.loads(text)
    broken["packages"][0]["ecosystem"] = "pip"
    del broken["image"]["digest"]
    problems = regscout_json_problems(json.dumps(broken), "image-inventory.schema.json")
    assert any("packages/0/ecosystem" in p for p in problems) and any("'digest' is a required" in p for p in problems)
