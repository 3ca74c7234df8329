#!/usr/bin/env bash
# Installs regscout into .venv with exactly the versions in uv.lock (hashes checked), nothing newer.
#   bash scripts/install.sh                 the application
#   bash scripts/install.sh --extra test    with the test tools (scripts/test.sh does this)
# Any `uv sync` option can be passed (--extra postgres, --extra celery, --all-extras).
# uv itself comes from scripts/uv-requirements.txt (one release, pinned by hash) into .tools/; it uses this
# machine's Python ($PYTHON, default python3 >= 3.11) and never downloads one.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
UV_VERSION=$(sed -n 's/^uv==\([0-9.]*\).*/\1/p' scripts/uv-requirements.txt)
if ! .tools/bin/uv --version 2>/dev/null | grep -q "^uv $UV_VERSION "; then
  rm -rf .tools
  "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
    -r scripts/uv-requirements.txt
fi

# --locked: stop if uv.lock no longer matches pyproject.toml, rather than resolving anew.
# --compile-bytecode: as pip does; without .pyc files every start of `regscout` compiles its imports again
# (6 s instead of 1 s where PYTHONDONTWRITEBYTECODE is set).
UV_PYTHON_DOWNLOADS=never .tools/bin/uv sync --locked --compile-bytecode --python "$PYTHON" "$@"

# the console's front-end libraries, from src/regscout/web/package-lock.json
bash scripts/build-web.sh
