#!/usr/bin/env bash
# Builds the console's front-end files: the libraries in src/regscout/web/package-lock.json (hashes checked by
# npm ci) are installed and their browser builds copied into src/regscout/web/static/vendor/ (git-ignored).
# Runs again only when the lock file changed. Needs node and npm (Debian: apt-get install npm).
set -euo pipefail
cd "$(dirname "$0")/../src/regscout/web"

STAMP=static/vendor/.built-from-lock.json
if cmp -s package-lock.json "$STAMP"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
rm -rf static/vendor
mkdir -p static/vendor
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
cp node_modules/uplot/dist/uPlot.iife.min.js static/vendor/uPlot.iife.min.js
cp node_modules/uplot/dist/uPlot.min.css static/vendor/uPlot.min.css
cp node_modules/htmx.org/LICENSE static/vendor/htmx.LICENSE
cp node_modules/uplot/LICENSE static/vendor/uPlot.LICENSE
cp package-lock.json "$STAMP"
