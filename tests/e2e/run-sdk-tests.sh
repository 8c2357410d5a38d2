#!/usr/bin/env bash
# ctest entry: installs the pinned openai SDK (package-lock.json) into tests/e2e/node_modules,
# which git ignores, then runs the SDK tests against a fresh stack.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fulcrum_bin=$(realpath "$1") sim_bin=$(realpath "$2")
if [ ! -d "$here/node_modules/openai" ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi
cd "$here"
exec "$here/with-stack.sh" "$fulcrum_bin" "$sim_bin" node --test openai_sdk.test.mjs
