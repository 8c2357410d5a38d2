#!/usr/bin/env bash
# ctest entry (deploy.kubernetes, deploy.compose_replicas): installs the pinned Kubernetes
# schemas (package-lock.json) into tests/deploy/node_modules, which git ignores, then checks
# the deployment files with them and with Fulcrum's own `fulcrum check`.
#   check-manifests.sh FULCRUM_BIN kubernetes|compose
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fulcrum_bin=$(realpath "$1") mode=$2
# Installed again whenever the lock file changed since the last install; both ctest entries
# may start at once: one installs while the other waits on the lock.
(
  flock 9
  if ! cmp -s "$here/package-lock.json" "$here/node_modules/.installed-lock.json"; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
    cp "$here/package-lock.json" "$here/node_modules/.installed-lock.json"
  fi
) 9>"$here/.npm-install.lock"
exec node "$here/check-manifests.mjs" "$fulcrum_bin" "$mode"
