#!/usr/bin/env bash
# ctest entry (docs.check): the documentation says what the code does.
#   check-docs.sh FULCRUM_BIN SIM_BIN BUILD_DIR
# 1. Every ```yaml block of README.md and docs/*.md is a whole config that `fulcrum check`
#    accepts. 2. Every metric the pages name exists in a real scrape of a gateway that served a
#    fallback, a spill and a budget action. 3. The module graph in docs/architecture.md is the
#    one the build wrote. 4. The README stays under 10 KB; no page points outside the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fulcrum=$(realpath "$1") sim=$(realpath "$2") build=$(realpath "$3")
pages=("$root/README.md" "$root"/docs/*.md)
scratch=$(mktemp -d /tmp/fulcrum-docs-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failed=0

# 1. YAML blocks, with the variables they name set to placeholders.
export OPENAI_API_KEY=sk-docs TOGETHER_API_KEY=tk-docs GPU_A_KEY=gk-docs ANTHROPIC_API_KEY=ak-docs \
  AZURE_OPENAI_API_KEY=az-docs GEMINI_API_KEY=g-docs AWS_ACCESS_KEY_ID=AKIDDOCS \
  AWS_SECRET_ACCESS_KEY=docs-secret FULCRUM_REDIS_URL=redis://redis:6379 \
  FULCRUM_LEDGER_URL=postgresql://fulcrum@db:5432/fulcrum \
  FULCRUM_ADMIN_TOKEN=docs-admin-token-0123456789
blocks=0
for page in "${pages[@]}"; do
  awk -v dir="$scratch" -v page="$(basename "$page")" '
    /^```yaml[[:space:]]*$/ { n++; file = sprintf("%s/%s.%d.yaml", dir, page, n); inside = 1; next }
    /^```/ && inside { inside = 0; close(file); next }
    inside { print > file }' "$page"
done
for block in "$scratch"/*.yaml; do
  [ -e "$block" ] || continue
  blocks=$((blocks + 1))
  if ! out=$("$fulcrum" check "$block" 2>&1) || ! grep -q ": ok" <<<"$out"; then
    echo "docs: $(basename "$block") does not pass fulcrum check:"; echo "$out"; failed=1
  fi
done
echo "docs: $blocks YAML blocks checked"
[ "$blocks" -gt 0 ] || { echo "docs: no YAML block found"; failed=1; }

# 2. Metric names, against a scrape after traffic that makes the conditional series appear.
named=$(grep -ohE '\bfulcrum_[a-z_]+' "${pages[@]}" | sed -E 's/_(bucket|sum|count)$//' | sort -u)
scrape=$("$root/tests/e2e/with-stack.sh" "$fulcrum" "$sim" bash -c '
  set -euo pipefail
  chat() { curl -sf "$FULCRUM_BASE_URL/chat/completions" -H "content-type: application/json" -d "$1" >/dev/null; }
  chat "{\"model\":\"llama-8b\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
  chat "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
  chat "{\"model\":\"flaky\",\"max_tokens\":5,\"messages\":[]}"
  # Two at once on one-slot units: a spillover to serverless, and a move to another unit.
  for model in tiny-first tiny-first tiny-units tiny-units; do
    curl -sf "$FULCRUM_BASE_URL/chat/completions" -H "content-type: application/json" \
      -H "x-fulcrum-priority: realtime" -d "{\"model\":\"$model\",\"max_tokens\":200,\"messages\":[]}" >/dev/null &
  done
  wait
  curl -sf "$FULCRUM_ADMIN_URL/metrics"')
exported=$(sed -nE 's/^# TYPE ([a-z_:]+) (counter|gauge|histogram|summary|untyped)$/\1/p' <<<"$scrape" | sort -u)
missing=$(comm -23 <(echo "$named") <(echo "$exported"))
if [ -n "$missing" ]; then
  echo "docs: metrics named in the docs but not exported:"; echo "$missing"; failed=1
fi
echo "docs: $(wc -l <<<"$named") metric names checked against a scrape"

# 3. The module graph.
documented=$(sed -n '/<!-- module-graph/,/<!-- \/module-graph -->/p' "$root/docs/architecture.md" |
  grep -E '^[a-z]+:' | sed -E 's/[[:space:]]+$//')
built=$(sed -E 's/[[:space:]]+$//' "$build/module_graph.txt")
if [ "$documented" != "$built" ]; then
  echo "docs: the module graph in docs/architecture.md is not the build's:"
  diff <(echo "$documented") <(echo "$built") || true
  failed=1
fi

# 4. Size and self-containment.
size=$(wc -c <"$root/README.md")
[ "$size" -lt 10240 ] || { echo "docs: README.md is $size bytes (limit 10 KB)"; failed=1; }
# The machine's workspace path, spelled so that this line does not contain it.
if grep -nE '\.\./shared|/wor[k]/' "${pages[@]}" "$root/CHANGELOG.md"; then
  echo "docs: pages point outside the repository"; failed=1
fi
[ "$failed" = 0 ] && echo "docs: ok"
exit "$failed"
