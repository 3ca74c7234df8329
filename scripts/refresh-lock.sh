#!/usr/bin/env bash
# Moves uv.lock to the newest releases pyproject.toml allows and keeps the new lock only when the whole test
# suite (scripts/test.sh: ruff, mypy, pytest) passes on them; otherwise uv.lock and .venv are put back.
#   bash scripts/refresh-lock.sh                          everything
#   bash scripts/refresh-lock.sh --upgrade-package httpx  one package (any `uv lock` options)
# It commits nothing: review `git diff uv.lock`, then commit it with the change that needed it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh --extra test --quiet   # puts the pinned uv in .tools/
cp uv.lock uv.lock.previous
restore() {
  mv uv.lock.previous uv.lock
  bash scripts/install.sh --extra test --quiet
}
trap 'restore; echo "interrupted: uv.lock left as it was" >&2; exit 130' INT TERM

options=("$@")
[ ${#options[@]} -gt 0 ] || options=(--upgrade)
.tools/bin/uv lock "${options[@]}"
if cmp -s uv.lock uv.lock.previous; then
  rm uv.lock.previous
  echo "uv.lock already has the newest allowed releases"
  exit 0
fi

if bash scripts/test.sh -q; then
  rm uv.lock.previous
  echo "uv.lock refreshed and the suite passed on it: review git diff uv.lock and commit it"
else
  restore
  echo "the suite failed on the refreshed releases (above); uv.lock left as it was" >&2
  exit 1
fi
