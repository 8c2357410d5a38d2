-- wrk script: a ~1 KB non-streamed chat completion (system prompt and three turns, sampling
-- parameters, user, metadata), the shape of request the pinned benchmark of record sends.
-- BENCH_VARIANTS (default 1000) requests with distinct ids are built once and cycled.
local reqs = {}
local n = 0
local idx = 0

local template = '{"model":"gpt-4o-mini","messages":['
  .. '{"role":"system","content":"You are a concise support assistant for an online electronics shop. '
  .. 'Answer in at most three sentences, quote the order id when relevant and never invent tracking numbers or refund amounts."},'
  .. '{"role":"user","content":"Hi, order %s arrived with a cracked screen protector and the charging cable is missing. '
  .. 'I would like replacements for both items rather than a refund. Do I have to send the damaged part back first, '
  .. 'and how long does shipping to Lisbon usually take?"},'
  .. '{"role":"assistant","content":"Sorry about that! I can arrange replacements right away. '
  .. 'Could you confirm the e-mail address on the order so I can verify it?"},'
  .. '{"role":"user","content":"Sure, it is customer.%s@example.com. Please make sure the new cable is USB-C to USB-C, 2 m long."}],'
  .. '"temperature":0.2,"top_p":1,"max_tokens":256,"n":1,"stream":false,"presence_penalty":0,"frequency_penalty":0,'
  .. '"user":"bench-user-%s","metadata":{"request_id":"req-%s","tenant":"bench"}}'

function init(args)
  local headers = {["Content-Type"] = "application/json",
                   ["Authorization"] = "Bearer sk-bench-000000000000000000000000"}
  n = tonumber(os.getenv("BENCH_VARIANTS") or "1000")
  for i = 1, n do
    local id = string.format("%06d", i)
    reqs[i] = wrk.format("POST", wrk.path, headers, string.format(template, id, id, id, id))
  end
end

function request()
  idx = idx % n + 1
  return reqs[idx]
end

-- One parseable line, as bench/chat.lua prints it, with the count of completed requests.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout, summary.requests))
end
