"""An OpenShift/Kubernetes API stand-in for the image and authorization APIs.

Serves, with ``Authorization: Bearer <token>``:

* ``GET /apis/image.openshift.io/v1/namespaces/{ns}/imagestreams`` and
  ``GET /apis/image.openshift.io/v1/imagestreams`` → ``ImageStreamList`` with API chunking
  (``limit``, ``metadata.continue``, ``metadata.remainingItemCount``);
* ``GET /apis/image.openshift.io/v1/namespaces/{ns}/imagestreams/{name}`` → ``ImageStream``;
* ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` → 201 with ``status.allowed``.

Errors are ``Status`` objects (``kind: Status``, ``status: Failure``, ``message``, ``reason``,
``code``): 401 Unauthorized for an unknown token, 403 Forbidden with the API server's wording when
RBAC denies, 404 NotFound. Authorization is a small RBAC model: each token has rules
(verb, resource, subresource, namespace or cluster-wide).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..httpserver import HarnessHTTPServer, QuietHandler

__all__ = ["INTERNAL_REGISTRY", "OpenShiftAPI", "Rule", "TagEvent"]

INTERNAL_REGISTRY = "image-registry.openshift-image-registry.svc:5000"
IMAGE_GROUP = "image.openshift.io"


@dataclass(frozen=True)
class Rule:
    """RBAC: ``verb`` on ``resource``[/``subresource``] in ``namespace`` (None = cluster-wide)."""

    verb: str
    resource: str
    subresource: str = ""
    namespace: str | None = None
    group: str = IMAGE_GROUP

    def allows(self, verb: str, group: str, resource: str, subresource: str, namespace: str | None) -> bool:
        return (
            self.verb in (verb, "*")
            and self.group in (group, "*")
            and self.resource in (resource, "*")
            and self.subresource == subresource
            and (self.namespace is None or self.namespace == namespace)
        )


@dataclass(frozen=True)
class TagEvent:
    created: str
    image: str
    docker_image_reference: str

    def to_api(self, generation: int) -> dict[str, Any]:
        return {
            "created": self.created,
            "dockerImageReference": self.docker_image_reference,
            "image": self.image,
            "generation": generation,
        }


@dataclass
class _Stream:
    namespace: str
    name: str
    uid: str
    tags: dict[str, list[TagEvent]] = field(default_factory=dict)


@dataclass(frozen=True)
class APIRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    body: Any
    status: int


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class OpenShiftAPI:
    """``url`` is the cluster API URL (the adapter's ``api_url``). ``public_host`` is the registry
    route host the image streams advertise (``publicDockerImageRepository``)."""

    def __init__(self, public_host: str | None = None) -> None:
        self.public_host = public_host
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, tuple[Rule, ...]]] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._requests: list[APIRequest] = []
        self._version = 1000
        self._server = HarnessHTTPServer("127.0.0.1", _make_handler(self))
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._server.start(name=f"openshift-api-{self._server.port}")

    # -- content -------------------------------------------------------------------------------
    def add_token(self, token: str, user: str, rules: list[Rule]) -> None:
        with self._lock:
            self._tokens[token] = (user, tuple(rules))

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def tag(self, namespace: str, name: str, tag: str, image: str, created: str, reference: str | None = None) -> None:
        """Record a push/import of ``image`` to ``namespace/name:tag``; the newest event is first.
        ``reference`` defaults to the integrated registry's own reference for the image."""
        ref = reference or f"{INTERNAL_REGISTRY}/{namespace}/{name}@{image}"
        with self._lock:
            self._version += 1
            stream = self._streams.setdefault(
                (namespace, name), _Stream(namespace, name, f"uid-{namespace}-{name}-{self._version}")
            )
            stream.tags.setdefault(tag, []).insert(0, TagEvent(created, image, ref))

    # -- records -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[APIRequest]:
        with self._lock:
            return list(self._requests)

    def reviews(self) -> list[dict[str, Any]]:
        """The resourceAttributes of every SelfSubjectAccessReview received."""
        return [
            r.body["spec"]["resourceAttributes"]
            for r in self.requests
            if r.method == "POST" and r.path.endswith("/selfsubjectaccessreviews") and isinstance(r.body, dict)
        ]

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> OpenShiftAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- behaviour -----------------------------------------------------------------------------
    def _user(self, authorization: str | None) -> tuple[str, tuple[Rule, ...]] | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            return self._tokens.get(token)

    def _stream_json(self, stream: _Stream, *, in_list: bool) -> dict[str, Any]:
        status: dict[str, Any] = {"dockerImageRepository": f"{INTERNAL_REGISTRY}/{stream.namespace}/{stream.name}"}
        if self.public_host:
            status["publicDockerImageRepository"] = f"{self.public_host}/{stream.namespace}/{stream.name}"
        status["tags"] = [
            {"tag": tag, "items": [e.to_api(len(events) - i) for i, e in enumerate(events)]}
            for tag, events in sorted(stream.tags.items())
        ]
        body: dict[str, Any] = {} if in_list else {"kind": "ImageStream", "apiVersion": "image.openshift.io/v1"}
        body.update(
            {
                "metadata": {
                    "name": stream.name,
                    "namespace": stream.namespace,
                    "uid": stream.uid,
                    "resourceVersion": str(self._version),
                    "generation": 1,
                    "creationTimestamp": "2024-01-01T00:00:00Z",
                },
                "spec": {"lookupPolicy": {"local": False}},
                "status": status,
            }
        )
        return body

    def _forbidden(self, user: str, verb: str, resource: str, namespace: str | None) -> tuple[int, dict[str, Any]]:
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        return 403, _status(
            403,
            "Forbidden",
            f'{resource}.{IMAGE_GROUP} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
            f'in API group "{IMAGE_GROUP}" {where}',
            {"group": IMAGE_GROUP, "kind": resource},
        )

    def _list(self, namespace: str | None, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        try:
            limit = int(query.get("limit", ["0"])[0])
            offset = int(base64.urlsafe_b64decode(query["continue"][0]).decode()) if "continue" in query else 0
        except (ValueError, UnicodeDecodeError):
            return 400, _status(400, "BadRequest", "invalid limit or continue parameter")
        with self._lock:
            streams = sorted(
                (s for s in self._streams.values() if namespace is None or s.namespace == namespace),
                key=lambda s: (s.namespace, s.name),
            )
            chunk = streams[offset : offset + limit] if limit > 0 else streams[offset:]
            items = [self._stream_json(s, in_list=True) for s in chunk]
            metadata: dict[str, Any] = {"resourceVersion": str(self._version)}
        rest = len(streams) - offset - len(chunk)
        if rest > 0:
            metadata["continue"] = base64.urlsafe_b64encode(str(offset + len(chunk)).encode()).decode()
            metadata["remainingItemCount"] = rest
        return 200, {
            "kind": "ImageStreamList",
            "apiVersion": "image.openshift.io/v1",
            "metadata": metadata,
            "items": items,
        }

    def _review(self, rules: tuple[Rule, ...], body: Any) -> tuple[int, dict[str, Any]]:
        spec = body.get("spec") if isinstance(body, dict) else None
        attributes = spec.get("resourceAttributes") if isinstance(spec, dict) else None
        if not isinstance(attributes, dict):
            return 422, _status(
                422,
                "Invalid",
                "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes: Required value",
            )
        namespace = attributes.get("namespace") or None
        allowed = any(
            rule.allows(
                str(attributes.get("verb", "")),
                str(attributes.get("group", "")),
                str(attributes.get("resource", "")),
                str(attributes.get("subresource", "")),
                namespace,
            )
            for rule in rules
        )
        status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            status["reason"] = "RBAC: allowed by a role binding"
        answer = dict(body)
        answer["metadata"] = {"creationTimestamp": None}
        answer["status"] = status
        return 201, answer

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], authorization: str | None, body: Any
    ) -> tuple[int, Any]:
        caller = self._user(authorization)
        if caller is None:
            return 401, _status(401, "Unauthorized", "Unauthorized")
        user, rules = caller
        parts = [unquote(p) for p in path.strip("/").split("/")]

        def may(verb: str, resource: str, namespace: str | None) -> bool:
            return any(rule.allows(verb, IMAGE_GROUP, resource, "", namespace) for rule in rules)

        if method == "POST" and parts == ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]:
            return self._review(rules, body)
        if method != "GET" or parts[:3] != ["apis", IMAGE_GROUP, "v1"]:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        rest = parts[3:]
        if rest == ["imagestreams"]:
            if not may("list", "imagestreams", None):
                return self._forbidden(user, "list", "imagestreams", None)
            return self._list(None, query)
        if len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] == "imagestreams":
            namespace = rest[1]
            if len(rest) == 3:
                if not may("list", "imagestreams", namespace):
                    return self._forbidden(user, "list", "imagestreams", namespace)
                return self._list(namespace, query)
            if not may("get", "imagestreams", namespace):
                return self._forbidden(user, "get", "imagestreams", namespace)
            with self._lock:
                stream = self._streams.get((namespace, rest[3]))
                if stream is not None:
                    return 200, self._stream_json(stream, in_list=False)
            return 404, _status(
                404,
                "NotFound",
                f'imagestreams.{IMAGE_GROUP} "{rest[3]}" not found',
                {"name": rest[3], "group": IMAGE_GROUP, "kind": "imagestreams"},
            )
        return 404, _status(404, "NotFound", "the server could not find the requested resource")

    def _record(self, request: APIRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _make_handler(api: OpenShiftAPI) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            raw = self.read_body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            authorization = self.headers.get("Authorization")
            status, answer = api.handle(self.command, parts.path, query, authorization, body)
            api._record(APIRequest(self.command, parts.path, query, authorization, body, status))
            self.send_bytes(status, json.dumps(answer).encode())

        do_GET = do_POST = _serve

    return Handler
