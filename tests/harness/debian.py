"""A real Debian 12 root filesystem, built by Debian's own mmdebstrap and cached as a tar between runs.

`build_debian_rootfs(target)` builds one now, from the packages of the day. `debian_rootfs_tar()` returns the
path of a cached one: the first call runs
`mmdebstrap --variant=minbase --mode=<root|unshare> bookworm <tar>` (about 15 s and 170 MB here); later
calls reuse `~/.cache/regscout-tests/debian-<key>.tar`, where the key is a hash of the command line. The tar
is written under a temporary name and renamed into place, so an interrupted build never leaves a partial
cache entry, and a lock file keeps parallel test processes from building it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

__all__ = ["CACHE_DIR", "build_debian_rootfs", "debian_rootfs_tar", "mmdebstrap_command"]

CACHE_DIR = Path(os.environ.get("REGSCOUT_TEST_CACHE", Path.home() / ".cache" / "regscout-tests"))
SUITE = "bookworm"


def mmdebstrap_command(target: Path) -> list[str]:
    # root mode needs real root (chroot, mounts); unshare mode works for unprivileged users with subuids.
    mode = "root" if os.geteuid() == 0 else "unshare"
    return ["mmdebstrap", "--quiet", "--variant=minbase", f"--mode={mode}", SUITE, str(target)]


def debian_rootfs_tar() -> Path:
    key = hashlib.sha256(" ".join(mmdebstrap_command(Path("TARGET"))).encode()).hexdigest()[:16]
    target = CACHE_DIR / f"debian-{SUITE}-minbase-{key}.tar"
    if target.is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            build_debian_rootfs(target)
    return target


def build_debian_rootfs(target: Path) -> None:
    """Run mmdebstrap now; `target` appears only once the tar is complete."""
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}.tar")
    try:
        subprocess.run(mmdebstrap_command(partial), check=True, capture_output=True, timeout=1800)
        partial.replace(target)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"mmdebstrap failed: {exc.stderr.decode(errors='replace')[-2000:]}") from exc
    finally:
        partial.unlink(missing_ok=True)


# dpkg's abbreviated status: desired action, then the package state. These states have the files on disk
# and configured at least once (`dpkg-query(1)`: i installed, F half-configured, W/t triggers pending).
INSTALLED_STATES = frozenset("iFWt")


def dpkg_query_rows(rootfs_tar: Path, scratch: Path) -> list[tuple[str, str, str]]:
    """(package, version, abbreviated status) for every package of a root filesystem tar, from Debian's own
    dpkg-query run against the tar's var/lib/dpkg."""
    with tarfile.open(rootfs_tar) as tar:
        members = [m for m in tar if m.name.removeprefix("./").startswith("var/lib/dpkg/")]
        tar.extractall(scratch, members=members, filter="data")
    admindir = scratch / "var" / "lib" / "dpkg"
    out = subprocess.run(
        ["dpkg-query", f"--admindir={admindir}", "-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(" ", 2) for line in out.splitlines()]
    return [(name, version, status) for name, version, status in rows]


def dpkg_installed(rootfs_tar: Path, scratch: Path) -> set[tuple[str, str]]:
    return {
        (name, version)
        for name, version, status in dpkg_query_rows(rootfs_tar, scratch)
        if status[1:2] in INSTALLED_STATES
    }
