#!/usr/bin/env bash
# Fails when a source reaches into another directory with a relative include ("../x.hpp"):
# public headers are included by their module path, private ones only from their own module.
set -euo pipefail
cd "$1"
if hits=$(grep -rnE '#include "\.\./' src include); then
  echo "relative includes across directories:"; echo "$hits"; exit 1
fi
echo "no relative includes in src/ or include/"
