"""The Harbor pluggable-scanner OpenAPI contract (v1.1 and v1.2), as a response validator.

The YAML files are ``/work/shared/specs/scanner-adapter-openapi-v1.{1,2}.yaml``
(goharbor/pluggable-scanner-spec, see ``specs/SOURCES.md``). They do not load as they are
published; HARBOR.md ("Validating against the spec files") lists the fixes, which are applied
to an in-memory copy here:

- integer response status keys (``200:``) become strings (``"200"``), as OpenAPI requires;
- v1.2 puts ``enum`` beside ``schema`` on the ``sbom_media_type`` query parameter: it is
  moved into the schema;
- v1.2 misspells ``description`` as ``descriptions`` in ``additional_attributes``.

``ScannerSpec.path`` is that fixed OpenAPI 3.0 document (for ``schemathesis.openapi.from_dict``).
For validation the schemas are turned into JSON Schema 2020-12: OpenAPI 3.0's
``nullable: true`` becomes ``anyOf [schema, {"type": "null"}]``; ``$ref`` to
``#/components/schemas/...`` resolves inside the document.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema  # type: ignore[import-untyped]  # no stubs in the test extra
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SPEC_DIR",
    "ScannerSpec",
    "SpecVersion",
    "SpecViolation",
    "parse_media_type",
    "same_media_type",
]

SPEC_DIR = Path("/work/shared/specs")
SpecVersion = Literal["1.1", "1.2"]
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecViolation(AssertionError):
    """A response (or request) that the scanner-adapter OpenAPI spec does not allow."""


def parse_media_type(value: str) -> tuple[str, str | None]:
    """``type/subtype`` (lower case) and the ``version`` parameter of a media type, leniently.

    Spaces around ``;`` and ``=``, quoted values, the case of names and other parameters
    (``charset``) do not matter; HARBOR.md "Report": "Match Accept leniently (parse parameters)".
    """
    main, *params = value.split(";")
    version: str | None = None
    for param in params:
        name, sep, raw = param.partition("=")
        if sep and name.strip().lower() == "version":
            version = raw.strip().strip('"').strip()
    return main.strip().lower(), version


def same_media_type(a: str, b: str) -> bool:
    """Whether two media types agree on ``type/subtype`` and the ``version`` parameter."""
    return parse_media_type(a) == parse_media_type(b)


def _fix_openapi(document: dict[str, Any]) -> list[str]:
    """Apply HARBOR.md's fixes in place; returns what was changed, one line per fix."""
    fixes: list[str] = []
    for template, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            responses = operation.get("responses", {})
            if any(not isinstance(key, str) for key in responses):
                operation["responses"] = {str(key): value for key, value in responses.items()}
                fixes.append(f"{method.upper()} {template}: integer status keys -> strings")
            for parameter in operation.get("parameters", []):
                if "enum" in parameter and isinstance(parameter.get("schema"), dict):
                    parameter["schema"]["enum"] = parameter.pop("enum")
                    fixes.append(f"{method.upper()} {template}: parameter {parameter['name']}: enum moved into schema")

    def rename_descriptions(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "descriptions" in node and "type" in node:
                node.setdefault("description", node.pop("descriptions"))
                fixes.append(f"{where}: 'descriptions' -> 'description'")
            for key, value in node.items():
                rename_descriptions(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                rename_descriptions(value, f"{where}/{index}")

    rename_descriptions(document.get("components", {}), "#/components")
    return fixes


def _to_json_schema(node: Any, uri: str) -> Any:
    """OpenAPI 3.0 schema objects (anywhere in the document) -> JSON Schema 2020-12.

    ``nullable: true`` becomes ``anyOf [schema, {"type": "null"}]``; local ``$ref`` (``#/...``)
    become absolute (``uri#/...``) so that any schema taken out of the document still resolves.
    """
    if isinstance(node, list):
        return [_to_json_schema(value, uri) for value in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value, uri) for key, value in node.items()}
    ref = converted.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        converted["$ref"] = uri + ref
    if converted.pop("nullable", False) is True:
        notes = {key: converted.pop(key) for key in ("description", "example") if key in converted}
        return {"anyOf": [converted, {"type": "null"}], **notes}
    return converted


@functools.cache
def _load_fixed(version: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    # PyYAML's safe loader turns the unquoted status keys into ints; that is the first fix.
    raw = yaml.safe_load((SPEC_DIR / f"scanner-adapter-openapi-v{version}.yaml").read_text())
    if not isinstance(raw, dict) or not str(raw.get("openapi", "")).startswith("3.0"):
        raise ValueError(f"scanner-adapter-openapi-v{version}.yaml is not an OpenAPI 3.0 document")
    fixes = _fix_openapi(raw)
    return raw, tuple(fixes)


def _explain(error: jsonschema.ValidationError) -> str:
    """The message, plus the closest reason inside an ``anyOf``/``oneOf`` (nullable, parameters)."""
    if error.context:
        inner = jsonschema.exceptions.best_match(error.context)
        if inner is not None:
            return f"{error.message} (closest: at /{'/'.join(map(str, inner.absolute_path))}: {inner.message})"
    return str(error.message)


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    operation: dict[str, Any]  # from the JSON Schema view of the document


_ERROR_MEDIA_TYPE = "application/vnd.scanner.adapter.error+json; version=1.0"


@dataclass
class ScannerSpec:
    """One version of the scanner-adapter API spec, fixed as HARBOR.md says, ready to validate with."""

    version: str
    path: dict[str, Any]
    """The fixed OpenAPI 3.0 document (a fresh copy per ``load``; feed it to schemathesis)."""
    fixes: tuple[str, ...]
    """What ``load`` had to change in the published YAML."""
    _uri: str = field(repr=False)
    _registry: Registry[Any] = field(repr=False)
    _operations: tuple[_Operation, ...] = field(repr=False)
    _base_path: str = field(repr=False)
    _global_security: bool = field(repr=False)

    @classmethod
    def load(cls, version: SpecVersion) -> ScannerSpec:
        """Load ``scanner-adapter-openapi-v{version}.yaml`` and apply HARBOR.md's fixes."""
        if version not in ("1.1", "1.2"):
            raise ValueError(f"unknown scanner-adapter spec version {version!r} (1.1 or 1.2)")
        fixed, fixes = _load_fixed(version)
        document = copy.deepcopy(fixed)
        uri = f"urn:harbor:scanner-adapter-openapi:{version}"
        json_doc = _to_json_schema(document, uri)
        registry: Registry[Any] = Registry().with_resource(uri, DRAFT202012.create_resource(json_doc))
        servers = document.get("servers") or [{"url": "/"}]
        base_path = str(servers[0]["url"]).rstrip("/")
        operations = []
        for template, item in json_doc["paths"].items():
            regex = "".join(
                "(?P<" + part[1:-1] + ">[^/]+)" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}/]+\})", template)
            )
            # Anything before the server path is allowed: a registered base URL may carry a prefix.
            pattern = re.compile(f"^(?:.*?){re.escape(base_path)}{regex}$")
            for method in _METHODS:
                if isinstance(item.get(method), dict):
                    operations.append(_Operation(method, template, pattern, item[method]))
        return cls(
            version, document, fixes, uri, registry, tuple(operations), base_path, bool(document.get("security"))
        )

    @property
    def document(self) -> dict[str, Any]:
        """Same as ``path``: the fixed OpenAPI document."""
        return self.path

    def _fail(self, message: str) -> SpecViolation:
        return SpecViolation(f"spec {self.version}: {message}")

    # -- lookup -----------------------------------------------------------------------------

    def _find(self, method: str, path: str) -> _Operation:
        concrete = path.split("?", 1)[0]
        matches = [op for op in self._operations if op.pattern.match(concrete)]
        if not matches:
            known = ", ".join(sorted({op.template for op in self._operations}))
            raise self._fail(f"no path matches {concrete!r} (server path {self._base_path!r}; paths: {known})")
        for op in matches:
            if op.method == method.lower():
                return op
        allowed = ", ".join(sorted(op.method.upper() for op in matches))
        raise self._fail(f"{method.upper()} is not an operation of {matches[0].template} (only {allowed})")

    def operation_template(self, method: str, path: str) -> str:
        """The templated path of the operation a concrete request path (query ignored) belongs to."""
        return self._find(method, path).template

    # -- validation -------------------------------------------------------------------------

    def _validate(self, schema: Any, instance: Any, what: str) -> None:
        validator = jsonschema.Draft202012Validator(
            schema, registry=self._registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        if errors:
            lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {_explain(e)}" for e in errors[:10]]
            more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
            raise self._fail(f"{what} does not match its schema:\n" + "\n".join(lines) + more)

    def validate_component(self, name: str, instance: Any) -> None:
        """Validate ``instance`` against ``#/components/schemas/<name>``."""
        self._validate({"$ref": f"{self._uri}#/components/schemas/{name}"}, instance, name)

    def validate_response(
        self,
        method: str,
        path: str,
        status: int,
        content_type: str | None,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Check one response against the spec; raise ``SpecViolation`` otherwise.

        The operation is found by matching ``path`` (e.g. ``/api/v1/scan/abc/report``) against the
        templated paths; the response by ``status`` or ``default``. When the spec lists media types
        for it, ``content_type`` must be one of them (type/subtype and ``version`` compared), and the
        body must parse as JSON and match that media type's schema. Documented response headers
        (``Refresh-After``: integer) are checked when ``headers`` is given.

        401 is in neither spec, yet both declare ``security`` and HARBOR.md ("Authentication of
        Harbor to us") requires 401 with the error envelope: a 401 on a secured operation is
        checked as ``application/vnd.scanner.adapter.error+json; version=1.0`` / ``ErrorResponse``.
        """
        op = self._find(method, path)
        where = f"{method.upper()} {op.template} -> {status}"
        responses: dict[str, Any] = op.operation.get("responses", {})
        response = responses.get(str(status), responses.get("default"))
        if response is None and status == 401 and (op.operation.get("security") or self._global_security):
            error_schema = {"$ref": f"{self._uri}#/components/schemas/ErrorResponse"}
            response = {"content": {_ERROR_MEDIA_TYPE: {"schema": error_schema}}}
        if response is None:
            raise self._fail(f"{where}: status {status} is not documented (only {', '.join(responses)})")

        if headers is not None:
            for name, header in (response.get("headers") or {}).items():
                value = headers.get(name)
                if value is None:
                    if header.get("required"):
                        raise self._fail(f"{where}: header {name} is required")
                    continue
                if header.get("schema", {}).get("type") == "integer" and not re.fullmatch(r"[+-]?\d+", value.strip()):
                    raise self._fail(f"{where}: header {name}: {value!r} is not an integer")

        content: dict[str, Any] = response.get("content") or {}
        if not content:
            return
        if content_type is None:
            raise self._fail(f"{where}: no Content-Type; the spec lists {', '.join(content)}")
        matching = [listed for listed in content if same_media_type(listed, content_type)]
        if not matching:
            raise self._fail(f"{where}: Content-Type {content_type!r} is not one the spec lists ({', '.join(content)})")
        schema = content[matching[0]].get("schema")
        if schema is None:
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._fail(f"{where}: body is not UTF-8: {exc}") from None
        instance: Any
        if schema.get("type") == "string" and "$ref" not in schema:
            instance = text  # the raw report: the body is the string itself
        else:
            try:
                instance = json.loads(text)
            except ValueError as exc:
                raise self._fail(f"{where}: body is not JSON ({exc}): {text[:200]!r}") from None
        self._validate(schema, instance, f"{where} ({matching[0]}) body")

    def validate_request(self, method: str, path: str, content_type: str | None, body: bytes) -> None:
        """Check a request body against the operation's ``requestBody`` (the stand-in checks its own)."""
        op = self._find(method, path)
        content: dict[str, Any] = (op.operation.get("requestBody") or {}).get("content") or {}
        where = f"{method.upper()} {op.template} request"
        if not content:
            return
        matching = [listed for listed in content if content_type and same_media_type(listed, content_type)]
        if not matching:
            raise self._fail(f"{where}: Content-Type {content_type!r} is not one the spec lists ({', '.join(content)})")
        try:
            instance = json.loads(body)
        except ValueError as exc:
            raise self._fail(f"{where}: body is not JSON ({exc})") from None
        self._validate(content[matching[0]].get("schema", {}), instance, f"{where} body")
