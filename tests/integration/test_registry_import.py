"""`regscout registry import`: integrations from a Docker config.json or a Kubernetes pull secret, one per
registry host, typed by host, each tested against the real registries; helpers named, run only when allowed."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import yaml

from regscout.registries.hosts import host_type
from regscout.registries.types import REGISTRY_TYPES
from tests.harness.registry import RunningRegistry

from .cli_support import CliEnv


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _results(cli: CliEnv, *args: str, code: int = 0) -> dict[str, dict[str, object]]:
    out = cli.run("registry", "import", *args, "--json", check_code=code).stdout
    return {row["host"]: row for row in json.loads(out)}


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    return CliEnv(tmp_path / "home")


def test_docker_config_creates_tested_integrations(
    cli: CliEnv, tmp_path: Path, registry_token: RunningRegistry, registry_htpasswd: RunningRegistry
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {
        f"https://{registry_token.host}/v2/": _auth("reader", registry_token.accounts["reader"].password),
        registry_htpasswd.host: _auth("alice", "not-her-password"),
        "oauth.example.com": {"identitytoken": "refresh-token-value"},
    }}))  # fmt: skip

    results = _results(cli, "--docker-config", str(config), code=4)  # one host failed

    token = results[registry_token.host]
    assert (token["outcome"], token["type"], token["test"]["status"]) == ("created", "docker-registry", "Connected")  # type: ignore[index]
    wrong = results[registry_htpasswd.host]
    assert wrong["outcome"] == "failed" and wrong["test"]["status"] == "Authorization failed"  # type: ignore[index]
    assert results["oauth.example.com"]["outcome"] == "skipped"
    assert "identity token" in str(results["oauth.example.com"]["message"])
    listed = json.loads(cli.run("registry", "list", "--json").stdout)
    assert [(i["name"], i["username"], i["url"]) for i in listed] == [
        (str(token["name"]), "reader", registry_token.url)
    ]
    again = _results(cli, "--docker-config", str(config), code=4)
    assert again[registry_token.host]["outcome"] == "skipped" and again[registry_token.host]["message"] == (
        "already integrated"
    )
    assert registry_token.accounts["reader"].password not in "\n".join(cli.transcript)


VENDOR_HOSTS = {
    "https://index.docker.io/v1/": ("docker.io", "docker-hub"),
    "registry.gitlab.com": ("registry.gitlab.com", "gitlab"),
    "quay.io": ("quay.io", "quay"),
    "ghcr.io": ("ghcr.io", "ghcr"),
    "registry.redhat.io": ("registry.redhat.io", "redhat"),
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com": ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr"),
    "europe-west3-docker.pkg.dev": ("europe-west3-docker.pkg.dev", "gar"),
    "eu.gcr.io": ("eu.gcr.io", "gcr"),
    "acme.azurecr.io": ("acme.azurecr.io", "acr"),
    "cr.yandex": ("cr.yandex", "yandex"),
    "de.icr.io": ("de.icr.io", "ibm"),
    "acme.jfrog.io": ("acme.jfrog.io", "artifactory"),
    "registry.example.com:5000": ("registry.example.com:5000", "docker-registry"),
}


@pytest.mark.parametrize(("key", "expected"), list(VENDOR_HOSTS.items()))
def test_host_types(key: str, expected: tuple[str, str]) -> None:
    from regscout.registries.docker_config import registry_host

    host, type_name = expected
    assert registry_host(key) == host
    assert host_type(host).type == type_name


def test_the_type_comes_from_the_host(cli: CliEnv, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {key: _auth("u", "p") for key in VENDOR_HOSTS}}))
    results = _results(cli, "--docker-config", str(config), "--no-test", "--prefix", "imp-")
    assert set(results) == {host for host, _ in VENDOR_HOSTS.values()}
    for host, type_name in VENDOR_HOSTS.values():
        row = results[host]
        assert row["type"] == type_name
        if type_name in REGISTRY_TYPES and row["outcome"] == "created":
            assert str(row["name"]).startswith("imp-")
        else:
            # a type this build lacks, or one that needs settings only the user can give
            assert row["outcome"] in ("skipped", "failed"), row
            assert type_name not in REGISTRY_TYPES or row["outcome"] == "failed"
    created = {i["name"]: i["type"] for i in json.loads(cli.run("registry", "list", "--json").stdout)}
    assert created["imp-docker-io"] == "docker-hub" and created["imp-registry-example-com-5000"] == "docker-registry"
    assert created["imp-registry-redhat-io"] == "redhat"


def _helper(directory: Path, name: str, answers: dict[str, dict[str, str]]) -> None:
    """A real credential helper on PATH, speaking the docker-credential protocol (`get`, host on stdin)."""
    script = directory / f"docker-credential-{name}"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"answers = {answers!r}\n"
        "host = sys.stdin.read().strip()\n"
        "if sys.argv[1:] != ['get'] or host not in answers:\n"
        "    print('credentials not found in native keychain', file=sys.stderr); sys.exit(1)\n"
        "print(json.dumps(answers[host]))\n"
    )
    script.chmod(0o755)


def test_credential_helpers_run_only_when_allowed(cli: CliEnv, tmp_path: Path, registry_token: RunningRegistry) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    password = registry_token.accounts["reader"].password
    _helper(
        bin_dir,
        "lab",
        {registry_token.host: {"ServerURL": registry_token.host, "Username": "reader", "Secret": password}},
    )
    cli.extra["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {}, "credHelpers": {registry_token.host: "lab", "absent.example": "nope"}}))

    refused = _results(cli, "--docker-config", str(config))
    assert refused[registry_token.host]["outcome"] == "skipped"
    assert "docker-credential-lab, which was not run (--allow-helpers runs it)" in str(
        refused[registry_token.host]["message"]
    )
    assert json.loads(cli.run("registry", "list", "--json").stdout) == []

    allowed = _results(cli, "--docker-config", str(config), "--allow-helpers")
    assert allowed[registry_token.host]["outcome"] == "created"
    assert allowed[registry_token.host]["test"]["status"] == "Connected"  # type: ignore[index]
    assert allowed["absent.example"]["outcome"] == "skipped"
    assert "docker-credential-nope is not on PATH" in str(allowed["absent.example"]["message"])
    assert password not in "\n".join(cli.transcript)


def test_kubernetes_pull_secrets(cli: CliEnv, tmp_path: Path, registry_token: RunningRegistry) -> None:
    reader = registry_token.accounts["reader"].password
    config = json.dumps({"auths": {registry_token.host: _auth("reader", reader)}})
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "pull", "namespace": "shop"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "legacy", "namespace": "shop"},
                "type": "kubernetes.io/dockercfg",
                "stringData": {".dockercfg": json.dumps({"quay.io": _auth("robot+ci", "t")})},
            },
        ],
    }
    manifest = tmp_path / "secrets.yaml"
    manifest.write_text(yaml.safe_dump(listing))
    results = _results(cli, "--kube-secret", str(manifest), "--no-test")
    assert results[registry_token.host]["outcome"] == "created"
    assert results["quay.io"]["type"] == "quay"
    show = json.loads(cli.run("registry", "show", str(results[registry_token.host]["name"]), "--json").stdout)
    assert show["description"] == f"imported from {manifest}: secret shop/pull"

    opaque = tmp_path / "opaque.yaml"
    opaque.write_text("kind: Secret\nmetadata: {name: x}\ntype: Opaque\ndata: {a: b}\n")
    refused = cli.run("registry", "import", "--kube-secret", str(opaque), check_code=2)
    assert "is of type 'Opaque', not a pull secret" in refused.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata: {.dockerconfigjson: '%%%'}\n")
    assert "is not base64" in cli.run("registry", "import", "--kube-secret", str(broken), check_code=2).stderr
    assert "give one of" in cli.run("registry", "import", check_code=2).stderr
