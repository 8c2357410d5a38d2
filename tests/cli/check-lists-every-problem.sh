#!/usr/bin/env bash
# `fulcrum --check` on a broken file exits 2 and lists every problem with file:line:col.
set -uo pipefail
fulcrum=$1 file=$2
output=$("$fulcrum" --check "$file" 2>&1)
status=$?
echo "$output"
[ "$status" -eq 2 ] || { echo "expected exit status 2, got $status"; exit 1; }
expected=(
  "invalid.yaml:3:3: unknown key 'lisen' in server"
  "invalid.yaml:6:5: provisioned endpoint 'gpu' needs hourly_usd"
  "invalid.yaml:8:25: connect must be a duration such as 250ms, 2s, 5m or 1h"
  "invalid.yaml:11:26: target 'nowhere/x' names unknown endpoint 'nowhere'"
  "4 problems in the configuration"
)
for line in "${expected[@]}"; do
  grep -qF -- "$line" <<<"$output" || { echo "missing: $line"; exit 1; }
done
