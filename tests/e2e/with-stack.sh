#!/usr/bin/env bash
# Starts fulcrum-sim and fulcrum on free ports, exports where they listen, runs a command
# against them, and stops both. Used by the end-to-end tests (ctest passes the binaries).
#   with-stack.sh FULCRUM_BIN SIM_BIN COMMAND [ARGS...]
# Exports FULCRUM_BASE_URL (…/v1), FULCRUM_ADMIN_URL, FULCRUM_LOG (the gateway's output),
# FULCRUM_TMP (a scratch directory removed at the end), FULCRUM_SIM_STATS (fulcrum-sim's
# /sim/stats) and E2E_BROKE_KEY (a client key whose budget is spent).
set -euo pipefail
fulcrum_bin=$(realpath "$1") sim_bin=$(realpath "$2")
shift 2
export E2E_BROKE_KEY=sk-e2e-broke-client
dir=$(mktemp -d /tmp/fulcrum-e2e-XXXXXX)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || { echo "with-stack: process $pid exited with $?" >&2; status=1; }; done
  # A sanitizer report from either process fails the test even if every request succeeded.
  if grep -hE 'Sanitizer|runtime error:' "$dir"/*.log >&2; then status=1; fi
  rm -rf "$dir"
  exit $status
}
trap cleanup EXIT

# Waits until FILE has COUNT lines matching REGEX (the process announces its ports).
wait_for() {
  local file=$1 regex=$2 count=$3
  for _ in $(seq 200); do
    [ "$(grep -cE "$regex" "$file" 2>/dev/null || true)" -ge "$count" ] && return 0
    sleep 0.05
  done
  echo "with-stack: timed out waiting for '$regex' in $file:" >&2
  cat "$file" >&2
  return 1
}

# Replicas share state in Redis: the stack runs one replica against a real redis-server, so
# every end-to-end test goes through the shared path (leases, holds, buckets).
state=""
if command -v redis-server >/dev/null; then
  redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    >"$dir/redis.log" 2>&1 &
  pids+=($!)
  wait_for "$dir/redis.log" 'Ready to accept connections' 1
  state="state: {redis: {url: redis://127.0.0.1:$redis_port, timeout: 50ms}}"
fi

cat > "$dir/sim.yaml" <<YAML
endpoints:
  gpu:   {listen: 127.0.0.1:0, ttft: 5ms, tokens_per_second: 500, engine_metrics: vllm}
  cloud: {listen: 127.0.0.1:0, cached_tokens: 1}
  limited: {listen: 127.0.0.1:0, fail_first: 1, fail_first_status: 429, retry_after: 1}
  no-credit: {listen: 127.0.0.1:0, rate_429: 1.0, code_429: insufficient_quota}
  claude: {listen: 127.0.0.1:0, wire: anthropic, api_key: sk-e2e-anthropic-endpoint, completion_tokens: 6, cached_tokens: 1, cache_write_tokens: 1}
  claude-limited: {listen: 127.0.0.1:0, wire: anthropic, rate_429: 1.0, retry_after: 1}
  bedrock: {listen: 127.0.0.1:0, wire: bedrock, aws_access_key_id: AKIDE2E, aws_secret_access_key: e2e-aws-secret, completion_tokens: 6}
  azure-ptu: {listen: 127.0.0.1:0, wire: azure, utilization: "40%"}
YAML
"$sim_bin" --config "$dir/sim.yaml" >"$dir/sim.log" 2>&1 &
pids+=($!)
wait_for "$dir/sim.log" '^listening ' 6
port_of() { sed -nE "s/^listening $1 [^ ]+:([0-9]+)$/\1/p" "$dir/sim.log"; }

cat > "$dir/fulcrum.yaml" <<YAML
version: 1
server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0, threads: 2}
ledger: {path: $dir/ledger.db}
$state
endpoints:
  gpu:
    kind: provisioned
    base_url: http://127.0.0.1:$(port_of gpu)/v1
    hourly_usd: 2.5
    capacity: {max_concurrency: 8, output_tokens_per_second: 2000}
    load: {metrics_url: http://127.0.0.1:$(port_of gpu)/metrics, format: vllm}  # the engine's own count
  tiny:  # one slot on the same server: a second realtime request spills
    kind: provisioned
    base_url: http://127.0.0.1:$(port_of gpu)/v1
    hourly_usd: 1
    capacity: {max_concurrency: 1}
  tiny-2:  # another one-slot unit, predicted slower than tiny until it has served
    kind: provisioned
    base_url: http://127.0.0.1:$(port_of gpu)/v1
    hourly_usd: 1
    capacity: {max_concurrency: 1}
    latency: {ttft: 1s}
  down:  # the cheapest, but refuses connections: its alias falls back
    kind: serverless
    base_url: http://127.0.0.1:1/v1
    pricing: {m: {input: 0.01, output: 0.01}}
  cloud:
    kind: serverless
    base_url: http://127.0.0.1:$(port_of cloud)/v1
    pricing:
      gpt-4o-mini: {input: 0.15, cached_input: 0.075, output: 0.60}
      text-embedding-3-small: {input: 0.02, output: 0}
  limited:  # its first request is refused with 429 and Retry-After: 1
    kind: serverless
    base_url: http://127.0.0.1:$(port_of limited)/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
  no-credit:  # every request is refused with 429 insufficient_quota: the account is out of credit
    kind: serverless
    base_url: http://127.0.0.1:$(port_of no-credit)/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
  claude:  # Anthropic's Messages API: translated for OpenAI clients, as it is for /v1/messages
    kind: serverless
    provider: anthropic
    base_url: http://127.0.0.1:$(port_of claude)
    api_key_env: E2E_ANTHROPIC_ENDPOINT_KEY
    pricing: {claude-sonnet-4-5: {input: 3, cached_input: 0.30, cache_write_input: 3.75, output: 15}}
  claude-limited:  # every request is refused with Anthropic's 429 and retry-after: 1
    kind: serverless
    provider: anthropic
    base_url: http://127.0.0.1:$(port_of claude-limited)
    pricing: {claude-sonnet-4-5: {input: 3, output: 15}}
  bedrock:  # AWS Bedrock's Converse API: signed with SigV4, streamed in binary eventstream frames
    kind: serverless
    provider: bedrock
    base_url: http://127.0.0.1:$(port_of bedrock)
    apis: [chat, messages]  # Claude: /v1/messages too, through InvokeModel
    region: us-east-1
    aws_access_key_id_env: E2E_AWS_KEY_ID
    aws_secret_access_key_env: E2E_AWS_SECRET
    aws_session_token_env: E2E_AWS_NO_SESSION_TOKEN
    pricing: {"anthropic.claude-sonnet-4-5-v1:0": {input: 3, output: 15}}
  azure-ptu:  # an Azure PTU deployment: reports its own utilization (no alias routes to it here)
    kind: provisioned
    provider: azure
    api_version: "2024-10-21"
    base_url: http://127.0.0.1:$(port_of azure-ptu)
    hourly_usd: 10
    capacity: {max_concurrency: 10}
models:
  llama-8b: {targets: [gpu/meta-llama/Llama-3.1-8B-Instruct, cloud/gpt-4o-mini]}
  gpt-4o-mini: {targets: [cloud/gpt-4o-mini]}
  text-embedding-3-small: {targets: [cloud/text-embedding-3-small]}
  tiny-first: {targets: [tiny/m, cloud/gpt-4o-mini]}
  tiny-units: {targets: [tiny/m, tiny-2/m]}  # two at once: one moves to the second unit
  flaky: {targets: [down/m, cloud/gpt-4o-mini]}
  limited: {targets: [limited/gpt-4o-mini]}
  no-credit: {targets: [no-credit/gpt-4o-mini]}
  claude-sonnet: {targets: [claude/claude-sonnet-4-5]}
  claude-limited: {targets: [claude-limited/claude-sonnet-4-5]}
  bedrock-claude: {targets: ["bedrock/anthropic.claude-sonnet-4-5-v1:0"]}
keys:  # auth stays open (any other key is anonymous); this one has no budget left
  - {id: broke, sha256: $(printf %s "$E2E_BROKE_KEY" | sha256sum | cut -d' ' -f1)}
budgets:  # the soft limit is passed by the first request: budget actions get counted
  - {name: everything, period: daily, soft_usd: 0.000001, hard_usd: 1000}
  - {name: broke, scope: {key: broke}, period: daily, hard_usd: 0}
YAML
export E2E_ANTHROPIC_ENDPOINT_KEY=sk-e2e-anthropic-endpoint  # what the sim's claude demands
export E2E_AWS_KEY_ID=AKIDE2E E2E_AWS_SECRET=e2e-aws-secret  # what the sim's bedrock verifies
"$fulcrum_bin" --config "$dir/fulcrum.yaml" >"$dir/fulcrum.log" 2>&1 &
pids+=($!)
wait_for "$dir/fulcrum.log" 'listening data=' 1
ports=$(grep -m1 'listening data=' "$dir/fulcrum.log")
data_port=$(sed -nE 's/.*data=[^ ]+:([0-9]+) .*/\1/p' <<<"$ports")
admin_port=$(sed -nE 's/.*admin=[^ ]+:([0-9]+) .*/\1/p' <<<"$ports")
export FULCRUM_BASE_URL="http://127.0.0.1:$data_port/v1"
export FULCRUM_ADMIN_URL="http://127.0.0.1:$admin_port"
export FULCRUM_LOG="$dir/fulcrum.log"
export FULCRUM_TMP="$dir"
export FULCRUM_SIM_STATS="http://127.0.0.1:$(port_of gpu)/sim/stats"
"$@"
