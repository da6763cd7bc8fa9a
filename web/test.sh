#!/usr/bin/env bash
# The browser tests: builds the page (web/build.sh) and the native binary they compare with, installs
# playwright-core from web/package-lock.json, and runs web/tests/ in headless Chromium (Debian's
# `chromium` package; CHROMIUM overrides its path). Screenshots land in web/test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "web/test.sh: no Chromium at ${CHROMIUM:-/usr/bin/chromium}: apt-get install -y chromium" >&2
    exit 1
fi
web/build.sh
cargo build --release --bin gan-wgpu
cd web
npm ci --no-audit --no-fund
npm test
