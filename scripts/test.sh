#!/usr/bin/env bash
# The whole test suite: installs what it needs, then type-checks, lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
REVROLL_REQUIRE_KUBECTL=1 bash scripts/ensure-deps.sh
exec npm test --silent
