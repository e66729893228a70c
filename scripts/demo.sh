#!/usr/bin/env bash
# The demo: installs what it needs, builds revroll, then runs `revroll demo` (a sandbox
# cluster running Istio, a real Prometheus scraping it, and a full canary upgrade).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec npm run demo --silent -- "$@"
