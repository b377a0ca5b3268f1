#!/usr/bin/env bash
# The test command of README.md: installs what a fresh machine lacks, then runs every test.
#
# - nats-server (Debian package) for the integration tests, each of which starts its own server
#   on a free loopback port;
# - a Python virtualenv with nats-py under target/ for the interop tests;
# - the npm packages of the JavaScript interop, generated-client and dashboard click tests
#   (`npm ci`, node_modules next to them).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
# Debian's Chromium drives the dashboard's end-to-end test (no browser download at test time).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing: ${need_apt[*]}; install with: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
fi

# Python interop tests (micro-nats/tests/interop) run from a venv kept inside the clone.
if [ -f micro-nats/tests/interop/requirements.txt ]; then
  venv=target/interop-venv
  if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
      # Debian's python3 ships venv separately.
      rm -rf "$venv"
      if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq python3-venv
      fi
      python3 -m venv "$venv"
    fi
  fi
  "$venv/bin/pip" install -q -r micro-nats/tests/interop/requirements.txt
  export MICRO_INTEROP_PYTHON="$PWD/$venv/bin/python"
fi

# JavaScript interop tests (micro-nats/tests/interop-js, @nats-io/services from npm): the
# locked packages installed next to the scripts that import them.
if [ -f micro-nats/tests/interop-js/package-lock.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "missing: node and npm (Node 20 or later) for the JavaScript interop tests" >&2
    exit 1
  fi
  (cd micro-nats/tests/interop-js && npm ci --silent --no-audit --no-fund)
  export MICRO_INTEROP_NODE_DIR="$PWD/micro-nats/tests/interop-js"
fi

# Generated-client tests (micro-cli/tests/gen.rs): the TypeScript compiler and the NATS
# transport the packages `micro gen ts` writes are compiled and run with, locked like the above.
if [ -f micro-cli/tests/gen-js/package-lock.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "missing: node and npm (Node 20 or later) for the generated-client tests" >&2
    exit 1
  fi
  (cd micro-cli/tests/gen-js && npm ci --silent --no-audit --no-fund)
  export MICRO_GEN_NODE_DIR="$PWD/micro-cli/tests/gen-js"
fi

# Dashboard click tests (micro-cli/tests/dashboard.rs): playwright-core drives Debian's Chromium
# (installed above; playwright downloads no browser), locked like the above.
if [ -f micro-cli/tests/dashboard-js/package-lock.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "missing: node and npm (Node 20 or later) for the dashboard click tests" >&2
    exit 1
  fi
  (cd micro-cli/tests/dashboard-js && npm ci --silent --no-audit --no-fund)
  export MICRO_DASHBOARD_NODE_DIR="$PWD/micro-cli/tests/dashboard-js"
fi

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
