#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine (as root) and runs the offline demo end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
node --import tsx scripts/demo.ts
