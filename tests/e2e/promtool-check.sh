#!/usr/bin/env bash
# ctest entry: a real /metrics scrape after real traffic passes `promtool check metrics`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/with-stack.sh" "$1" "$2" bash -c '
  set -euo pipefail
  chat() { curl -sf "$FULCRUM_BASE_URL/chat/completions" -H "content-type: application/json" -d "$1" >/dev/null; }
  chat "{\"model\":\"llama-8b\",\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
  chat "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
  curl -s "$FULCRUM_BASE_URL/chat/completions" -d "{\"model\":\"nope\"}" >/dev/null
  scrape=$(curl -sf "$FULCRUM_ADMIN_URL/metrics")
  for name in fulcrum_requests_total fulcrum_tokens_total fulcrum_cost_usd_total \
              fulcrum_request_duration_seconds_bucket fulcrum_time_to_first_token_seconds_bucket \
              fulcrum_endpoint_in_flight fulcrum_build_info; do
    grep -q "^# TYPE ${name%_bucket} " <<<"$scrape" || { echo "missing metric $name"; exit 1; }
  done
  grep -qE "^fulcrum_tokens_total\{.*type=\"output\".*\} [1-9]" <<<"$scrape" || { echo "no output tokens counted"; exit 1; }
  promtool check metrics <<<"$scrape"
  echo "promtool: /metrics is valid"
'
