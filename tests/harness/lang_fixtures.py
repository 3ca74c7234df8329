"""Language-package fixtures: real files committed under tests/fixtures/lang/ (see its README.md)
and builders for what is generated at test time, cached under ~/.cache/regscout-tests/lang/.

Builders use real tools: Debian's Go toolchain (golang-go, with golang-github-google-uuid-dev's
sources vendored) and binutils' objcopy. A builder whose tool is missing fails loudly.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from regscout.analysis.model import CapturedFile

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lang"
CACHE = Path(os.environ.get("REGSCOUT_TEST_CACHE", Path.home() / ".cache" / "regscout-tests")) / "lang"
UUID_SOURCES = Path("/usr/share/gocode/src/github.com/google/uuid")  # golang-github-google-uuid-dev


def captured(data: bytes, path: str, mode: int = 0o644) -> CapturedFile:
    return CapturedFile(path=path, data=data, mode=mode, size=len(data))


def tree(root: str) -> list[CapturedFile]:
    """Every file under tests/fixtures/lang/<root>, with its image path relative to that root."""
    base = FIXTURES / root
    return [
        captured(path.read_bytes(), path.relative_to(base).as_posix())
        for path in sorted(base.rglob("*"))
        if path.is_file()
    ]


def fixture_bytes(relative: str) -> bytes:
    """A committed fixture; `.xz` ones are decompressed."""
    data = (FIXTURES / relative).read_bytes()
    return lzma.decompress(data) if relative.endswith(".xz") else data


def _cached(key: str, name: str) -> Path:
    directory = CACHE / hashlib.sha256(key.encode()).hexdigest()[:16]
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


def _publish(built: Path, target: Path) -> Path:
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(built, temporary)
    temporary.chmod(0o755)
    temporary.replace(target)
    return target


def _sources_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


GO_LDFLAGS = "-X main.version=1.4.0"


def go_hello_binary() -> bytes:
    """tests/fixtures/lang/go/hello-src built with the machine's `go`, in vendor mode (no network):
    github.com/google/uuid v1.3.0 vendored from Debian's sources, example.com/fixture/greet replaced
    by a directory and example.com/fixture/shout replaced by the module example.com/fork/shout."""
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("`go` not found: install Debian's golang-go")
    if not UUID_SOURCES.is_dir():
        raise RuntimeError(f"{UUID_SOURCES} missing: install golang-github-google-uuid-dev")
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout.strip()
    source = FIXTURES / "go" / "hello-src"
    target = _cached(f"{version}|{_sources_digest(source)}|{_sources_digest(UUID_SOURCES)}|{GO_LDFLAGS}", "hello")
    if not target.exists():
        with tempfile.TemporaryDirectory(prefix="regscout-go-") as scratch:
            _publish(_build_hello(go, source, Path(scratch)), target)
    return target.read_bytes()


def _build_hello(go: str, source: Path, scratch: Path) -> Path:
    work = scratch / "src"
    shutil.copytree(source, work)
    vendor = work / "hello" / "vendor"
    shutil.copytree(UUID_SOURCES, vendor / "github.com" / "google" / "uuid")
    shutil.copytree(work / "greet", vendor / "example.com" / "fixture" / "greet")
    shutil.copytree(work / "shout", vendor / "example.com" / "fixture" / "shout")
    env = {
        **os.environ,
        "GOFLAGS": "-mod=vendor",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOCACHE": str(scratch / "gocache"),
        "GOPATH": str(scratch / "gopath"),
    }
    output = scratch / "hello"
    subprocess.run(
        [go, "build", "-ldflags", GO_LDFLAGS, "-o", str(output), "."],
        cwd=work / "hello",
        env=env,
        check=True,
        capture_output=True,
    )
    return output


def elf_with_section(bfd_target: str, name: str, payload: bytes) -> bytes:
    """An ELF object (`elf64-little`, `elf64-big`, `elf32-little`, `elf32-big`) made by binutils'
    objcopy, holding `payload` as section `name`."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        raise RuntimeError("`objcopy` not found: install binutils")
    target = _cached(f"{bfd_target}|{name}|{hashlib.sha256(payload).hexdigest()}", "object.o")
    if not target.exists():
        with tempfile.TemporaryDirectory(prefix="regscout-elf-") as scratch:
            raw, out = Path(scratch) / "payload.bin", Path(scratch) / "object.o"
            raw.write_bytes(payload)
            command = [objcopy, "-I", "binary", "-O", bfd_target, "--rename-section", f".data={name}"]
            subprocess.run([*command, raw.name, out.name], cwd=scratch, check=True, capture_output=True)
            _publish(out, target)
    return target.read_bytes()


def zip_bytes(entries: Iterable[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def war_of(jars: dict[str, bytes], manifest: bytes = b"Manifest-Version: 1.0\r\n\r\n") -> bytes:
    """A web archive holding real jars under WEB-INF/lib/, stored as application servers expect."""
    entries = [("META-INF/MANIFEST.MF", manifest), ("WEB-INF/web.xml", b"<web-app/>\n")]
    entries += [(f"WEB-INF/lib/{name}", data) for name, data in jars.items()]
    return zip_bytes(entries, zipfile.ZIP_STORED)


def zeros_member_zip(member: str, size: int, outer: str = "bomb") -> bytes:
    """A zip whose one member inflates to `size` zero bytes (deflate, ~1000:1). Cached."""
    target = _cached(f"zeros|{member}|{size}", f"{outer}.zip")
    if not target.exists():
        chunk = bytes(1 << 20)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        with (
            zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive,
            archive.open(member, "w", force_zip64=True) as handle,
        ):
            for _ in range(size // len(chunk)):
                handle.write(chunk)
            handle.write(bytes(size % len(chunk)))
        temporary.replace(target)
    return target.read_bytes()


def nested_chain(depth: int, innermost: bytes) -> bytes:
    """`innermost` wrapped in `depth` jars, each holding the previous one as lib/nested.jar."""
    data = innermost
    for _ in range(depth):
        data = zip_bytes([("lib/nested.jar", data)], zipfile.ZIP_STORED)
    return data
