"""`regscout sbom` and `regscout image-info` against the real registry; SBOMs validated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from spdx_tools.spdx.parser.parse_anything import parse_file

from regscout.api.app import create_app
from regscout.secrets import Secret
from regscout.services.audit import SYSTEM
from regscout.services.integrations import IntegrationInput
from tests.harness.images import Pusher, build_image, tar_layer
from tests.harness.registry import RunningRegistry
from tests.harness.validators import cyclonedx_problems, spdx_problems

from .cli_support import CliEnv
from .conftest import make_runtime

STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.15-1~deb12u1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
"""
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
METADATA = b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.31.0\nLicense: Apache-2.0\n"


@pytest.fixture(scope="module")
def pushed(registry_htpasswd: RunningRegistry) -> str:
    base = tar_layer({"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS})
    app = tar_layer({"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": METADATA})
    image = build_image(
        [base, app],
        history=[{"created_by": "ADD rootfs.tar /"}, {"created_by": "RUN /bin/sh -c pip install requests"}],
        config={"Env": ["PATH=/usr/bin", "SECRET_KEY=s3cr3t-value"], "User": "1000"},
    )
    with Pusher(registry_htpasswd) as pusher:
        return pusher.push("sbom/app", "1.0", image)


@pytest.fixture
def cli(tmp_path: Path, registry_htpasswd: RunningRegistry) -> CliEnv:
    env = CliEnv(tmp_path / "home")
    env.run(
        "registry",
        "add",
        "--name",
        "lab",
        "--type",
        "docker-registry",
        "--url",
        registry_htpasswd.url,
        "--username",
        "alice",
        "--password-stdin",
        stdin=registry_htpasswd.accounts["alice"].password + "\n",
    )
    return env


def test_cyclonedx_validates_and_lists_every_package(
    cli: CliEnv, registry_htpasswd: RunningRegistry, pushed: str, tmp_path: Path
) -> None:
    out = tmp_path / "bom.json"
    result = cli.run("sbom", f"{registry_htpasswd.host}/sbom/app:1.0", "--format", "cyclonedx", "--output", str(out))
    assert "3 packages" in result.stderr and "integration lab" in result.stderr
    text = out.read_text()
    assert cyclonedx_problems(text) == []
    bom = json.loads(text)
    assert bom["metadata"]["component"]["version"] == pushed
    purls = {c.get("purl") for c in bom["components"]}
    assert "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl" in purls or any(
        p and p.startswith("pkg:deb/debian/libssl3@3.0.15-1~deb12u1") and "distro=debian-12" in p for p in purls
    )
    assert any(p and p.startswith("pkg:pypi/requests@2.31.0") for p in purls)
    assert not any(p and "removed-thing" in p for p in purls)
    layers = {c["name"]: {p["name"]: p["value"] for p in c.get("properties", [])} for c in bom["components"]}
    assert layers["zlib1g"]["regscout:source:name"] == "zlib"


def test_spdx_validates(cli: CliEnv, registry_htpasswd: RunningRegistry, pushed: str, tmp_path: Path) -> None:
    out = tmp_path / "sbom.spdx.json"
    cli.run("sbom", "sbom/app:1.0", "--registry", "lab", "--format", "spdx", "--output", str(out))
    assert spdx_problems(out.read_text()) == []
    document = parse_file(str(out))
    names = {package.name for package in document.packages}
    assert {"libssl3", "zlib1g", "sbom/app", "debian"} <= names


def test_image_info_shows_details_and_masks_secrets(
    cli: CliEnv, registry_htpasswd: RunningRegistry, pushed: str
) -> None:
    info = json.loads(cli.run("image-info", "sbom/app:1.0", "--registry", "lab", "--json").stdout)
    image = info["image"]
    assert image["digest"] == pushed and image["user"] == "1000"
    assert image["env"] == {"PATH": "/usr/bin", "SECRET_KEY": "****"}
    assert image["dockerfile"] == ["ADD rootfs.tar /", "RUN pip install requests"]
    assert info["os"]["id"] == "debian" and info["os"]["version_id"] == "12"
    layer_of = {p["name"]: p["layer"]["index"] for p in info["packages"]}
    assert layer_of["libssl3"] == 0 and layer_of["Requests"] == 1
    assert "s3cr3t-value" not in "\n".join(cli.transcript)
    table = cli.run("image-info", "sbom/app:1.0", "--registry", "lab").stdout
    assert "RUN pip install requests" in table and "2 deb" in table.replace("packages: ", "")


def test_unknown_reference_and_wrong_integration(cli: CliEnv, registry_htpasswd: RunningRegistry) -> None:
    missing = cli.run("sbom", "sbom/absent:1", "--registry", "lab", check_code=4)
    assert "not found" in missing.stderr.lower()
    bad = cli.run("sbom", "Bad Ref", check_code=2)
    assert "not an image reference" in bad.stderr
    other = cli.run("sbom", "elsewhere.example.com/x:1", "--registry", "lab", check_code=4)
    assert "integration 'lab'" in other.stderr


def test_image_api(tmp_path: Path, registry_htpasswd: RunningRegistry, pushed: str) -> None:
    runtime = make_runtime(tmp_path / "api-home")
    asyncio.run(
        runtime.integrations.add(
            IntegrationInput(
                name="lab",
                type="docker-registry",
                url=registry_htpasswd.url,
                username="alice",
                secret=Secret(registry_htpasswd.accounts["alice"].password),
            ),
            test=False,
            actor=SYSTEM,
        )
    )
    _, token = runtime.tokens.create("t", actor=SYSTEM)
    with TestClient(create_app(runtime)) as client:
        headers = {"Authorization": f"Bearer {token.reveal()}"}
        assert client.get("/api/v1/images/inspect", params={"ref": "sbom/app:1.0"}).status_code == 401
        inspect = client.get(
            "/api/v1/images/inspect", params={"ref": "sbom/app:1.0", "registry": "lab"}, headers=headers
        )
        assert inspect.status_code == 200 and inspect.json()["image"]["digest"] == pushed
        spdx = client.get(
            "/api/v1/images/sbom",
            params={"ref": f"{registry_htpasswd.host}/sbom/app:1.0", "format": "spdx"},
            headers=headers,
        )
        assert spdx.status_code == 200 and spdx.headers["content-type"].startswith("application/spdx+json")
        assert spdx.json()["spdxVersion"] == "SPDX-2.3"
        bad = client.get("/api/v1/images/sbom", params={"ref": "Not A Ref"}, headers=headers)
        assert bad.status_code == 422 and "not an image reference" in bad.json()["detail"]
        missing = client.get(
            "/api/v1/images/inspect", params={"ref": "sbom/none:1", "registry": "lab"}, headers=headers
        )
        assert missing.status_code == 502 and "not found" in missing.json()["detail"]
    runtime.db.dispose()
