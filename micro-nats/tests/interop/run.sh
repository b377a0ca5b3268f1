#!/usr/bin/env bash
# Python interop tests: builds the two Rust example binaries, makes (once) a virtualenv with
# nats-py, pytest and pytest-asyncio, and runs test_interop.py against them.
#
#   micro-nats/tests/interop/run.sh            # from anywhere in the workspace
#   INTEROP_VENV=/some/dir micro-nats/tests/interop/run.sh
#
# Needs python3 (with venv) and nats-server on PATH.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

command -v nats-server >/dev/null || {
  echo "nats-server is not installed: apt-get install nats-server" >&2
  exit 1
}

cargo build -p micro-nats --example interop_server --example interop_client
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export INTEROP_SERVER="$target_dir/debug/examples/interop_server"
export INTEROP_CLIENT="$target_dir/debug/examples/interop_client"

venv="${INTEROP_VENV:-$target_dir/interop-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import nats.micro, pytest, pytest_asyncio' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "nats-py>=2.16,<3" "pytest>=8" "pytest-asyncio>=0.23"
fi

exec "$venv/bin/python" -m pytest -q -c "$here/pytest.ini" "$here/test_interop.py" "$@"
