"""The official validators for every document regscout writes, each returning the problems it found.

- CycloneDX 1.6: the CycloneDX schema bundled with cyclonedx-python-lib (strict: no unknown properties).
- SPDX 2.3: the official JSON schema (shipped by lib4sbom) and spdx-tools' semantic validation (licence
  expressions, LicenseRefs declared, relationships pointing at existing elements).
- SARIF 2.1.0: the SARIF schema and Microsoft's SARIF Multitool, from the npm lock in tests/tools.
- regscout's own JSON: the schemas in docs/schemas/.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from referencing import Registry, Resource
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

ROOT = Path(__file__).resolve().parents[2]
SARIF_TOOLS = ROOT / "tests" / "tools" / "node_modules" / "@microsoft" / "sarif-multitool-linux"
REGSCOUT_SCHEMAS = ROOT / "docs" / "schemas"


@functools.cache
def _cyclonedx_validator() -> JsonStrictValidator:
    return JsonStrictValidator(SchemaVersion.V1_6)


@functools.cache
def _json_validator(schema_path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    # regscout's schemas refer to each other by their $id
    own = [json.loads(path.read_text()) for path in sorted(REGSCOUT_SCHEMAS.glob("*.schema.json"))]
    registry: Registry[Any] = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in own)
    return validator_class(schema, registry=registry, format_checker=validator_class.FORMAT_CHECKER)  # type: ignore[no-any-return]


def spdx_schema_path() -> Path:
    return Path(str(importlib.resources.files("lib4sbom") / "schemas" / "spdx" / "2.3-schema.json"))


def cyclonedx_problems(text: str) -> list[str]:
    error = _cyclonedx_validator().validate_str(text)
    return [] if error is None else [str(error)]


def json_schema_problems(document: Any, schema_path: Path) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _json_validator(schema_path).iter_errors(document)
    ]


def spdx_problems(text: str) -> list[str]:
    document = json.loads(text)
    problems = json_schema_problems(document, spdx_schema_path())
    parsed = JsonLikeDictParser().parse(document)
    problems.extend(f"{m.context.full_element}: {m.validation_message}" for m in validate_full_spdx_document(parsed))
    return problems


def sarif_problems(text: str) -> list[str]:
    problems = json_schema_problems(json.loads(text), SARIF_TOOLS / "sarif-2.1.0.json")
    with tempfile.TemporaryDirectory() as scratch:
        report, log = Path(scratch) / "report.sarif", Path(scratch) / "validation.sarif"
        report.write_text(text)
        env = {**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"}
        subprocess.run(
            [str(SARIF_TOOLS / "Sarif.Multitool"), "validate", str(report), "-o", str(log), "--quiet"],
            env=env,
            check=False,
            capture_output=True,
            timeout=120,
        )
        runs = json.loads(log.read_text())["runs"]
    problems.extend(str(r.get("message")) for run in runs for r in run.get("results", []) if r.get("level") == "error")
    return problems


def regscout_json_problems(text: str, schema: str) -> list[str]:
    """`schema` is a file in docs/schemas/: image-inventory.schema.json or vulnerability-report.schema.json."""
    return json_schema_problems(json.loads(text), REGSCOUT_SCHEMAS / schema)
