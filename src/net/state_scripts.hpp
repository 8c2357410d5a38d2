#pragma once
// The Lua scripts that keep shared state in Redis. Each runs atomically on the server, so a
// check and the change it allows cannot be split by another replica's call. Time is Redis's
// own (TIME), so replicas whose clocks disagree still agree on expiries and refills.
//
// Layout under state.redis.key_prefix P:
//   P holders                 sorted set: holder ("replica/worker") → expiry (ms); renewed by
//                             each worker every lease_ttl / 3
//   P capacity:{endpoint}     hash: "h:{holder}" → slots that holder has
//   P budget:{name}:{start}   hash: "spent" → nano-USD spent in the period starting at
//                             {start} (Unix seconds), "h:{holder}" → nano-USD held
//   P rate:{key id}           hash: "r", "t" → request and token bucket levels, "ts" → last
//                             refill (ms)
// What a holder has counts only while its expiry is in the future; a crashed replica's slots
// and holds stop counting lease_ttl after its last renewal, and are deleted when next seen.
#include "redis_client.hpp"

namespace fulcrum::net::scripts {

// KEYS: capacity, holders. ARGV: holder, limit, ttl_ms.
// → {1 granted | 0 full, slots taken across the fleet (this one included when granted)}
const LuaScript& acquire_slot();
// KEYS: capacity. ARGV: holder. → slots the holder has left
const LuaScript& release_slot();
// KEYS: holders, then any capacity and budget keys. ARGV: holder, ttl_ms, then for each key
// what the holder has there now (slots or nano-USD held; 0 deletes its field).
// → for each key, the fleet's live total
const LuaScript& renew();
// KEYS: n budget keys, then holders. ARGV: holder, ttl_ms, estimate, then per budget: hard
// limit (nano-USD, -1 for none), expiry (Unix seconds) and the spend the replica knows of
// (where Redis has none, it starts from that: a Redis restarted empty keeps the period).
// → {1, 0, spent...} when held in all; {0, refusing budget (1-based), its spent, its held}
const LuaScript& reserve_budget();
// KEYS: n budget keys. ARGV: holder, held to release, actual spend, then per budget its
// expiry (Unix seconds) and the spend the replica knows of, this one included (where Redis
// has none, it starts from that). → spent per budget
const LuaScript& settle_budget();
// KEYS: rate. ARGV: rpm, tpm, tokens (0 for no limit of that kind).
// → {1 allowed | 0, 1 requests or 2 tokens exhausted, wait ms, requests level, tokens level}
const LuaScript& admit_rate();
// KEYS: rate. ARGV: rpm, tpm, tokens to give back (negative: take more).
const LuaScript& settle_rate();

}  // namespace fulcrum::net::scripts
