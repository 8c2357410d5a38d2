#!/usr/bin/env bash
# ctest entry: installs the pinned client SDKs (package-lock.json) into tests/e2e/node_modules,
# which git ignores, then runs one test file against a fresh stack.
#   run-sdk-tests.sh FULCRUM_BIN SIM_BIN TEST_FILE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fulcrum_bin=$(realpath "$1") sim_bin=$(realpath "$2") test_file=$3
# Installed again whenever the lock file changed since the last install. Several ctest entries
# may start at once: one installs while the others wait on the lock.
(
  flock 9
  if ! cmp -s "$here/package-lock.json" "$here/node_modules/.installed-lock.json"; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
    cp "$here/package-lock.json" "$here/node_modules/.installed-lock.json"
  fi
) 9>"$here/.npm-install.lock"
cd "$here"
exec "$here/with-stack.sh" "$fulcrum_bin" "$sim_bin" node --test "$test_file"
