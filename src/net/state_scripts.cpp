#include "state_scripts.hpp"

namespace fulcrum::net::scripts {
namespace {

// Shared by the scripts that count what live holders have: Redis's clock in ms, and the sum
// of a hash's "h:{holder}" fields whose holder has not expired (the others are deleted).
constexpr std::string_view kPrelude = R"lua(
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_sum(key, holders, now)
  local fields = redis.call('HGETALL', key)
  local total = 0
  for i = 1, #fields, 2 do
    local field = fields[i]
    if string.sub(field, 1, 2) == 'h:' then
      local expiry = redis.call('ZSCORE', holders, string.sub(field, 3))
      if expiry and tonumber(expiry) >= now then
        total = total + tonumber(fields[i + 1])
      else
        redis.call('HDEL', key, field)
      end
    end
  end
  return total
end
local function heartbeat(holders, holder, ttl, now)
  redis.call('ZREMRANGEBYSCORE', holders, '-inf', now - 1)
  redis.call('ZADD', holders, now + ttl, holder)
end
)lua";

std::string with_prelude(std::string_view body) {
  std::string text(kPrelude);
  text += body;
  return text;
}

}  // namespace

const LuaScript& acquire_slot() {
  static const LuaScript script(with_prelude(R"lua(
local now = now_ms()
heartbeat(KEYS[2], ARGV[1], tonumber(ARGV[3]), now)
local taken = live_sum(KEYS[1], KEYS[2], now)
if taken < tonumber(ARGV[2]) then
  redis.call('HINCRBY', KEYS[1], 'h:' .. ARGV[1], 1)
  return {1, taken + 1}
end
return {0, taken}
)lua"));
  return script;
}

const LuaScript& release_slot() {
  static const LuaScript script(R"lua(
local left = redis.call('HINCRBY', KEYS[1], 'h:' .. ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], 'h:' .. ARGV[1]) end
return left
)lua");
  return script;
}

const LuaScript& renew() {
  static const LuaScript script(with_prelude(R"lua(
local now = now_ms()
heartbeat(KEYS[1], ARGV[1], tonumber(ARGV[2]), now)
local field = 'h:' .. ARGV[1]
local totals = {}
for i = 2, #KEYS do
  local has = ARGV[2 * i - 1]
  local expire_at = tonumber(ARGV[2 * i])
  if has == '0' then
    redis.call('HDEL', KEYS[i], field)
  else
    redis.call('HSET', KEYS[i], field, has)
    if expire_at > 0 then redis.call('EXPIREAT', KEYS[i], expire_at) end
  end
  totals[i - 1] = live_sum(KEYS[i], KEYS[1], now)
end
return totals
)lua"));
  return script;
}

const LuaScript& reserve_budget() {
  static const LuaScript script(with_prelude(R"lua(
local now = now_ms()
local n = #KEYS - 1
local holders = KEYS[#KEYS]
heartbeat(holders, ARGV[1], tonumber(ARGV[2]), now)
local estimate = tonumber(ARGV[3])
local reply = {1, 0}
for i = 1, n do
  local recorded = redis.call('HGET', KEYS[i], 'spent')
  local spent = tonumber(recorded or '0')
  if not recorded then
    -- A period Redis has no spend for (it restarted empty, or the period just began) starts
    -- from what the replica's book knows. Only then: a spend Redis has is never raised, as
    -- the book may already hold a settle still on its way here.
    redis.call('HSET', KEYS[i], 'spent', ARGV[3 + 3 * i])
    spent = tonumber(ARGV[3 + 3 * i])
  end
  local limit = tonumber(ARGV[1 + 3 * i])
  if limit >= 0 then
    local held = live_sum(KEYS[i], holders, now)
    if spent + held + estimate > limit then
      return {0, i, tostring(spent), tostring(held)}
    end
  end
  reply[i + 2] = tostring(spent)
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], 'h:' .. ARGV[1], ARGV[3])
  redis.call('EXPIREAT', KEYS[i], ARGV[2 + 3 * i])
end
return reply
)lua"));
  return script;
}

const LuaScript& settle_budget() {
  static const LuaScript script(R"lua(
local field = 'h:' .. ARGV[1]
local spent = {}
for i = 1, #KEYS do
  if ARGV[2] ~= '0' then
    local left = redis.call('HINCRBY', KEYS[i], field, ARGV[2])
    if left <= 0 then redis.call('HDEL', KEYS[i], field) end
  end
  if redis.call('HEXISTS', KEYS[i], 'spent') == 1 then
    spent[i] = tostring(redis.call('HINCRBY', KEYS[i], 'spent', ARGV[3]))
  else
    -- A period Redis has no spend for (it restarted empty, or the period just began) starts
    -- from what the replica's book knows, this spend included, as in reserve_budget: a settle
    -- (one owed from the outage, say) may reach a restarted Redis before any admission does.
    local known = ARGV[3 + 2 * i]
    if tonumber(known) < tonumber(ARGV[3]) then known = ARGV[3] end
    redis.call('HSET', KEYS[i], 'spent', known)
    spent[i] = known
  end
  redis.call('EXPIREAT', KEYS[i], ARGV[2 + 2 * i])
end
return spent
)lua");
  return script;
}

// Token buckets that refill continuously at their limit per minute, as in one process
// (auth/rate_limiter.cpp): a request takes one from "r" and its estimated tokens from "t".
constexpr std::string_view kRefill = R"lua(
local function refill(key, rpm, tpm, now)
  local state = redis.call('HMGET', key, 'r', 't', 'ts')
  local r, t, ts = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])
  if not ts then r, t, ts = rpm, tpm, now end
  local elapsed = math.max(0, now - ts)
  if rpm > 0 then r = math.min(rpm, r + elapsed * rpm / 60000) end
  if tpm > 0 then t = math.min(tpm, t + elapsed * tpm / 60000) end
  return r, t
end
local function store(key, r, t, now)
  redis.call('HSET', key, 'r', tostring(r), 't', tostring(t), 'ts', now)
  redis.call('PEXPIRE', key, 120000)
end
)lua";

const LuaScript& admit_rate() {
  static const LuaScript script(with_prelude(std::string(kRefill) + R"lua(
local now = now_ms()
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local r, t = refill(KEYS[1], rpm, tpm, now)
local need = math.min(tonumber(ARGV[3]), tpm)
local allowed, exhausted, wait = 1, 0, 0
if rpm > 0 and r < 1 then
  allowed, exhausted, wait = 0, 1, math.ceil((1 - r) * 60000 / rpm)
elseif tpm > 0 and t < need then
  allowed, exhausted, wait = 0, 2, math.ceil((need - t) * 60000 / tpm)
else
  if rpm > 0 then r = r - 1 end
  if tpm > 0 then t = t - need end
end
store(KEYS[1], r, t, now)
return {allowed, exhausted, wait, tostring(r), tostring(t)}
)lua"));
  return script;
}

const LuaScript& settle_rate() {
  static const LuaScript script(with_prelude(std::string(kRefill) + R"lua(
local now = now_ms()
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local r, t = refill(KEYS[1], rpm, tpm, now)
if tpm > 0 then t = math.min(tpm, t + tonumber(ARGV[3])) end
store(KEYS[1], r, t, now)
return 1
)lua"));
  return script;
}

}  // namespace fulcrum::net::scripts
