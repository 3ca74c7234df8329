#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine and runs every check:
# ruff, mypy and pytest (unit, integration against real registries, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(docker-registry skopeo apache2-utils zstd mmdebstrap rpm db5.3-util golang-go golang-github-google-uuid-dev binutils chromium fonts-dejavu-core)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# validators the tests run on regscout's output (SARIF Multitool), from the npm registry via the lock file;
# installed again whenever the lock file differs from the one last installed
if ! cmp -s tests/tools/package-lock.json tests/tools/node_modules/.installed-lock.json; then
  npm ci --prefix tests/tools --no-audit --no-fund --loglevel=error
  cp tests/tools/package-lock.json tests/tools/node_modules/.installed-lock.json
fi

# the application and the test tools, exactly as uv.lock has them
bash scripts/install.sh --extra test --quiet

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy src
.venv/bin/python -m pytest "$@"
