#!/usr/bin/env bash
# Installs what revroll's demo and tests need on a Debian machine with Node.js and npm:
# the npm dependencies (which bring Node 24 into node_modules/.bin), Prometheus and Chromium
# (for the report's browser tests) from Debian's packages. Says clearly what is missing when it cannot install it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "revroll: npm is missing. Install Node.js (22 or newer, with npm) first." >&2
  exit 1
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "revroll: installing npm dependencies (npm ci)..." >&2
  npm ci --no-fund --no-audit --loglevel=error
fi

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "revroll: installing Prometheus from Debian's package..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "revroll: Prometheus is missing. Install Debian's package as root: apt-get install --no-install-recommends prometheus" >&2
    exit 1
  fi
fi

# The report's browser tests (and scripts/screenshots.ts) drive Debian's Chromium headless.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "revroll: installing Chromium from Debian's package (for the report's browser tests)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "revroll: Chromium is missing at /usr/bin/chromium; the report's browser tests need it. Install Debian's package as root: apt-get install --no-install-recommends chromium" >&2
    if [ "${REVROLL_REQUIRE_KUBECTL:-}" = "1" ]; then exit 1; fi
  fi
fi

if ! command -v kubectl >/dev/null 2>&1; then
  echo "revroll: note: kubectl is not installed; the tests that prove kubectl compatibility need it (kubectl 1.32)." >&2
  if [ "${REVROLL_REQUIRE_KUBECTL:-}" = "1" ]; then exit 1; fi
fi
