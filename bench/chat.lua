-- wrk script: a small non-streamed chat completion, as an SDK would send it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"bench","max_tokens":16,"messages":[{"role":"system","content":"You are terse."},' ..
           '{"role":"user","content":"Say something about load balancing in one sentence."}]}'

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end

-- One parseable line for bench/run: requests/s and latency percentiles in microseconds.
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
