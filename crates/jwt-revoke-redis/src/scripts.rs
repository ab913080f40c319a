//! The Lua scripts that make writes atomic and announce them.
//!
//! Each runs on the server in one step, so no other client can interleave between its read
//! and its write; in a cluster each touches one key, so it runs on that key's node.
//! redis-rs sends them with `EVALSHA` and loads them on `NOSCRIPT` (after a restart or on a
//! node that has not seen them), so the script text crosses the network only once per node.
//!
//! Each also publishes what it left behind on the store's change channel (its last argument;
//! empty: publish nothing), in the same atomic step as the write, so that a subscriber sees
//! the writes in the order Redis made them. Local replicas
//! ([`ReplicaConfig`](crate::ReplicaConfig)) are kept current by these messages:
//!
//! | message | meaning |
//! |---|---|
//! | `t <pttl> <key>` | token record `<key>` is present and lives `<pttl>` ms more (-1: no expiry) |
//! | `c <pttl> <cut-off> <key>` | cut-off record `<key>` holds `<cut-off>` and lives `<pttl>` ms more |
//! | `d <key>` | token record `<key>` was deleted |
//!
//! The key comes last because a prefix may contain spaces.

use std::sync::LazyLock;

use redis::Script;

/// Writes a token record that lives at least `ARGV[1]` milliseconds from now.
///
/// A record that exists already keeps the later of its expiry and the new one; a record
/// found without a TTL (written by hand) gets one: no key of this store lives forever.
pub(crate) static INSERT_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS[1]: a token record. ARGV[1]: how long it must live from now, in ms (> 0).
-- ARGV[2]: the change channel ('': do not announce).
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
if ARGV[2] ~= '' then
  redis.call('PUBLISH', ARGV[2], 't ' .. redis.call('PTTL', KEYS[1]) .. ' ' .. KEYS[1])
end
return 1
",
    )
});

/// Deletes a token record (an allowlist registration) and returns how many keys went.
pub(crate) static REMOVE_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS[1]: a token record. ARGV[1]: the change channel ('': do not announce).
local removed = redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then
  redis.call('PUBLISH', ARGV[1], 'd ' .. KEYS[1])
end
return removed
",
    )
});

/// Raises a cut-off to `ARGV[1]` unless it holds a later one, keeps it alive at least
/// `ARGV[2]` milliseconds from now (0: write nothing), and returns the cut-off in force.
///
/// Instants are compared as decimal integers, not as Lua numbers (doubles), so the order is
/// exact for every `i64`.
pub(crate) static RAISE_CUTOFF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS[1]: a cut-off record. ARGV[1]: the new cut-off, decimal microseconds since the epoch.
-- ARGV[2]: how long the record must live from now, in ms (0: nothing to write).
-- ARGV[3]: the change channel ('': do not announce).
local function later(a, b)
  if a == b then return false end
  local a_negative, b_negative = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if a_negative ~= b_negative then return b_negative end
  local larger
  if #a ~= #b then larger = #a > #b else larger = a > b end
  if a_negative then return not larger end
  return larger
end
-- Announces the record as it now stands, if it stands at all.
local function announce(value)
  if ARGV[3] == '' then return end
  local left = redis.call('PTTL', KEYS[1])
  if left ~= -2 then
    redis.call('PUBLISH', ARGV[3], 'c ' .. left .. ' ' .. value .. ' ' .. KEYS[1])
  end
end
local current = redis.call('GET', KEYS[1])
local at, ttl = ARGV[1], tonumber(ARGV[2])
if current and not later(at, current) then
  if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  announce(current)
  return current
end
-- ARGV[1] is later than any live cut-off. A live record keeps the longer of its life and
-- ARGV[2]; with nothing live and nothing to keep (ARGV[2] = 0), nothing is written.
if current then
  if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('SET', KEYS[1], at, 'PX', ARGV[2])
  else
    redis.call('SET', KEYS[1], at, 'KEEPTTL')
  end
elseif ttl > 0 then
  redis.call('SET', KEYS[1], at, 'PX', ARGV[2])
end
announce(at)
return at
",
    )
});
