#!/usr/bin/env bash
# ctest entry: the observability stack's queries are valid and name only metrics Fulcrum
# exports, the alerts fire when they should, and a real Prometheus scrapes Fulcrum and
# answers a query for the cost counter.
#   observability.sh FULCRUM_BIN SIM_BIN
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export root here
exec "$here/with-stack.sh" "$1" "$2" bash -c '
  set -euo pipefail
  dashboard=$root/docker/grafana/dashboards/fulcrum.json
  alerts=$root/docker/prometheus/alerts.yml
  rules=$FULCRUM_TMP/dashboard-rules.yml

  # 1. Every PromQL expression of the dashboard and the alert rules is valid.
  node "$here/dashboard-rules.mjs" "$dashboard" > "$rules"
  promtool check rules "$rules" "$alerts"
  (cd "$(dirname "$alerts")" && promtool test rules alerts.test.yml)

  # 2. ...and names only metrics a real Fulcrum exports.
  chat() { curl -sf "$FULCRUM_BASE_URL/chat/completions" -H "content-type: application/json" -d "$1" >/dev/null; }
  chat "{\"model\":\"llama-8b\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
  chat "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
  chat "{\"model\":\"flaky\",\"max_tokens\":5,\"messages\":[]}"  # a fallback
  # Two at once on one-slot units: a spillover to serverless, and a move to another unit.
  for model in tiny-first tiny-first tiny-units tiny-units; do
    curl -sf "$FULCRUM_BASE_URL/chat/completions" -H "content-type: application/json" \
      -H "x-fulcrum-priority: realtime" -d "{\"model\":\"$model\",\"max_tokens\":200,\"messages\":[]}" >/dev/null &
  done
  wait
  scrape=$(curl -sf "$FULCRUM_ADMIN_URL/metrics")
  exported=$(sed -nE "s/^# TYPE ([a-z_:]+) (counter|gauge|histogram|summary|untyped)$/\1/p" <<<"$scrape" | sort -u)
  named=$(grep -ohE "\bfulcrum_[a-z_]+" "$rules" "$alerts" | sed -E "s/_(bucket|sum|count)$//" | sort -u)
  missing=$(comm -23 <(echo "$named") <(echo "$exported"))
  if [ -n "$missing" ]; then echo "queries name metrics Fulcrum does not export: $missing"; exit 1; fi
  echo "queries name $(wc -l <<<"$named") metrics, all exported"

  # 3. A real Prometheus scrapes Fulcrum; its HTTP API returns the cost counter.
  port=$(node -e "const s=require(\"net\").createServer().listen(0,\"127.0.0.1\",()=>{console.log(s.address().port);s.close()})")
  admin=${FULCRUM_ADMIN_URL#http://}
  "$root/scripts/run-prometheus" "$admin" "127.0.0.1:$port" "$FULCRUM_TMP/prometheus" 1s \
    > "$FULCRUM_TMP/prometheus.log" 2>&1 &
  prometheus_pid=$!
  trap "kill $prometheus_pid 2>/dev/null || true" EXIT
  query="sum(fulcrum_cost_usd_total)"
  for _ in $(seq 150); do
    chat "{\"model\":\"gpt-4o-mini\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
    answer=$(curl -s "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$query" || true)
    if grep -qE "\"value\":\\[[0-9.]+,\"[0-9.e-]+\"\\]" <<<"$answer" && ! grep -q "\"0\"\\]" <<<"$answer"; then
      echo "prometheus: $query = $answer"
      # The alert rules loaded into that server, and evaluated without errors.
      rules_state=$(curl -s "http://127.0.0.1:$port/api/v1/rules")
      for alert in FulcrumHighErrorRate FulcrumProvisionedSaturated FulcrumBudgetOver80Percent; do
        grep -q "\"name\":\"$alert\"" <<<"$rules_state" || { echo "alert $alert not loaded"; exit 1; }
      done
      if grep -q "\"health\":\"err\"" <<<"$rules_state"; then echo "a rule failed: $rules_state"; exit 1; fi
      exit 0
    fi
    sleep 0.2
  done
  echo "prometheus never returned a cost: $answer"; cat "$FULCRUM_TMP/prometheus.log"; exit 1
'
